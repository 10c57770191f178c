"""Issue 10: a manager on a phone uploads a questionnaire workbook (a broken one first, whose
problems are listed per cell), previews it with the real respondent pages (nothing stored),
publishes it, and a resident answers it on a phone. Own server: publishing adds a
questionnaire, which the shared live server's other tests must not see.
Screenshots in test-artifacts/authoring-*.png."""

import re
import threading

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server
from xlsform_helpers import build, with_survey_cell

from app import create_app
from survey.storage.db import get_db
from survey.web.auth import create_user

from .conftest import PHONE, LiveServer, QuietHandler
from .helpers import answer, start, tap_through

pytestmark = pytest.mark.browser

PASSWORD = "authoring-password"
ANSWERS = [("respondent", ["本人"], None), ("services", ["助餐"], None), ("overall", ["非常满意"], None),
           ("knows", ["是"], None), ("age", [], "75"), ("spend", [], "300"), ("suggestion", [], "很好")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app on a database of its own, served on a free 127.0.0.1 port, with a manager."""
    folder = tmp_path_factory.mktemp("authoring")
    app = create_app({"TESTING": True, "SECRET_KEY": "authoring-browser", "DATABASE": str(folder / "a.sqlite")})
    with app.app_context():
        create_user(get_db(), "author", PASSWORD, "manager", "问卷管理员", evaluation_id=1)
    http = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=http.serve_forever, name="authoring-server", daemon=True)
    thread.start()
    yield LiveServer(app, http)
    http.shutdown()
    thread.join(timeout=10)


def shot(page, artifacts, name):
    """A full-page screenshot in test-artifacts/."""
    page.screenshot(path=str(artifacts / f"authoring-{name}.png"), full_page=True)


def test_upload_preview_publish_answer_on_a_phone(server, browser, artifacts, tmp_path):
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(build(with_survey_cell(3, "type", "geopoint")))
    good = tmp_path / "xl-test.xlsx"
    good.write_bytes(build())
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(server.url("/login"))
    page.fill("#username", "author")
    page.fill("#password", PASSWORD)
    tap_through(page, page.get_by_role("button", name="登录"))
    page.goto(server.url("/e/default/authoring/"))

    # A broken workbook: its problems per cell, nothing stored.
    page.set_input_files("#workbook", str(broken))
    tap_through(page, page.get_by_role("button", name="上传并检查"))
    problems = page.locator("#workbook-problems")
    expect(problems).to_contain_text("未保存任何内容")
    expect(problems.locator("tbody tr").filter(has_text="geopoint")).to_contain_text("survey")
    expect(problems.locator("tbody tr").filter(has_text="geopoint").locator("td").nth(1)).to_have_text("3")
    shot(page, artifacts, "1-problems")
    assert server.query("select count(*) from questionnaire_drafts") == [(0,)]

    # The good one: a draft, previewed with the real pages at phone size.
    page.set_input_files("#workbook", str(good))
    tap_through(page, page.get_by_role("button", name="上传并检查"))
    expect(page.locator("h1")).to_contain_text("测试问卷")
    shot(page, artifacts, "2-draft")
    tap_through(page, page.locator("#preview-link"))
    expect(page.locator(".preview-banner")).to_contain_text("不会保存")
    shot(page, artifacts, "3-preview-start")
    start_button = page.get_by_role("button", name="开始答题")
    tap_through(page, start_button)
    expect(page.locator("h1.question")).to_contain_text("欢迎参加")
    answer(page)  # the note
    for question_id, labels, text in ANSWERS:
        expect(page).to_have_url(re.compile(rf"/preview/q/{question_id}$"))
        if question_id == "overall":
            expect(page.locator("svg.face")).to_have_count(5)  # the faces scale
            shot(page, artifacts, "4-preview-question")
        answer(page, labels, text)
    expect(page).to_have_url(re.compile(r"/preview/summary$"))
    expect(page.locator("dl.summary")).to_contain_text("很好")
    tap_through(page, page.get_by_role("button", name="提交").first)
    expect(page.locator("h1")).to_have_text("预览，不会保存")
    shot(page, artifacts, "5-preview-done")
    assert server.query("select count(*) from responses") == [(0,)]
    assert server.query("select count(*) from drafts") == [(0,)]

    # Publish, and a resident answers it on a phone.
    page.get_by_role("link", name="回到草稿").tap()
    tap_through(page, page.locator("#publish"))
    expect(page.locator(".flash")).to_contain_text("已发布问卷 xl-test 第 1 版")
    shot(page, artifacts, "6-published")
    context.close()

    resident = browser.new_context(**PHONE)
    page = resident.new_page()
    start(page, server, "/e/default/q/xl-test")
    answer(page)  # the note
    for _question_id, labels, text in ANSWERS:
        answer(page, labels, text)
    tap_through(page, page.get_by_role("button", name="提交").first)
    expect(page.locator("h1")).to_have_text("提交成功")
    shot(page, artifacts, "7-answered")
    resident.close()
    assert server.query("select questionnaire_id, questionnaire_version from responses") == [("xl-test", 1)]
    stored = dict(server.query("select a.question_id, a.value from answers a"))
    assert stored["overall"] == "5" and stored["suggestion"] == "很好"
