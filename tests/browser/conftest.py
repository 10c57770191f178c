"""Browser fixtures: the real app served on a free 127.0.0.1 port from a background
thread (werkzeug's make_server) on a fresh temporary database, one headless Debian
Chromium per test session, and phone-sized contexts (360x740, zh-CN, touch)."""

import sqlite3
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect
from werkzeug.serving import WSGIRequestHandler, make_server

from app import create_app
from survey import questionnaires
from survey.storage import evaluations
from survey.storage.db import get_db

PHONE = {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True, "locale": "zh-CN"}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# A test-only questionnaire, loaded into the temporary database only: no shipped
# questionnaire asks a `number` question, but the template has that branch too.
NUMBER_QUESTIONNAIRE = {
    "id": "browser-number", "version": 1, "audience": "public",
    "title": {"zh": "数字题测试问卷", "en": "Number question test"},
    "intro": {"zh": "只用于浏览器测试。", "en": "For browser tests only."},
    "thanks": {"zh": "谢谢！", "en": "Thanks!"},
    "questions": [
        {"id": "household_size", "type": "number", "required": True, "min": 1, "max": 20,
         "text": {"zh": "您家里一共住几个人？", "en": "How many people live in your home?"}},
    ],
}

expect.set_options(timeout=20_000)  # generous: CI shares 2 cores with the server and Chromium


class QuietHandler(WSGIRequestHandler):
    """No access log: a failing test's output should show the test, not 200 GET lines."""

    def log_request(self, code="-", size="-"):
        pass


class LiveServer:
    """The app served over real HTTP; `url(path)` gives an absolute address."""

    def __init__(self, app, server):
        self.app = app
        self.server = server
        self.base_url = f"http://127.0.0.1:{server.port}"
        self.database = app.config["DATABASE"]

    def url(self, path):
        """The absolute URL of `path` on this server."""
        return self.base_url + path

    def query(self, sql, params=()):
        """Read the app's sqlite file directly, as another process would."""
        conn = sqlite3.connect(self.database)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def stored_answers(self, submission_id):
        """{question_id: [values]} of the response stored under a submission id."""
        rows = self.query(
            "select a.question_id, a.value from answers a join responses r on r.id = a.response_id"
            " where r.submission_id = ? order by a.rowid", (submission_id,))
        result = {}
        for question_id, value in rows:
            result.setdefault(question_id, []).append(value)
        return result

    def create_tracked_link(self, questionnaire_id="elder-satisfaction", channel="poster"):
        """A site and a tracked link made with survey.web.links, as staff would; returns the code."""
        from survey.web import links

        with self.app.app_context():
            db = get_db()
            site_id = links.create_site(db, "browser-xh", "新华社区")
            return links.create_link(db, questionnaire_id, channel, site_id=site_id, label="browser test")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """The app on a fresh database, served on a free port until the session ends."""
    folder = tmp_path_factory.mktemp("live")
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "browser-tests",
        "DATABASE": str(folder / "live.sqlite"),
    })
    with app.app_context():
        questionnaires.store_definition(get_db(), NUMBER_QUESTIONNAIRE)
        # A generic link answers only for an evaluation that uses the questionnaire.
        evaluations.use_questionnaire(get_db(), 1, NUMBER_QUESTIONNAIRE["id"])
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    # A phone that scans the QR code must reach this very server.
    app.config["BASE_URL"] = f"http://127.0.0.1:{server.port}"
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield LiveServer(app, server)
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def phone(browser):
    """A fresh phone-sized context with JavaScript on."""
    context = browser.new_context(**PHONE)
    yield context
    context.close()


@pytest.fixture
def phone_nojs(browser):
    """A fresh phone-sized context with JavaScript off."""
    context = browser.new_context(**PHONE, java_script_enabled=False)
    yield context
    context.close()


@pytest.fixture
def page(phone):
    """A page in the JavaScript-on phone context."""
    return phone.new_page()


@pytest.fixture(scope="session")
def artifacts():
    """The folder for screenshots (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
