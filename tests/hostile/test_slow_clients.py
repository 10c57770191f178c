"""Issue 12: slow clients must not starve gunicorn. The shipped nginx snippet
(deploy/nginx-survey-proxy.conf) runs in front of a real gunicorn on loopback ports, 100
clients send headers or bodies one byte at a time, and /health is probed once a second.

SLOW_CLIENTS (default 100) and SLOW_SECONDS (default 12) change the load;
benchmarks/bench_slow_clients.py runs this with the direct (no nginx) figure too.
"""

import http.client
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from tests.hostile.conftest import ROOT, Client, free_port, prepare_database

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CLIENTS = int(os.environ.get("SLOW_CLIENTS", 100))
SECONDS = float(os.environ.get("SLOW_SECONDS", 12))

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not os.access(NGINX, os.X_OK), reason="nginx is not installed (make system-deps installs Debian's nginx)")]


def nginx_conf(tmp_path, listen_port, upstream_port):
    """A minimal nginx.conf around the shipped snippet, in tmp_path, on loopback ports."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/nginx-error.log warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"  access_log off;\n  client_body_temp_path {tmp_path}/body;\n  proxy_temp_path {tmp_path}/proxy;\n"
        f"  fastcgi_temp_path {tmp_path}/fcgi;\n  uwsgi_temp_path {tmp_path}/uwsgi;\n"
        f"  scgi_temp_path {tmp_path}/scgi;\n"
        f"  upstream survey_app {{ server 127.0.0.1:{upstream_port}; keepalive 16; }}\n"
        f"  server {{\n    listen 127.0.0.1:{listen_port};\n"
        f"    include {ROOT}/deploy/nginx-survey-proxy.conf;\n  }}\n}}\n")
    return conf


def start_nginx(conf, port):
    """Run nginx in the foreground (its own process) and wait until it listens."""
    process = subprocess.Popen([NGINX, "-c", str(conf), "-g", "daemon off;"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited: {process.stderr.read().decode()[:500]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("nginx did not listen in time")


def slow_load(port, clients, seconds, probe_port=None):
    """`clients` connections trickling headers (half) or a body (half), one byte per
    connection every 0.5 s, while /health is probed once a second (3 s timeout).
    Returns (probes answered 200, probes made, slowest answered probe in seconds)."""
    stop = threading.Event()
    sockets = []
    for i in range(clients):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=2)
        except OSError:
            continue
        if i % 2:
            sock.sendall(b"POST /api/submissions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
        else:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sock.setblocking(False)
        sockets.append(sock)

    def trickle():
        """One byte per connection every half second until stopped."""
        while not stop.wait(0.5):
            for sock in sockets:
                try:
                    sock.send(b"X")
                except OSError:
                    pass

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    answered, made, slowest = 0, 0, 0.0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            made += 1
            started = time.monotonic()
            try:
                status, _h, _b = Client(probe_port or port).request("GET", "/health", timeout=3)
                if status == 200:
                    answered += 1
                    slowest = max(slowest, time.monotonic() - started)
            except OSError:
                pass
            time.sleep(max(0, 1 - (time.monotonic() - started)))
    finally:
        stop.set()
        thread.join(timeout=5)
        for sock in sockets:
            sock.close()
    return answered, made, slowest


def test_health_answers_behind_nginx_while_100_clients_are_slow(tmp_path, gunicorn):
    prepare_database(tmp_path / "slow.sqlite")
    server = gunicorn(tmp_path / "slow.sqlite", workers=2, threads=4).start()
    port = free_port()
    nginx = start_nginx(nginx_conf(tmp_path, port, server.port), port)
    try:
        answered, made, slowest = slow_load(port, CLIENTS, SECONDS)
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
    print(f"\nslow clients behind nginx: {CLIENTS} clients, /health {answered}/{made} answered,"
          f" slowest {slowest * 1000:.0f} ms")
    assert answered == made, f"only {answered} of {made} /health probes answered"
    assert slowest < 1.0


def test_nginx_refuses_a_body_over_the_limit_before_gunicorn(tmp_path, gunicorn):
    prepare_database(tmp_path / "big.sqlite")
    server = gunicorn(tmp_path / "big.sqlite").start()
    port = free_port()
    nginx = start_nginx(nginx_conf(tmp_path, port, server.port), port)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("POST", "/api/submissions", body=b"x" * (3 * 1024 * 1024),
                         headers={"Content-Type": "application/json"})
            status = conn.getresponse().status
        except (BrokenPipeError, ConnectionResetError):
            status = 413  # nginx may answer 413 and close while the body is still being sent
        finally:
            conn.close()
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
    assert status == 413
