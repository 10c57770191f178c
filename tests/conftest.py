"""Shared fixtures: a fresh app and database per test, a client, a CLI runner."""

import re

import pytest

from app import create_app

CHROMIUM = "/usr/bin/chromium"  # Debian's chromium; Playwright cannot download browsers here
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(tmp_path):
    """An app on a fresh database in a temporary folder, with CSRF checks on."""
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test",
        "DATABASE": str(tmp_path / "test.sqlite"),
        "BASE_URL": "https://survey.example.cn",
    })
    yield app


@pytest.fixture
def client(app):
    """A test client for the app."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A CLI runner for the app's commands."""
    return app.test_cli_runner()


@pytest.fixture
def db(app):
    """A connection of its own to the app's database.

    Not the request's connection inside a pushed app context: requests made by the
    test client would then share that context's `g`, and with it Flask-WTF's cached
    CSRF token, across logins.
    """
    from survey.storage.db import connect

    connection = connect(app.config["DATABASE"])
    yield connection
    connection.conn.close()


def csrf_token(html):
    """The CSRF token in a page's form."""
    match = CSRF_FIELD.search(html if isinstance(html, str) else html.decode())
    assert match, "the page has no CSRF token"
    return match.group(1)


class Respondent:
    """Walks the respondent pages as a person would: start, answer, submit."""

    def __init__(self, client, start_path):
        """Open the start page at `start_path` (/q/<id> or /s/<code>)."""
        self.client = client
        page = client.get(start_path)
        assert page.status_code == 200
        action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
        data = {"csrf_token": csrf_token(page.text)}
        link = re.search(r'name="link" value="([^"]+)"', page.text)
        if link:
            data["link"] = link.group(1)
        started = client.post(action, data=data)
        assert started.status_code == 302
        self.location = started.location
        self.submission_id = self.location.split("/")[2]

    def page(self):
        """The current page."""
        return self.client.get(self.location)

    def answer(self, value, action="next"):
        """Answer the current question (a str, a list for multi, or None) and follow on."""
        page = self.page()
        data = {"csrf_token": csrf_token(page.text), "action": action}
        if value is not None:
            data["answer"] = value
        response = self.client.post(self.location, data=data)
        if response.status_code == 302:
            self.location = response.location
        return response

    def current_question(self):
        """The id of the question at the current location (None on the summary)."""
        last = self.location.rstrip("/").split("/")[-1]
        return None if last == "summary" else last

    def answer_all(self, answers):
        """Answer every question shown with `answers` (skip those not given)."""
        while self.current_question():
            qid = self.current_question()
            value = answers.get(qid)
            response = self.answer(value, action="next" if value is not None else "skip")
            assert response.status_code == 302, f"{qid}: {response.status_code}"

    def submit(self):
        """Send the form from the summary page."""
        page = self.client.get(f"/r/{self.submission_id}/summary")
        return self.client.post(f"/r/{self.submission_id}/submit", data={"csrf_token": csrf_token(page.text)})


@pytest.fixture
def respondent(client):
    """A factory: `respondent('/q/elder-satisfaction')` starts a new form."""
    return lambda path: Respondent(client, path)


ELDER_ANSWERS = {
    "respondent": "self", "services": ["emergency_call", "hotline"], "overall": "5",
    "item_attitude": "4", "item_timeliness": "5", "item_professionalism": "4",
    "item_device_ease": "5", "item_fault_response": "2", "item_repair": "3",
    "hotline_unanswered": "1", "age_band": "80-89", "living_alone": "1",
    "suggestion": "设备坏了报修好几天才来人",
}


PASSWORD = "correct-horse-battery"


@pytest.fixture
def users(app):
    """One user per role: admin, staff, evaluator (password PASSWORD), and one evaluator
    granted personal data (`evaluator_pd`)."""
    from survey.storage.db import get_db
    from survey.web.auth import create_user

    with app.app_context():
        db = get_db()
        return {
            "admin": create_user(db, "admin", PASSWORD, "admin", "管理员"),
            "staff": create_user(db, "staff", PASSWORD, "staff", "王调查员"),
            "evaluator": create_user(db, "evaluator", PASSWORD, "evaluator", "评价组"),
            "evaluator_pd": create_user(db, "evaluator_pd", PASSWORD, "evaluator", "评价组长",
                                        can_see_personal_data=True),
        }


@pytest.fixture
def login(client, users):
    """`login('staff')` logs the test client in as that user and returns the client."""
    def do_login(username):
        page = client.get("/login")
        response = client.post("/login", data={"csrf_token": csrf_token(page.text),
                                                "username": username, "password": PASSWORD})
        assert response.status_code == 302, f"login as {username} failed"
        return client
    return do_login


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium per test process, shared by tests/browser and tests/hostile.

    Playwright's sync API allows one running instance per thread, so a second
    sync_playwright() in the same xdist worker would fail.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
