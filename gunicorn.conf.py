"""Production serving with gunicorn: `.venv/bin/gunicorn` (run in the project folder).

gunicorn reads this file by default from the working directory, so the whole command is

    FLASK_SECRET_KEY=<long random value> FLASK_BASE_URL=https://survey.example.cn .venv/bin/gunicorn

and it serves `app:create_app()` on 127.0.0.1:8000 for a TLS-terminating reverse proxy
(nginx, Caddy) in front; set FLASK_TRUSTED_PROXIES=1 so rate limits see the real client
address from X-Forwarded-For. Health check for the proxy or a monitor: GET /health.

Choices, for a 2-core machine with one SQLite file:
- gthread workers: each worker process runs `threads` request threads. A submission is
  mostly SQLite work and an fsync (synchronous=FULL), during which the GIL is released,
  so threads overlap the waits; processes give the second core real parallelism.
- workers = cores (at least 2), threads = 4: measured with benchmarks/bench_submissions.py
  (see benchmarks/RESULTS.md). More processes only add contention for SQLite's single
  write lock. Override with GUNICORN_WORKERS / GUNICORN_THREADS.
- preload_app off: each worker opens its own SQLite connections after the fork (a
  connection must never cross a fork), and `kill -HUP` reloads code gracefully.
- timeout 30 s: a request stuck longer (a wedged lock) is killed and its worker
  replaced; the busy_timeout of SQLite connections is 30 s as well. graceful_timeout
  30 s lets in-flight submissions finish on restart; keepalive 5 s suits a proxy.
- PRODUCTION is switched on (Secure cookies, HSTS, the development SECRET_KEY refused)
  unless FLASK_PRODUCTION is already set in the environment (benchmarks over plain
  HTTP on 127.0.0.1 set it to false).
- Rate-limit counters are shared by all workers through SQLite (survey/web/security.py).
- Workers die with their master (post_fork below): after a SIGKILL of the master,
  orphaned workers kept the listening port, busy with a slow request, and the service
  could not start again. The systemd unit in docs/OPERATIONS.md also kills the whole
  control group and restarts in seconds.
- Slow clients: run nginx in front (deploy/nginx-survey.conf); it reads whole requests
  before gunicorn's threads see them.
- Database connections stay open for a thread's lifetime (survey/storage/db.py), so the WAL
  is never checkpointed and deleted by a "last connection closed" inside a request.
"""

import ctypes
import multiprocessing
import os
import signal
import sys

os.environ.setdefault("FLASK_PRODUCTION", "true")

wsgi_app = "app:create_app()"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", max(2, multiprocessing.cpu_count())))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
preload_app = False
timeout = 30
graceful_timeout = 30
keepalive = 5
backlog = 256
accesslog = os.environ.get("GUNICORN_ACCESSLOG")  # e.g. "-" for stdout; off by default
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
# Request size caps before Flask sees the body (Flask's MAX_CONTENT_LENGTH caps the body).
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190


PR_SET_PDEATHSIG = 1


def post_fork(server, worker):
    """Ask Linux to SIGKILL this worker when the master dies, so no orphan keeps the port."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        server.log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %s", ctypes.get_errno())
    elif os.getppid() != server.pid:  # the master died between fork and prctl
        os._exit(1)
