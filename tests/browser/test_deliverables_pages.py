"""Issue 13 in headless Chromium: the merged problem list and the printable report at phone
size (360x740) and printed to A4 (print media and page.pdf), with screenshots in
test-artifacts/; and the staff app's offline queue saying 18:10 for a form saved at
10:10 UTC on a phone whose clock is set to UTC."""

import re
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
from evaluate_helpers import Maker, elder
from playwright.sync_api import expect
from werkzeug.serving import make_server

from app import create_app
from browser.conftest import PHONE, LiveServer, QuietHandler
from browser.helpers import field_app_ready, sign_in
from survey import roster
from survey.storage import evaluations
from survey.storage.db import get_db
from survey.web import links, scores
from survey.web.auth import create_user

pytestmark = pytest.mark.browser

PASSWORD = "deliverables-password"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
COMMENTS = ["希望送餐能准时一点", "希望送餐能准时一点。", "希望送餐能 准时一点啊", "希望送餐能准时点",
            "设备坏了报修好几天才来人", "设备坏了，报修好几天才来人！", "热线有时候打不通", "无"]
A4_WIDTH = 703  # CSS pixels between the margins of an A4 page (186 mm at 96 dpi)


@pytest.fixture(scope="module")
def report_server(tmp_path_factory):
    """A server of its own: 30 answers (27 satisfied) over two sites with grouped comments, the
    seed-000 indicator system stored, an evaluator; period set on the evaluation."""
    app = create_app({"TESTING": True, "SECRET_KEY": "browser-tests",
                      "DATABASE": str(tmp_path_factory.mktemp("deliverables") / "d.sqlite")})
    with app.app_context():
        db = get_db()
        evaluation = evaluations.get(db, "default")
        make = Maker(db, evaluation.id)
        sites = [make.site("E1", "东湖社区"), make.site("W1", "西山社区")]
        for index in range(30):
            extra = {"suggestion": COMMENTS[index % len(COMMENTS)]} if index < 24 else {}
            make.add(elder("5" if index < 27 else "2", **extra), site_id=sites[index % 2])
        text = (EXAMPLES / "seed-000-hotline-12349.yaml").read_text(encoding="utf-8")
        scores.store_system(db, evaluation.id, "12349 热线", "seed-000-hotline-12349.yaml", text)
        create_user(db, "shot-deliverables", PASSWORD, "evaluator", "评价组")
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="deliverables-server", daemon=True)
    thread.start()
    yield LiveServer(app, server)
    server.shutdown()
    thread.join(timeout=10)


def logged_in(browser, server, viewport, username="shot-deliverables"):
    """A context of that size with the evaluator logged in, and its page."""
    context = browser.new_context(viewport=viewport, locale="zh-CN", bypass_csp=True)
    page = context.new_page()
    sign_in(page, server, username, PASSWORD)
    expect(page).not_to_have_url(re.compile(r"/login"))
    return context, page


def no_sideways_scroll(page):
    """Nothing but the scrollable tables may stick out sideways."""
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"


def test_problem_list_at_phone_size(browser, report_server, artifacts):
    """The merged list at 360x740: ×12 on the first row, three rows, no sideways scroll; a site filter."""
    context, page = logged_in(browser, report_server, PHONE["viewport"])
    try:
        page.goto(report_server.url("/e/default/evaluate/elder-satisfaction/problems"))
        first = page.locator("table.problem-groups tbody tr").first
        expect(first.locator("td.col-text")).to_contain_text("希望送餐能准时一点")
        expect(first.locator("td.col-count")).to_have_text("×12")
        expect(page.locator("table.problem-groups tbody tr")).to_have_count(3)
        page.screenshot(path=str(artifacts / "deliverables-problems-phone.png"), full_page=True)
        no_sideways_scroll(page)
        page.goto(report_server.url("/e/default/evaluate/elder-satisfaction/problems?site=W1"))
        expect(page.locator("table.problem-groups")).not_to_contain_text("东湖社区")
    finally:
        context.close()


def test_report_at_phone_size_and_on_a4(browser, report_server, artifacts):
    """The report at phone size, then in print media at A4's width: the real period, the score
    table, label columns wide enough, nothing past the margin."""
    context, page = logged_in(browser, report_server, PHONE["viewport"])
    try:
        page.goto(report_server.url("/e/default/evaluate/elder-satisfaction/report"))
        period = re.compile(r"统计期间：\d{4}-\d\d-\d\d 至 \d{4}-\d\d-\d\d")
        expect(page.locator(".report .meta.period")).to_contain_text(period)
        expect(page.locator(".report .meta.period")).not_to_contain_text("最早")
        page.screenshot(path=str(artifacts / "deliverables-report-phone.png"), full_page=True)
        no_sideways_scroll(page)
    finally:
        context.close()
    context, page = logged_in(browser, report_server, {"width": A4_WIDTH, "height": 1123})
    try:
        page.goto(report_server.url("/e/default/evaluate/elder-satisfaction/report"))
        page.emulate_media(media="print")
        page.wait_for_function("Array.from(document.querySelectorAll('.chart img'))"
                               ".every(img => img.complete && img.naturalWidth > 0)")
        expect(page.locator("table.score-table")).to_be_visible()
        page.screenshot(path=str(artifacts / "deliverables-report-print.png"), full_page=True)
        pdf = page.pdf(path=str(artifacts / "deliverables-report.pdf"), format="A4", print_background=True)
        assert pdf.startswith(b"%PDF")
        # The 指标 column once wrapped to 8 lines of 2-3 characters: now at least 12em wide.
        labels = page.locator("table.measures tbody th[scope=row]")
        widths = [labels.nth(i).bounding_box()["width"] for i in range(labels.count())]
        assert min(widths) >= 150, widths
        line = float(page.evaluate("parseFloat(getComputedStyle(document.querySelector("
                                   "'table.measures tbody th[scope=row]')).lineHeight) || 20"))
        heights = [labels.nth(i).bounding_box()["height"] for i in range(labels.count())]
        assert max(heights) <= 5 * line + 20, heights
        # Every table fits between the margins (none cut off at the right edge).
        too_wide = page.evaluate("Array.from(document.querySelectorAll('.report table'))"
                                 ".filter(t => t.getBoundingClientRect().right"
                                 " > document.documentElement.clientWidth + 1)"
                                 ".map(t => t.className + ' ' + Math.round(t.getBoundingClientRect().right))")
        assert not too_wide, too_wide
        # The score table's name columns: no column squeezed to a character or two.
        heads = page.locator("table.score-table thead th")
        assert all(heads.nth(i).bounding_box()["width"] >= 40 for i in range(heads.count()))
    finally:
        context.close()


@pytest.fixture
def staff_on_roster(live_server):
    """A staff account and one household on the shared live server."""
    with live_server.app.app_context():
        db = get_db()
        if db.execute("select 1 from sites where code = 'tz'").fetchone() is None:
            links.create_site(db, "tz", "时区社区")
        if db.execute("select 1 from users where username = 'tz-staff'").fetchone() is None:
            create_user(db, "tz-staff", PASSWORD, "staff", "时区调查员")
        roster.import_roster(db, "tz.csv", "姓名,户号,站点,地址,电话\n赵六,T001,时区社区,时区路1号,\n".encode())
        return [row["id"] for row in roster.households(db) if row["household_no"] == "T001"][0]


def test_offline_queue_shows_beijing_time_on_a_utc_phone(browser, live_server, staff_on_roster, artifacts):
    """A form saved at 10:10 UTC on a phone set to UTC says 保存于 9月2日 18:10 (the server's zone)."""
    context = browser.new_context(**{**PHONE, "timezone_id": "UTC"})
    page = context.new_page()
    try:
        page.clock.set_fixed_time(datetime(2024, 9, 2, 10, 10, tzinfo=timezone.utc))
        sign_in(page, live_server, "tz-staff", PASSWORD)
        page.goto(live_server.url("/e/default/field/?q=elder-satisfaction"))
        field_app_ready(page)
        context.set_offline(True)
        page.locator(f'a[href*="household={staff_on_roster}&"]').click()
        expect(page.locator("#field-form")).to_be_visible()
        page.locator('input[name="consent"]').check()
        page.locator('input[name="a-services"][value="meals"]').check()
        page.locator('input[name="a-overall"][value="5"]').check()
        page.locator('input[name="a-item_attitude"][value="4"]').check()
        page.get_by_role("button", name="保存").click()
        expect(page).to_have_url(live_server.url("/e/default/field/?q=elder-satisfaction"))
        field_app_ready(page)
        item = page.locator("#queue-list li").first
        expect(item).to_contain_text("保存于 9月2日 18:10")
        page.screenshot(path=str(artifacts / "deliverables-queue-beijing-time.png"), full_page=True)
        assert "10:10" not in item.inner_text()
    finally:
        context.close()
