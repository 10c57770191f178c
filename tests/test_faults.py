"""Faults: a database that cannot be written for a while, and the error pages people see."""

import sqlite3

import pytest
from flask import abort

from survey.storage import db as survey_db


def _connect_read_only(path):
    """What SQLite hands a worker that opens the database while its files are unwritable."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1, isolation_level=None,
                           check_same_thread=False)
    import sqlite_utils

    return sqlite_utils.Database(conn)


@pytest.fixture
def public_route(app, monkeypatch):
    """`public_route(rule, view, methods)`: add a test view that needs no login."""
    from survey.web import auth

    def add(rule, view, methods=("GET",)):
        app.add_url_rule(rule, view.__name__, view, methods=list(methods))
        monkeypatch.setattr(auth, "PUBLIC_ENDPOINTS", auth.PUBLIC_ENDPOINTS | {view.__name__})
    return add


@pytest.fixture
def read_only_spell(app, monkeypatch):
    """Start a spell: connections opened from now on are read-only. Call the result to end it."""
    def begin():
        monkeypatch.setattr(survey_db, "connect", _connect_read_only)
        with app.app_context():
            survey_db.discard_connections()  # the workers died and their replacements reconnect

    def end():
        monkeypatch.undo()
    return begin, end


def test_read_only_spell_answers_503_then_heals_without_restart(client, respondent, read_only_spell):
    """A submission during the spell is refused calmly (503, not stored); right after, it goes through."""
    begin, end = read_only_spell
    form = respondent("/q/public-awareness")
    form.answer_all({"knows_hotline": "1", "knows_services": "0", "satisfaction": "4"})
    begin()
    refused = form.submit()
    assert refused.status_code == 503
    assert "请稍后再试，您的回答不会丢失" in refused.text and "Internal Server Error" not in refused.text
    assert f"/r/{form.submission_id}/summary" in refused.text, "a way back to the kept draft"
    health = client.get("/health")
    assert health.status_code == 503 and "readonly" in health.json["reason"]
    end()
    accepted = form.submit()
    assert accepted.status_code == 302 and accepted.location.endswith("/done")
    assert client.get("/health").status_code == 200


def test_health_is_200_only_when_a_write_succeeds(client):
    """/health proves the database can be written (a rolled-back write), not only read."""
    assert client.get("/health").json == {"status": "ok"}


def test_health_reports_unwritable_files(client, monkeypatch):
    """Files SQLite could only open read-only: 503 with the reason, before any write is tried."""
    monkeypatch.setattr(survey_db, "files_writable", lambda path: "database file x cannot be opened")
    answer = client.get("/health")
    assert answer.status_code == 503 and answer.json["reason"] == "database file x cannot be opened"
    assert answer.headers["Retry-After"] == "15"


def test_connection_opened_while_unwritable_is_not_kept(app, monkeypatch):
    """A connection opened during a spell serves one request only; the next one reopens."""
    monkeypatch.setattr(survey_db, "files_writable", lambda path: "unwritable")
    with app.app_context():
        survey_db.discard_connections()
        first = survey_db.get_db()
    with app.app_context():
        second = survey_db.get_db()
    assert first is not second
    monkeypatch.undo()
    with app.app_context():
        survey_db.discard_connections()
        third = survey_db.get_db()
    with app.app_context():
        assert survey_db.get_db() is third, "a healthy connection is kept for the thread"


def test_locked_too_long_is_a_503_and_reopens(app, client, public_route):
    """'database is locked' after the busy timeout: 503 and a fresh connection next time."""
    def locked():
        """Raise what SQLite raises when the write lock was held past busy_timeout."""
        survey_db.get_db()
        error = sqlite3.OperationalError("database is locked")
        error.sqlite_errorname = "SQLITE_BUSY"
        raise error

    public_route("/_test/locked", locked)
    with app.app_context():
        before = survey_db.get_db()
    answer = client.get("/_test/locked")
    assert answer.status_code == 503 and "请稍后再试" in answer.text
    with app.app_context():
        assert survey_db.get_db() is not before


def test_a_bug_in_sql_is_a_calm_500(app, client, public_route):
    """A non-transient SQLite error (a bug) is a calm 500 and does not drop connections."""
    def bug():
        """Query a table that does not exist."""
        survey_db.get_db().execute("select * from no_such_table")

    public_route("/_test/bug", bug)
    with app.app_context():
        before = survey_db.get_db()

    answer = client.get("/_test/bug")
    assert answer.status_code == 500 and "系统出了点问题" in answer.text
    assert "Internal Server Error" not in answer.text
    with app.app_context():
        assert survey_db.get_db() is before


@pytest.mark.parametrize("code, words", [
    (404, "找不到这个页面"), (413, "提交的内容太大"), (429, "请稍等一分钟再试"),
    (500, "系统出了点问题"), (503, "系统正忙"),
])
def test_error_pages_are_calm_chinese_and_english_on_request(app, client, public_route, code, words):
    """Every listed status gets our page (Chinese; English with ?lang=en), never Flask's default."""
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def fail():
        """Fail with the status under test (500 as an unhandled exception)."""
        if code == 500:
            raise RuntimeError("boom")
        abort(code)

    public_route("/_test/fail", fail)
    page = client.get("/_test/fail")
    assert page.status_code == code and words in page.text
    assert "<!doctype html>" in page.text and "Internal Server Error" not in page.text
    assert "Not Found" not in page.text and "Too Many Requests" not in page.text
    english = client.get("/_test/fail?lang=en")
    assert english.status_code == code and words not in english.text
    assert 'lang="en"' in english.text


def test_api_paths_answer_json_errors(app, client, public_route):
    """API clients get JSON for 404 and a retryable 503."""
    def unavailable():
        """Stand-in for a request refused while the database is unavailable."""
        abort(503)

    public_route("/api/v1/_test", unavailable)
    answer = client.get("/api/v1/nothing-here")
    assert answer.status_code == 404 and answer.is_json and "找不到" in answer.json["error"]
    answer = client.get("/api/v1/_test")
    assert answer.status_code == 503 and answer.json["retry"] is True


def test_a_real_404_page_and_413_upload(client):
    """Real routes: an unknown questionnaire, and a body over MAX_CONTENT_LENGTH."""
    missing = client.get("/q/no-such-form")
    assert missing.status_code == 404 and "找不到这个页面" in missing.text
    big = client.post("/login", data={"x": "a" * (3 * 1024 * 1024)})
    assert big.status_code == 413 and "提交的内容太大" in big.text
