"""Issue 14, what admins print and see: the A4 poster and the household cards carry the
organiser, a contact phone and the closing date and print inside the page margins; the back
office warns while BASE_URL is unset; the assignment page. Screenshots in test-artifacts/."""

import re

import pytest
from playwright.sync_api import expect

from survey import roster
from survey.storage.db import get_db
from survey.web import links
from survey.web.auth import create_user

from .helpers import sign_in

pytestmark = pytest.mark.browser

PASSWORD = "admin-print-password"


def _logged_in(context, live_server):
    """A new page in `context`, logged in as print-admin."""
    page = context.new_page()
    sign_in(page, live_server, "print-admin", PASSWORD)
    page.wait_for_url(re.compile(r"^(?!.*login)"))
    return page


@pytest.fixture
def admin_page(live_server, browser):
    """A desktop-sized page logged in as an admin, with a site, a poster link and two households."""
    with live_server.app.app_context():
        db = get_db()
        site_id = links.create_site(db, "bp", "白鹏社区")
        if db.execute("select 1 from users where username = 'print-admin'").fetchone() is None:
            create_user(db, "print-admin", PASSWORD, "admin", "打印管理员")
        roster.import_roster(db, "r.csv", "姓名,户号,站点\n周一,P001,白鹏社区\n吴二,P002,白鹏社区\n".encode())
        code = links.create_link(db, "elder-satisfaction", "poster", site_id=site_id)
        links.set_contact(db, [code], "某区民政局", "010-12345678", "2026-12-31")
    context = browser.new_context(viewport={"width": 794, "height": 1123}, locale="zh-CN")
    page = _logged_in(context, live_server)
    yield page, code, site_id
    context.close()


def pdf_pages(pdf):
    """The number of pages of a PDF."""
    return len(re.findall(rb"/Type\s*/Page\b", pdf))


def test_poster_carries_organiser_phone_and_closing_date(live_server, admin_page, artifacts):
    page, code, _site_id = admin_page
    page.goto(live_server.url(f"/s/{code}/poster"), wait_until="load")
    expect(page.locator(".organiser")).to_have_text("某区民政局")
    expect(page.locator(".contact-phone")).to_have_text("010-12345678")
    expect(page.locator(".closes-on")).to_have_text("2026-12-31")
    expect(page.locator(".note")).to_contain_text("大约3分钟")
    page.screenshot(path=str(artifacts / "poster-a4-with-contact.png"), full_page=True)
    page.emulate_media(media="print")
    pdf = page.pdf(format="A4", print_background=True)
    (artifacts / "poster-a4-with-contact.pdf").write_bytes(pdf)
    assert pdf_pages(pdf) == 1


def test_cards_carry_contact_and_print_inside_the_margins(live_server, admin_page, artifacts):
    page, _code, site_id = admin_page
    page.goto(live_server.url(f"/e/default/manage/rosters/cards?q=elder-satisfaction&site={site_id}"))
    page.fill("#organiser", "某区民政局")
    page.fill("#contact_phone", "13812345678")
    page.fill("#closes_on", "2026-12-31")
    page.get_by_role("button", name="保存到这批卡片").click()
    expect(page.locator(".flash")).to_contain_text("已保存卡片上的")
    cards = page.locator(".card-contact")
    expect(cards).to_have_count(2)
    expect(cards.first).to_contain_text("某区民政局")
    expect(cards.first).to_contain_text("13812345678")
    expect(cards.first).to_contain_text("2026-12-31")
    page.emulate_media(media="print")
    page.screenshot(path=str(artifacts / "cards-print.png"), full_page=True)
    # Printed with the page's own @page margins: no card touches the paper edge.
    margin = page.evaluate("""() => { for (const sheet of document.styleSheets) {
        for (const rule of sheet.cssRules) { if (rule.type === CSSRule.PAGE_RULE) return rule.style.margin; } }
        return null; }""")
    assert margin == "12mm", margin
    pdf = page.pdf(format="A4", prefer_css_page_size=True, print_background=True)
    (artifacts / "cards-print.pdf").write_bytes(pdf)
    assert pdf_pages(pdf) >= 1


def test_back_office_warns_while_base_url_is_unset(live_server, admin_page, artifacts):
    page, _code, _site_id = admin_page
    saved = live_server.app.config.get("BASE_URL")
    try:
        live_server.app.config["BASE_URL"] = None
        page.goto(live_server.url("/e/default/manage/links"))
        warning = page.locator(".warning-banner")
        expect(warning).to_be_visible()
        expect(warning).to_contain_text("还没有设置 FLASK_BASE_URL")
        expect(warning).to_contain_text(live_server.base_url)
        page.screenshot(path=str(artifacts / "admin-base-url-warning.png"))
    finally:
        live_server.app.config["BASE_URL"] = saved
    page.goto(live_server.url("/e/default/manage/links"))
    expect(page.locator(".warning-banner")).to_have_count(0)


def test_assignment_page(live_server, admin_page, artifacts):
    page, _code, _site_id = admin_page
    page.goto(live_server.url("/e/default/manage/assignments"))
    page.select_option("#site_id", label="白鹏社区")
    page.get_by_role("button", name="分配", exact=True).click()
    expect(page.locator("table")).to_contain_text("整个站点：白鹏社区")
    page.screenshot(path=str(artifacts / "admin-assignments.png"), full_page=True)


def test_members_page_grants_a_role_at_phone_size(live_server, browser, admin_page, artifacts):
    """The members page of an evaluation, at phone size: grant a role with the form, see it listed."""
    _page, _code, _site_id = admin_page
    with live_server.app.app_context():
        db = get_db()
        if db.execute("select 1 from users where username = 'member-to-be'").fetchone() is None:
            create_user(db, "member-to-be", PASSWORD, "viewer", "新成员", evaluation_id=None)
        db.execute("delete from evaluation_members where user_id ="
                   " (select id from users where username = 'member-to-be')")
        db.commit()
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    page = _logged_in(context, live_server)
    page.goto(live_server.url("/e/default/manage/members"))
    page.select_option("#user_id", label="新成员（member-to-be）")
    page.select_option("#role", "staff")
    page.get_by_role("button", name="授予角色").click()
    expect(page.locator("tbody")).to_contain_text("member-to-be")
    page.screenshot(path=str(artifacts / "admin-members-phone.png"), full_page=True)
    assert live_server.query("select m.role from evaluation_members m join users u on u.id = m.user_id"
                             " where u.username = 'member-to-be'") == [("staff",)]
    context.close()
