"""Page helpers shared by the browser tests: tap answers, move between questions."""

import json
import re

from playwright.sync_api import expect

QUESTION_URL = re.compile(r"/r/([^/]+)/([^/?#]+)")


def submission_and_question(page):
    """(submission id, question id or 'summary'/'done') from the page's URL."""
    match = QUESTION_URL.search(page.url)
    assert match, f"not a respondent page: {page.url}"
    return match.group(1), match.group(2)


def choice(page, text):
    """The answer label whose words are exactly `text` (满意 is not 非常满意)."""
    return page.locator("label.choice").filter(has_text=re.compile(rf"^\s*{re.escape(text)}\s*$"))


def tap_through(page, locator):
    """Tap a button or link that loads a new page; return once that page has loaded
    (event-driven: no polling delay after each of the many taps)."""
    with page.expect_navigation():
        locator.tap()


def start(page, server, path):
    """Open a start page and tap 开始答题; returns at the first question."""
    page.goto(server.url(path))
    tap_through(page, page.get_by_role("button", name="开始答题"))
    expect(page.locator("h1.question")).to_be_visible()


def answer(page, labels=(), text=None, action="next"):
    """Tap the labels (or type `text`), then tap 下一题 (or 看看我的回答 at the end) or 跳过这题."""
    for label in labels:
        choice(page, label).tap()
        expect(choice(page, label).locator("input")).to_be_checked()
    if text is not None:
        page.locator("#answer-1").tap()
        page.locator("#answer-1").fill(text)
    if action == "skip":
        tap_through(page, page.get_by_role("button", name="跳过这题"))
    else:
        tap_through(page, page.get_by_role("button", name=re.compile("^(下一题|看看我的回答)$")))


def goto_question(page, question_id):
    """Wait until the page shows question `question_id`."""
    expect(page).to_have_url(re.compile(rf"/r/[^/]+/{re.escape(question_id)}$"))


def open_question_page(page, server, questionnaire_id, answers_before):
    """Start `questionnaire_id` and answer `answers_before` [(qid, labels)] by taps."""
    start(page, server, f"/q/{questionnaire_id}")
    for question_id, labels in answers_before:
        goto_question(page, question_id)
        answer(page, labels)


def dump(value):
    """Readable JSON for assertion messages."""
    return json.dumps(value, ensure_ascii=False, indent=1)


# Every respondent page state the checks visit: name -> (description, how to reach it).
STATES = ["start", "single", "multi", "scale5", "scale5_checked", "yesno", "text", "number",
          "error_required", "error_invalid", "summary_missing", "summary", "done"]


def reach(page, server, state):
    """Bring `page` to a respondent page state by the respondent's own route (taps and
    plain links), fully loaded with its CSS and JS, and return the submission id (None
    on the start page)."""
    submission_id = _reach(page, server, state)
    # A tap waits for the new page to commit, not for its stylesheet: measure only after `load`.
    page.wait_for_load_state("load")
    return submission_id


def _reach(page, server, state):
    if state == "start":
        page.goto(server.url("/q/elder-satisfaction"))
        expect(page.get_by_role("button", name="开始答题")).to_be_visible()
        return None
    if state in ("single", "multi", "scale5", "scale5_checked", "text", "error_required"):
        start(page, server, "/q/elder-satisfaction")
        sid, _ = submission_and_question(page)
        question_id = {"multi": "services", "scale5": "overall", "scale5_checked": "overall",
                       "text": "suggestion"}.get(state, "respondent")
        if question_id != "respondent":
            page.goto(server.url(f"/r/{sid}/{question_id}"))
        if state == "scale5_checked":
            choice(page, "满意").tap()
            expect(choice(page, "满意").locator("input")).to_be_checked()
        if state == "error_required":
            tap_through(page, page.get_by_role("button", name="下一题"))
            expect(page.get_by_role("alert")).to_contain_text("请先回答这道题")
        expect(page.locator("h1.question")).to_be_visible()
        return sid
    if state in ("number", "error_invalid"):
        start(page, server, "/q/browser-number")
        if state == "error_invalid":
            page.locator("#answer-1").fill("三个")
            tap_through(page, page.get_by_role("button", name="看看我的回答"))
            expect(page.get_by_role("alert")).to_contain_text("这个回答有问题")
        return submission_and_question(page)[0]
    start(page, server, "/q/public-awareness")
    sid, _ = submission_and_question(page)
    if state == "yesno":
        return sid
    if state == "summary_missing":
        answer(page, ["知道"])
        goto_question(page, "knows_services")
        page.goto(server.url(f"/r/{sid}/summary"))
        expect(page.get_by_role("alert")).to_contain_text("还有题目没有回答")
        return sid
    for question_id, labels, action in [("knows_hotline", ["不知道"], "next"), ("knows_services", ["知道"], "next"),
                                        ("wants_info_no_channel", [], "skip"), ("satisfaction", ["非常满意"], "next"),
                                        ("suggestion", [], "skip")]:
        goto_question(page, question_id)
        answer(page, labels, action=action)
    expect(page).to_have_url(server.url(f"/r/{sid}/summary"))
    if state == "done":
        tap_through(page, page.get_by_role("button", name="提交").first)
        expect(page.get_by_role("heading", name="提交成功")).to_be_visible()
    return sid


def field_app_ready(page):
    """Wait until the staff form's script has run and its offline queue is open.

    A navigation counts as done when the URL changes, before the page's scripts have run:
    reading window.fieldApp at that moment failed now and then under load."""
    page.wait_for_function("() => window.fieldApp !== undefined")
    page.evaluate("window.fieldApp.ready")


def sign_in(page, server, username, password):
    """Sign in on the login page of `server` (a LiveServer) as a phone user would."""
    page.goto(server.url("/login"))
    page.fill("#username", username)
    page.fill("#password", password)
    page.get_by_role("button", name="登录").click()
