"""Hostile tests: a real gunicorn on a temporary database, and a small HTTP client.

Everything talks to 127.0.0.1 only; every wait is bounded in count and time.
"""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest

ROOT = Path(__file__).resolve().parents[2]
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
SECRET = "hostile-tests-secret"
# Required answers of the shortest questionnaire: 3 questions, then submit.
AWARENESS = "public-awareness"
AWARENESS_ANSWERS = {"knows_hotline": "1", "knows_services": "0", "satisfaction": "4"}


def pytest_configure(config):
    """Register the markers of this folder (they still run in `make test`)."""
    config.addinivalue_line("markers", "slow: takes more than a few seconds (still runs in CI)")
    config.addinivalue_line("markers", "hostile: load, fault and abuse tests")


def pytest_collection_modifyitems(items):
    """Every test here is a hostile test."""
    for item in items:
        if "tests/hostile" in str(item.fspath):
            item.add_marker(pytest.mark.hostile)


def free_port():
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_database(path, staff=False):
    """Create the schema and questionnaires in `path`; with staff=True also a staff user.

    Returns a submit token for the staff user (or None).
    """
    from app import create_app
    from survey.storage.db import get_db

    app = create_app({"TESTING": True, "SECRET_KEY": SECRET, "DATABASE": str(path)})
    token = None
    with app.app_context():
        db = get_db()
        if staff:
            from survey.web.auth import create_user

            user_id = create_user(db, "loadstaff", "correct-horse-battery", "staff", "压测员")
            token = api_token(db, user_id)
    return app, token


def api_token(db, user_id):
    """A submit token for /api/submissions (None when that API is not in this build)."""
    try:
        from survey.web import api_submissions
    except ImportError:
        return None
    return api_submissions.issue_token(db, user_id)


class Server:
    """gunicorn (gunicorn.conf.py: gthread) serving the app on a temp database, in its own
    process group so SIGKILL takes master and workers down together, like a crash."""

    def __init__(self, database, workers=2, threads=4, env=None, log=None, prefix=()):
        """Remember how to start; nothing runs yet. `prefix` goes before the command (setpriv ...)."""
        self.database = str(database)
        self.port = free_port()
        self.workers, self.threads = workers, threads
        self.extra_env = env or {}
        self.log = log
        self.prefix = list(prefix)
        self.process = None

    def start(self, timeout=20):
        """Start gunicorn and wait (bounded) until /health answers."""
        env = dict(os.environ)
        env.update({
            "FLASK_DATABASE": self.database, "FLASK_SECRET_KEY": SECRET, "FLASK_PRODUCTION": "false",
            "FLASK_RATELIMIT_ENABLED": "false", "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "GUNICORN_WORKERS": str(self.workers), "GUNICORN_THREADS": str(self.threads),
            "GUNICORN_LOGLEVEL": "warning",
        })
        env.update(self.extra_env)
        output = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [*self.prefix, sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")],
            cwd=ROOT, env=env, stdout=output, stderr=output, start_new_session=True)
        if self.log:
            output.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            try:
                status, _headers, _body = Client(self.port).request("GET", "/health", timeout=2)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("gunicorn did not become healthy in time")

    def kill(self):
        """SIGKILL master and workers (the whole process group) and reap the master."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)
        self.process = None

    def stop(self):
        """Graceful stop (SIGTERM), falling back to SIGKILL after 15 s."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
        except ProcessLookupError:
            pass
        self.process = None


class Client:
    """A tiny cookie-keeping HTTP client (no redirects followed), one connection per request."""

    def __init__(self, port):
        """A client for 127.0.0.1:port with an empty cookie jar."""
        self.port = port
        self.cookies = {}

    def request(self, method, path, form=None, json_body=None, headers=None, timeout=10):
        """Send one request; return (status, headers dict with lower-case names, body text)."""
        headers = dict(headers or {})
        body = None
        if form is not None:
            body = urlencode(form, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            for value in response.headers.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(value).items():
                    self.cookies[name] = morsel.value
            return response.status, {k.lower(): v for k, v in response.getheaders()}, text
        finally:
            conn.close()


class FormFlow:
    """The respondent pages driven over HTTP: open, answer the required questions, submit."""

    def __init__(self, client, questionnaire=AWARENESS, answers=None):
        """Use `client` (its cookies hold the session with the CSRF token)."""
        self.client = client
        self.questionnaire = questionnaire
        self.answers = answers or AWARENESS_ANSWERS
        self.token = None

    def csrf(self):
        """The CSRF token of this session (fetched once from the start page)."""
        if self.token is None:
            status, _h, body = self.client.request("GET", f"/q/{self.questionnaire}")
            assert status == 200, status
            self.token = CSRF_FIELD.search(body).group(1)
        return self.token

    def open(self):
        """Start a form; return its submission id."""
        status, headers, _body = self.client.request(
            "POST", f"/q/{self.questionnaire}/start", form={"csrf_token": self.csrf()})
        assert status == 302, status
        return headers["location"].split("/r/", 1)[1].split("/")[0]

    def fill(self, submission_id):
        """Answer the required questions of the draft."""
        for question_id, value in self.answers.items():
            status, _h, _b = self.client.request(
                "POST", f"/r/{submission_id}/{question_id}",
                form={"csrf_token": self.csrf(), "answer": value, "action": "next"})
            assert status == 302, (question_id, status)

    def submit(self, submission_id):
        """Send the form; True when acknowledged (redirect to the thank-you page)."""
        status, headers, _b = self.client.request(
            "POST", f"/r/{submission_id}/submit", form={"csrf_token": self.csrf()})
        return status == 302 and headers.get("location", "").endswith(f"/r/{submission_id}/done")


@pytest.fixture
def gunicorn(tmp_path):
    """A factory for gunicorn servers on the test's temp folder; all stopped at teardown."""
    servers = []

    def make(database, **kwargs):
        server = Server(database, log=tmp_path / "gunicorn.log", **kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.kill()
