"""Screenshots of the evaluators' pages in headless Chromium: the dashboard at phone and
desktop sizes, and the report printed to PDF (test-artifacts/)."""

import re
import threading

import pytest
from evaluate_helpers import Maker, elder
from playwright.sync_api import expect
from werkzeug.serving import make_server

from app import create_app
from browser.conftest import LiveServer, QuietHandler
from browser.helpers import sign_in
from survey import demo
from survey.storage import evaluations
from survey.storage.db import get_db
from survey.web.auth import create_user

PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def evaluator_server(live_server):
    """The live server with the demo data and an evaluator account."""
    with live_server.app.app_context():
        db = get_db()
        demo.load_demo(db, evaluations.get(db, "default"))
        if db.execute("select 1 from users where username = 'shot-evaluator'").fetchone() is None:
            create_user(db, "shot-evaluator", PASSWORD, "evaluator", "评价组")
    return live_server


def logged_in_page(browser, server, viewport):
    """A new page in a context of that size, logged in as the evaluator."""
    # bypass_csp: the app forbids eval, which Playwright's wait_for_function polls with.
    context = browser.new_context(viewport=viewport, locale="zh-CN", bypass_csp=True)
    page = context.new_page()
    sign_in(page, server, "shot-evaluator", PASSWORD)
    expect(page).not_to_have_url(re.compile(r"/login"))
    return context, page


def wait_for_charts(page):
    """Wait until every chart image has loaded and has a size."""
    page.wait_for_function("Array.from(document.querySelectorAll('.chart img'))"
                           ".every(img => img.complete && img.naturalWidth > 0)")


@pytest.mark.parametrize("name,viewport", [("phone", {"width": 360, "height": 740}),
                                           ("desktop", {"width": 1280, "height": 900})])
def test_dashboard_screenshots(browser, evaluator_server, artifacts, name, viewport):
    context, page = logged_in_page(browser, evaluator_server, viewport)
    try:
        page.goto(evaluator_server.url("/e/default/evaluate/elder-satisfaction"))
        expect(page.get_by_role("heading", name="各项指标")).to_be_visible()
        expect(page.get_by_text(re.compile(r"要达到±5个百分点需要 \d+ 份"))).not_to_have_count(0)
        wait_for_charts(page)
        page.screenshot(path=str(artifacts / f"evaluate-dashboard-{name}.png"), full_page=True)
        # Nothing may stick out sideways on a phone but the scrollable tables.
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the page is {overflow}px wider than the screen"
    finally:
        context.close()


def test_report_prints_to_pdf(browser, evaluator_server, artifacts):
    context, page = logged_in_page(browser, evaluator_server, {"width": 1280, "height": 900})
    try:
        page.goto(evaluator_server.url("/e/default/evaluate/elder-satisfaction/report"))
        wait_for_charts(page)
        page.emulate_media(media="print")
        expect(page.locator(".topbar")).to_be_hidden()
        expect(page.locator(".subnav")).to_have_count(0)
        page.screenshot(path=str(artifacts / "evaluate-report-print.png"), full_page=True)
        pdf = page.pdf(path=str(artifacts / "evaluate-report.pdf"), format="A4", print_background=True)
        assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
    finally:
        context.close()


@pytest.mark.parametrize("path,name", [("/e/default/evaluate/elder-satisfaction/problems", "problems"),
                                       ("/e/default/evaluate/elder-satisfaction/quality", "quality")])
def test_paged_lists_fit_a_phone(browser, evaluator_server, artifacts, path, name):
    """The paged problem and review lists (pager, rule/status filters) at 360 px wide."""
    with evaluator_server.app.app_context():
        db = get_db()
        # Some flagged responses so the review list has rows, filters and a pager to show.
        db.execute("update responses set flags = '[\"speeder\"]', excluded = 1"
                   " where id in (select id from responses where questionnaire_id = 'elder-satisfaction'"
                   " order by id limit 60)")
        db.conn.commit()
    context, page = logged_in_page(browser, evaluator_server, {"width": 360, "height": 740})
    try:
        page.goto(evaluator_server.url(path))
        expect(page.locator("nav.pager").first).to_be_visible()
        page.screenshot(path=str(artifacts / f"evaluate-{name}-phone.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the page is {overflow}px wider than the screen"
        if page.locator("nav.pager a[rel=next]").count():
            page.locator("nav.pager a[rel=next]").first.click()
            expect(page).to_have_url(re.compile(r"page=2"))
        else:
            assert name == "problems", "60 flagged responses must make a second page"
    finally:
        context.close()


@pytest.fixture(scope="module")
def viewer_server(tmp_path_factory):
    """A server of its own (the shared live server keeps exactly one evaluation) with an
    evaluation `view-demo` of 30 answers and a viewer of it."""
    app = create_app({"TESTING": True, "SECRET_KEY": "browser-tests",
                      "DATABASE": str(tmp_path_factory.mktemp("viewer") / "viewer.sqlite")})
    with app.app_context():
        db = get_db()
        evaluation = evaluations.create(db, "view-demo", "查看示例")
        make = Maker(db, evaluation.id)
        site = make.site("V1", "查看社区")
        for index in range(30):
            make.add(elder("5" if index < 27 else "2", suggestion="只给评价组看的意见"), site_id=site)
        create_user(db, "shot-viewer", PASSWORD, "viewer", "查看者", evaluation_id=evaluation.id)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="viewer-server", daemon=True)
    thread.start()
    yield LiveServer(app, server)
    server.shutdown()
    thread.join(timeout=10)


def test_viewer_pages_at_phone_size_show_rates_but_no_rows_or_text(browser, viewer_server, artifacts):
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN", bypass_csp=True)
    page = context.new_page()
    try:
        sign_in(page, viewer_server, "shot-viewer", PASSWORD)
        expect(page).not_to_have_url(re.compile(r"/login"))
        page.goto(viewer_server.url("/e/view-demo/evaluate/elder-satisfaction"))
        wait_for_charts(page)
        expect(page.locator("body")).to_contain_text("90.0")
        assert "只给评价组看的意见" not in page.content()
        assert page.locator("a[href*='/problems'], a[href*='/quality'], a[href*='responses.csv']").count() == 0
        page.screenshot(path=str(artifacts / "evaluate-dashboard-viewer-phone.png"), full_page=True)
        page.goto(viewer_server.url("/e/view-demo/scores/"))
        assert page.locator("form[action*='/upload']").count() == 0
        page.screenshot(path=str(artifacts / "scores-index-viewer-phone.png"), full_page=True)
    finally:
        context.close()
