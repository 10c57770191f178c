"""Production serving: security headers, cookie flags, shared rate limits, backup and restore."""

import shutil
import sqlite3
import threading

import pytest
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from app import create_app
from survey.storage import backup
from survey.web import security
from tests.conftest import ELDER_ANSWERS, csrf_token
from tests.hostile.conftest import Client, FormFlow, prepare_database


def _app(tmp_path, **config):
    """An app on a fresh database with extra config."""
    return create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE": str(tmp_path / "s.sqlite"), **config})


@pytest.mark.parametrize("path", ["/q/elder-satisfaction", "/login", "/health", "/static/css/respond.css",
                                  "/no-such-page"])
def test_security_headers_on_every_response(client, path):
    """CSP without inline script or style, frame denial, referrer policy, nosniff, permissions."""
    response = client.get(path)
    assert response.headers["Content-Security-Policy"] == security.CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "camera=()" in response.headers["Permissions-Policy"]


def test_templates_have_no_inline_script_or_style():
    """The CSP forbids inline code: no <script> body, <style> or style= attribute in any template."""
    import re
    from pathlib import Path

    offenders = []
    for template in Path("templates").rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        if re.search(r"<style|\sstyle=|\son[a-z]+=|<script(?![^>]*\ssrc=)", text):
            offenders.append(str(template))
    assert not offenders


def test_cookies_secure_behind_https_and_always_httponly_lax(tmp_path):
    """BASE_URL https => Secure session cookie; HttpOnly and SameSite=Lax always."""
    https = _app(tmp_path, BASE_URL="https://survey.example.cn").test_client().get("/login")
    cookie = https.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    plain = _app(tmp_path).test_client().get("/login").headers["Set-Cookie"]
    assert "Secure" not in plain and "HttpOnly" in plain and "SameSite=Lax" in plain


def test_production_refuses_the_development_secret_key(tmp_path):
    """PRODUCTION with the dev key must not start; with a real key cookies are Secure."""
    with pytest.raises(security.InsecureConfigError):
        create_app({"PRODUCTION": True, "SECRET_KEY": security.DEV_SECRET_KEY,
                    "DATABASE": str(tmp_path / "p.sqlite")})
    app = create_app({"PRODUCTION": True, "SECRET_KEY": "a-real-secret", "BASE_URL": "https://survey.example.cn",
                      "DATABASE": str(tmp_path / "p.sqlite")})
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]


def test_login_is_rate_limited_and_limits_are_configurable(tmp_path):
    """Over RATELIMIT_LOGIN: 429 in Chinese, with the headers still on."""
    app = _app(tmp_path, RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="3/minute")
    client = app.test_client()
    token = csrf_token(client.get("/login").text)
    statuses = [client.post("/login", data={"csrf_token": token, "username": "x", "password": "y"}).status_code
                for _ in range(5)]
    assert statuses[:3] != [429] * 3 and statuses[3:] == [429, 429]
    last = client.post("/login", data={"csrf_token": token, "username": "x", "password": "y"})
    assert "请稍等" in last.text and last.headers["X-Frame-Options"] == "DENY"
    assert client.get("/login").status_code == 200, "only POST is limited"


def test_public_submission_endpoints_are_rate_limited(tmp_path):
    """Opening forms is capped per client; other clients are unaffected."""
    app = _app(tmp_path, RATELIMIT_ENABLED=True, RATELIMIT_START="2/minute")
    client = app.test_client()
    token = csrf_token(client.get("/q/elder-satisfaction").text)
    statuses = [client.post("/q/elder-satisfaction/start", data={"csrf_token": token}).status_code
                for _ in range(3)]
    assert statuses == [302, 302, 429]
    other = app.test_client()
    token = csrf_token(other.get("/q/elder-satisfaction").text)
    assert other.post("/q/elder-satisfaction/start", data={"csrf_token": token},
                      environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 302


def test_every_limited_endpoint_is_wrapped(tmp_path):
    """respond.start/question/submit, auth.login and (when present) the JSON API carry a limit."""
    app = _app(tmp_path)
    wrapped = app.extensions["survey_limited"]
    assert {"respond.start", "respond.question", "respond.submit", "auth.login"} <= wrapped
    if any(rule.rule == "/api/submissions" for rule in app.url_map.iter_rules()):
        assert any(app.url_map._rules_by_endpoint.get(e) and
                   app.url_map._rules_by_endpoint[e][0].rule == "/api/submissions" for e in wrapped)


def test_sqlite_storage_counts_are_shared_between_storages_and_threads(tmp_path):
    """Two storages on one file (as two gunicorn workers would have) see one counter."""
    uri = f"sqlite:///{tmp_path / 'limits.sqlite'}"
    first, second = storage_from_string(uri), storage_from_string(uri)
    item = parse("50/minute")
    limiters = [FixedWindowRateLimiter(first), FixedWindowRateLimiter(second)]
    allowed = []

    def hammer(limiter):
        for _ in range(40):
            allowed.append(limiter.hit(item, "client-1"))

    threads = [threading.Thread(target=hammer, args=(limiters[i % 2],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert allowed.count(True) == 50 and allowed.count(False) == 110
    assert second.get(item.key_for("client-1")) == 160
    first.clear(item.key_for("client-1"))
    assert second.get(item.key_for("client-1")) == 0 and second.check()


@pytest.mark.slow
def test_limits_hold_across_gunicorn_workers(tmp_path, gunicorn):
    """Through two worker processes, a 5/minute limit lets exactly 5 form starts through."""
    database = tmp_path / "limits.sqlite"
    prepare_database(database)
    server = gunicorn(database, env={"FLASK_RATELIMIT_ENABLED": "true", "FLASK_RATELIMIT_START": "5/minute"})
    server.start()
    flow = FormFlow(Client(server.port))
    token = flow.csrf()
    statuses = [flow.client.request("POST", "/q/public-awareness/start", form={"csrf_token": token})[0]
                for _ in range(12)]
    server.stop()
    assert statuses.count(302) == 5 and statuses.count(429) == 7


def test_backup_copies_verifies_and_restores(app, respondent, tmp_path, runner):
    """`flask backup FILE` makes a verified copy that can replace the live database."""
    form = respondent("/q/elder-satisfaction")
    form.answer_all(ELDER_ANSWERS)
    assert form.submit().status_code == 302
    target = tmp_path / "backup.sqlite"
    result = runner.invoke(args=["backup", str(target)])
    assert result.exit_code == 0, result.output
    assert "integrity ok" in result.output and "responses 1" in result.output
    assert not list(tmp_path.glob("backup.sqlite*partial*")) and not (tmp_path / "backup.sqlite-wal").exists()
    again = runner.invoke(args=["backup", str(target)])
    assert again.exit_code != 0 and "exists" in again.output
    same = runner.invoke(args=["backup", app.config["DATABASE"]])
    assert same.exit_code != 0 and "live database" in same.output
    # Restore into a new place and read the response back.
    restored = tmp_path / "restored.sqlite"
    shutil.copy(target, restored)
    assert backup.check(restored)["responses"] == 1
    conn = sqlite3.connect(restored)
    assert conn.execute("select count(*) from answers").fetchone()[0] > 0
    conn.close()


def test_backup_check_refuses_a_damaged_file(tmp_path, runner):
    """A truncated or foreign file is reported, not blessed."""
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    result = runner.invoke(args=["backup", "--check", str(junk)])
    assert result.exit_code != 0
    missing = runner.invoke(args=["backup", "--check", str(tmp_path / "none.sqlite")])
    assert missing.exit_code != 0 and "no such file" in missing.output


def test_backup_while_writing(app, tmp_path):
    """The online backup runs while another connection keeps committing."""
    from survey.storage.db import connect

    writer = connect(app.config["DATABASE"])
    writer.execute("create table churn (n integer)")
    stop = threading.Event()

    def churn():
        n = 0
        while not stop.is_set() and n < 5000:
            writer.execute("insert into churn values (?)", [n])
            n += 1

    thread = threading.Thread(target=churn)
    thread.start()
    try:
        results = [backup.backup(app.config["DATABASE"], tmp_path / f"b{i}.sqlite") for i in range(3)]
    finally:
        stop.set()
        thread.join(timeout=30)
    assert all(result["integrity"] == "ok" for result in results)
