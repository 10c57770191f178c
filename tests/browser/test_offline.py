"""The staff app offline: three forms completed without a network, a reload served by the
service worker, then sent once each when the network returns, and still once after a
forced retry of the same submission ids."""

import pytest
from playwright.sync_api import expect

from survey import roster
from survey.storage.db import get_db
from survey.web import links
from survey.web.auth import create_user

from .helpers import field_app_ready, sign_in

pytestmark = pytest.mark.browser

PASSWORD = "field-staff-password"
ROSTER = "姓名,户号,站点,地址,电话\n张三明,F001,新华社区,新华路1号,13812341234\n" \
         "李四,F002,新华社区,新华路2号,\n王五,F003,新华社区,新华路3号,\n"


@pytest.fixture
def field_setup(live_server):
    """A staff account and three households on the live server's roster; returns their ids."""
    with live_server.app.app_context():
        db = get_db()
        links.create_site(db, "xh", "新华社区")
        if db.execute("select 1 from users where username = 'offline-staff'").fetchone() is None:
            create_user(db, "offline-staff", PASSWORD, "staff", "离线调查员")
        roster.import_roster(db, "roster.csv", ROSTER.encode())
        return [row["id"] for row in roster.households(db) if row["household_no"].startswith("F")]


def fill_form(page):
    """Answer the elder-satisfaction form at the door, with consent, and save it."""
    expect(page.locator("#field-form")).to_be_visible()
    page.locator('input[name="consent"]').check()
    page.locator('input[name="a-services"][value="meals"]').check()
    page.locator('input[name="a-overall"][value="5"]').check()
    page.locator('input[name="a-item_attitude"][value="4"]').check()
    page.get_by_role("button", name="保存").click()


def test_three_forms_offline_sent_once(live_server, phone, field_setup):
    page = phone.new_page()
    sign_in(page, live_server, "offline-staff", PASSWORD)
    page.goto(live_server.url("/e/default/field/?q=elder-satisfaction"))
    field_app_ready(page)
    assert page.evaluate("navigator.serviceWorker.controller !== null")
    expect(page.locator("#unsent-count")).to_have_text("0")

    phone.set_offline(True)
    assert page.evaluate("navigator.onLine") is False
    for household_id in field_setup:
        page.locator(f'a[href*="household={household_id}&"]').click()
        fill_form(page)
        expect(page).to_have_url(live_server.url("/e/default/field/?q=elder-satisfaction"))
        field_app_ready(page)
    response = page.reload()
    assert response.from_service_worker
    field_app_ready(page)
    expect(page.locator("#unsent-count")).to_have_text("3")
    expect(page.locator("#queue-list li")).to_have_count(3)
    assert live_server.query("select count(*) from responses where household_id in (?, ?, ?)",
                             tuple(field_setup))[0][0] == 0

    phone.set_offline(False)
    page.get_by_role("button", name="现在发送").click()
    expect(page.locator("#unsent-count")).to_have_text("0")
    ids = page.evaluate("window.fieldApp.sentIds()")
    assert len(ids) == 3
    placeholders = ", ".join("?" for _ in ids)
    stored = live_server.query(
        f"select submission_id, household_id, channel, consent, source from responses"
        f" where submission_id in ({placeholders})", tuple(ids))
    assert sorted(row[1] for row in stored) == sorted(field_setup)
    assert all(row[2:] == ("door", 1, "field") for row in stored)

    # A forced retry of the same ids (as after a lost answer): success, no duplicate.
    assert page.evaluate("window.fieldApp.requeueSent()") == 3
    expect(page.locator("#unsent-count")).to_have_text("3")
    page.get_by_role("button", name="现在发送").click()
    expect(page.locator("#unsent-count")).to_have_text("0")
    assert live_server.query(f"select count(*) from responses where submission_id in ({placeholders})",
                             tuple(ids))[0][0] == 3
    assert live_server.query("select count(*) from responses where household_id in (?, ?, ?)",
                             tuple(field_setup))[0][0] == 3
    assert live_server.query(f"select count(*) from visits where submission_id in ({placeholders})",
                             tuple(ids))[0][0] == 3
