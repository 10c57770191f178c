"""Issue 14, the staff app as a field worker uses it on a 360x740 phone, offline and back:
a household's status changes the moment its form is saved; a completed household warns
before anything else is recorded; a second interview of the same household made offline
is refused in Chinese with its reason and can be set aside (kept) or corrected and sent;
sending retries on a timer, on any 5xx and when the app comes back; assigned staff see the
number and call it with one tap (also offline); search and status filter; contiguous
question numbers; a big 保存 apart from other buttons. Screenshots go to test-artifacts/."""

import json

import pytest
from playwright.sync_api import expect

from survey import roster
from survey.storage.db import get_db
from survey.web import links
from survey.web.auth import create_user

from .helpers import field_app_ready, sign_in

pytestmark = pytest.mark.browser

PASSWORD = "field-followup-password"
ROSTER = "姓名,户号,站点,地址,电话\n赵一,G001,观音社区,观音路1号,13811112222\n" \
         "钱二,G002,观音社区,观音路2号,010-66667777\n孙三,G003,观音社区,观音路3号,\n"


@pytest.fixture
def field(live_server):
    """A staff account assigned the whole site 观音社区, three households; returns their ids by number."""
    with live_server.app.app_context():
        db = get_db()
        site_id = links.create_site(db, "gy", "观音社区")
        row = db.execute("select id from users where username = 'followup-staff'").fetchone()
        user_id = row[0] if row else create_user(db, "followup-staff", PASSWORD, "staff", "跟进调查员")
        roster.import_roster(db, "roster.csv", ROSTER.encode())
        db.execute("insert into assignments (evaluation_id, user_id, site_id, assigned_at)"
                   " values (1, ?, ?, '2026-01-01T00:00:00Z') on conflict do nothing", [user_id, site_id])
        db.commit()
        ids = {r["household_no"]: r["id"] for r in roster.households(db, site_id)}
    # Clean slate per test: no responses or visits for these households.
    with live_server.app.app_context():
        db = get_db()
        marks = ", ".join("?" for _ in ids)
        db.execute(f"delete from visits where household_id in ({marks})", list(ids.values()))
        response_ids = [r[0] for r in db.execute(f"select id from responses where household_id in ({marks})",
                                                 list(ids.values())).fetchall()]
        for response_id in response_ids:
            db.execute("delete from answers where response_id = ?", [response_id])
            db.execute("delete from responses where id = ?", [response_id])
        db.commit()
    yield ids
    live_server.app.config.pop("FIELD_RETRY_MS", None)


def log_in(page, server):
    """Log in as the follow-up staff member and open the household list."""
    sign_in(page, server, "followup-staff", PASSWORD)
    open_list(page, server)


def open_list(page, server):
    """The household list of elder-satisfaction for site 观音社区, ready."""
    page.goto(server.url("/e/default/field/?q=elder-satisfaction"))
    page.wait_for_load_state("load")
    field_app_ready(page)


def household(page, household_id):
    """The list entry of a household."""
    return page.locator(f'li[data-household="{household_id}"]')


def open_form(page, household_id):
    """Tap a household in the list; wait for its form."""
    household(page, household_id).locator("a").first.click()
    expect(page.locator("#field-form")).to_be_visible()
    page.wait_for_load_state("load")
    field_app_ready(page)


def fill_interview(page):
    """Consent and the required answers of elder-satisfaction."""
    page.locator('input[name="consent"]').check()
    page.locator('input[name="a-services"][value="meals"]').check()
    page.locator('input[name="a-overall"][value="5"]').check()


def save(page, server):
    """Tap 保存 and wait for the household list."""
    page.get_by_role("button", name="保存").click()
    expect(page).to_have_url(server.url("/e/default/field/?q=elder-satisfaction"))
    page.wait_for_load_state("load")  # field.js is deferred: fieldApp exists after parsing
    field_app_ready(page)


def test_status_changes_on_save_and_second_interview_is_refused_then_set_aside(live_server, phone, field, artifacts):
    page = phone.new_page()
    log_in(page, live_server)
    expect(household(page, field["G001"]).locator(".hh-status")).to_have_text("未访")
    reached_before = int(page.locator("#reached-count").text_content())

    phone.set_offline(True)
    open_form(page, field["G001"])
    fill_interview(page)
    save(page, live_server)
    # Saved, not yet sent: the list says so at once, and the count of done households moves.
    expect(household(page, field["G001"]).locator(".hh-status")).to_have_text("✔ 已访问（已保存，待发送）")
    expect(page.locator("#reached-count")).to_have_text(str(reached_before + 1))
    page.screenshot(path=str(artifacts / "field-list-after-save-offline.png"), full_page=True)

    # Reopened, the completed household warns before another record is made.
    open_form(page, field["G001"])
    expect(page.locator("#done-warning")).to_be_visible()
    page.screenshot(path=str(artifacts / "field-form-done-warning.png"))
    page.locator('input[name="outcome"][value="not_home"]').check()
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#form-error")).to_contain_text("这户已经完成过问卷")
    # A second full interview of the same household, offline (as by a colleague's mistake).
    page.locator('input[name="outcome"][value="completed"]').check()
    page.locator('input[name="confirm_done"]').check()
    fill_interview(page)
    save(page, live_server)
    expect(page.locator("#unsent-count")).to_have_text("2")

    phone.set_offline(False)
    page.get_by_role("button", name="现在发送").click()
    refused = page.locator("#queue-list li.rejected")
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text("服务器没有接收：这户已经完成过这份问卷")
    expect(page.locator("#queue-status")).to_contain_text("请看下面的原因")
    # The refused duplicate does not hide that the first interview was sent.
    expect(household(page, field["G001"]).locator(".hh-status")).to_have_text("✔ 已访问（已发送）")
    expect(page.locator("#reached-count")).to_have_text(str(reached_before + 1))
    page.screenshot(path=str(artifacts / "field-queue-refused-in-chinese.png"), full_page=True)
    assert live_server.query("select count(*) from responses where household_id = ?", (field["G001"],))[0][0] == 1

    refused.get_by_role("button", name="搁置（保留在本机，不再发送）").click()
    expect(page.locator("#unsent-count")).to_have_text("0")
    expect(page.locator("#aside-list li")).to_have_count(1)
    kept = page.evaluate("window.fieldApp.kept()")
    assert [k["status"] for k in kept] == ["set_aside"], kept  # kept on the phone, never dropped
    page.screenshot(path=str(artifacts / "field-queue-set-aside.png"), full_page=True)
    # A set-aside form is not sent by the timer or 现在发送.
    page.get_by_role("button", name="现在发送").click()
    expect(page.locator("#queue-status")).to_contain_text("没有待发送的表单")
    assert len(page.evaluate("window.fieldApp.kept()")) == 1


def test_refused_form_can_be_corrected_and_sent(live_server, phone, field, artifacts):
    """A form the server refuses (400, consent) is reopened with its answers by 修改后重发;
    saved again it replaces the refused one and is stored."""
    page = phone.new_page()
    log_in(page, live_server)
    refusals = []

    def refuse_once(route):
        if not refusals:
            refusals.append(1)
            route.fulfill(status=400, content_type="application/json",
                          body=json.dumps({"error": "知情同意 is required", "field": "consent"}))
        else:
            route.continue_()

    page.route("**/api/submissions", refuse_once)
    open_form(page, field["G002"])
    fill_interview(page)
    page.locator('input[name="a-item_attitude"][value="4"]').check()
    save(page, live_server)
    rejected = page.locator("#queue-list li.rejected")
    expect(rejected).to_contain_text("没有勾选“知情同意”")
    rejected.get_by_role("link", name="修改后重发").click()
    page.wait_for_load_state("load")
    field_app_ready(page)
    expect(page.locator("#edit-notice")).to_be_visible()
    expect(page.locator('input[name="a-item_attitude"][value="4"]')).to_be_checked()
    expect(page.locator('input[name="a-overall"][value="5"]')).to_be_checked()
    page.screenshot(path=str(artifacts / "field-form-correcting-refused.png"), full_page=True)
    page.locator('input[name="a-overall"][value="4"]').check()
    save(page, live_server)
    expect(page.locator("#unsent-count")).to_have_text("0")
    stored = live_server.query("select a.value from answers a join responses r on r.id = a.response_id"
                               " where r.household_id = ? and a.question_id = 'overall'", (field["G002"],))
    assert stored == [("4",)]
    assert page.evaluate("window.fieldApp.kept()") == []


def test_sending_retries_on_a_timer_after_a_5xx(live_server, phone, field):
    """The first send meets a 503; with no tap and no `online` event the form goes on the timer."""
    live_server.app.config["FIELD_RETRY_MS"] = 1000
    page = phone.new_page()
    log_in(page, live_server)
    calls = []

    def fail_first(route):
        calls.append(1)
        if len(calls) == 1:
            route.fulfill(status=503, body="busy")
        else:
            route.continue_()

    page.route("**/api/submissions", fail_first)
    open_form(page, field["G003"])
    fill_interview(page)
    save(page, live_server)
    expect(page.locator("#unsent-count")).to_have_text("0", timeout=15_000)
    assert len(calls) >= 2
    assert live_server.query("select count(*) from responses where household_id = ?", (field["G003"],))[0][0] == 1


def test_sending_resumes_when_the_app_comes_back(live_server, phone, field):
    """Saved offline; the network returns without an `online` event reaching the page;
    coming back to the app (visibilitychange) sends the form."""
    live_server.app.config["FIELD_RETRY_MS"] = 600_000  # the timer must not be what sends it
    page = phone.new_page()
    log_in(page, live_server)
    page.route("**/api/submissions", lambda route: route.abort("internetdisconnected"))
    open_form(page, field["G003"])
    fill_interview(page)
    save(page, live_server)
    expect(page.locator("#unsent-count")).to_have_text("1")
    page.unroute("**/api/submissions")
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(page.locator("#unsent-count")).to_have_text("0")


def test_assigned_staff_call_with_one_tap_also_offline(live_server, phone, field, artifacts):
    """The list shows the full number of an assigned household as a tel: link; the cached
    form shows it offline too; search and the status filter work on the phone."""
    page = phone.new_page()
    log_in(page, live_server)
    call = household(page, field["G001"]).locator("a.call-button")
    expect(call).to_have_attribute("href", "tel:13811112222")
    assert call.bounding_box()["height"] >= 48
    expect(household(page, field["G002"]).locator("a.call-button")).to_have_attribute("href", "tel:01066667777")
    page.screenshot(path=str(artifacts / "field-list-call-buttons.png"))

    page.fill("#s", "G002")
    expect(page.locator("li.household:visible")).to_have_count(1)
    expect(page.locator("#shown-count")).to_have_text("1")
    page.fill("#s", "")
    page.select_option("#status", "new")
    expect(household(page, field["G001"])).to_be_visible()
    page.screenshot(path=str(artifacts / "field-list-search.png"), full_page=True)
    page.select_option("#status", "")

    phone.set_offline(True)
    open_form(page, field["G001"])
    expect(page.locator("a.call-button")).to_have_attribute("href", "tel:13811112222")
    expect(page.locator("#household-label")).to_contain_text("G001")
    page.screenshot(path=str(artifacts / "field-form-offline-call.png"))
    phone.set_offline(False)


def test_form_numbers_questions_without_gaps_and_save_stands_apart(live_server, phone, field, artifacts):
    page = phone.new_page()
    log_in(page, live_server)
    open_form(page, field["G003"])
    page.locator('input[name="a-services"][value="meals"]').check()
    numbers = page.locator("fieldset.question:visible .qno").all_text_contents()
    assert [n.strip() for n in numbers] == [f"{i}." for i in range(1, len(numbers) + 1)], numbers
    save_box = page.locator("#save-form").bounding_box()
    send_box = page.locator("#send-now").bounding_box()
    assert save_box["height"] >= 60 and save_box["width"] >= 300, save_box
    assert send_box["y"] - (save_box["y"] + save_box["height"]) >= 60, (save_box, send_box)
    assert "primary" not in page.locator("#send-now").get_attribute("class")
    page.locator("#save-form").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "field-form-save-button.png"))


def test_form_wording_follows_who_answers(live_server, phone, field, artifacts):
    """Choosing 代答 on the staff form rewords the questions about the elder; 本人 puts them back."""
    page = phone.new_page()
    log_in(page, live_server)
    open_form(page, field["G003"])
    overall = page.locator('fieldset[data-question="overall"] .qtext')
    expect(overall).to_have_text("总的来说，您对这些养老服务满意吗？")
    page.locator('input[name="respondent_type"][value="proxy"]').check()
    expect(overall).to_have_text("总的来说，老人对这些养老服务满意吗？")
    page.screenshot(path=str(artifacts / "field-form-proxy-wording.png"))
    page.locator('input[name="respondent_type"][value="self"]').check()
    expect(overall).to_have_text("总的来说，您对这些养老服务满意吗？")


def test_a_call_made_offline_is_audited_when_back_online(live_server, phone, field):
    """Tapping 拨打 offline still ends up in the audit log once the app sends again."""
    page = phone.new_page()
    log_in(page, live_server)
    before = live_server.query("select count(*) from audit_log where action = 'phone_called'")[0][0]
    phone.set_offline(True)
    call = household(page, field["G001"]).locator("a.call-button")
    # The tel: navigation itself is not followed in a headless browser; stop it, keep the click.
    page.evaluate("document.addEventListener('click', e => { if (e.target.closest('a[href^=\"tel:\"]'))"
                  " e.preventDefault(); })")
    call.click()
    wait_until(lambda: page.evaluate("window.fieldApp.pendingCalls()") == 1, "the call noted on the phone")
    assert live_server.query("select count(*) from audit_log where action = 'phone_called'")[0][0] == before
    phone.set_offline(False)
    page.get_by_role("button", name="现在发送").click()
    wait_until(lambda: page.evaluate("window.fieldApp.pendingCalls()") == 0, "the noted call reported")
    after = live_server.query("select count(*) from audit_log where action = 'phone_called'")[0][0]
    assert after == before + 1


def wait_until(check, what, seconds=20):
    """Poll `check` every 0.1 s until true; fail naming `what` after `seconds` (bounded)."""
    import time

    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
