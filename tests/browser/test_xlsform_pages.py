"""Issue 10: a questionnaire read from an XLSForm workbook, answered on a 360x740 phone: a note
page, a hint, an integer with a constraint whose message is shown in Chinese; and the staff
form evaluating a compound relevant (`or`, a comparison) and the constraint in JavaScript."""

import copy
import re

import pytest
from playwright.sync_api import expect
from xlsform_helpers import BASE, build

from survey import questionnaires, roster, xlsform
from survey.storage import evaluations
from survey.storage.db import get_db
from survey.web import links
from survey.web.auth import create_user

from .helpers import field_app_ready, sign_in

pytestmark = pytest.mark.browser

PASSWORD = "xlsform-staff-password"
QID = "xl-browser"


@pytest.fixture
def workbook_questionnaire(live_server):
    """BASE read from its workbook, stored as `xl-browser` and used by the default evaluation."""
    book = copy.deepcopy(BASE)
    book["settings"][1][0] = QID
    definition = xlsform.read_workbook(build(book))
    with live_server.app.app_context():
        db = get_db()
        questionnaires.store_definition(db, definition)
        evaluations.use_questionnaire(db, 1, QID)
    return definition


def test_respondent_answers_a_workbook_questionnaire(live_server, page, workbook_questionnaire, artifacts):
    """Note page, hint, then an age below the constraint is refused with the workbook's message."""
    page.goto(live_server.url(f"/q/{QID}"))
    page.get_by_role("button", name="开始").click()
    expect(page.locator("h1.question")).to_have_text("欢迎参加")
    expect(page.locator("input[name=answer]")).to_have_count(0)
    page.screenshot(path=str(artifacts / "xlsform-note-page.png"), full_page=True)
    page.locator("button.primary").click()
    page.get_by_text("本人", exact=True).click()
    page.locator("button.primary").click()
    expect(page.locator("p.hint")).to_have_text("可以多选")
    page.get_by_text("助洁", exact=True).click()
    page.locator("button.primary").click()
    page.get_by_text("非常满意", exact=True).click()
    page.locator("button.primary").click()
    page.get_by_text("否", exact=True).click()
    page.locator("button.primary").click()
    expect(page.locator("h1.question")).to_have_text("您多大岁数？")
    page.fill("#answer-1", "50")
    # Age may still reveal the suggestion (${age} >= 80): the button does not say it is the last.
    expect(page.locator("button.primary")).to_have_text("下一题")
    page.locator("button.primary").click()
    expect(page.locator(".error-summary")).to_contain_text("年龄应在60到120岁之间")
    page.screenshot(path=str(artifacts / "xlsform-constraint-error.png"), full_page=True)
    page.fill("#answer-1", "70")
    page.locator("button.primary").click()
    # knows = 0 and age < 80: the suggestion (relevant: ${knows} = '1' or ${age} >= 80) is skipped,
    # and spend (selected(${services}, 'meals')) too: straight to the summary.
    expect(page.locator("h1.big")).to_have_text("核对您的回答")
    expect(page.locator(".summary")).not_to_contain_text("欢迎参加")
    page.locator("form.submit-bottom button").click()
    expect(page).to_have_url(re.compile(r"/done$"))
    rows = live_server.query("select a.question_id, a.value from answers a join responses r on r.id = a.response_id"
                             " where r.questionnaire_id = ? order by a.rowid", (QID,))
    assert ("age", "70") in rows and not any(q in ("suggestion", "spend", "welcome") for q, _ in rows)


@pytest.fixture
def staff_household(live_server):
    """A staff account assigned a site with one household; returns the household id."""
    with live_server.app.app_context():
        db = get_db()
        row = db.execute("select id from sites where code = 'xlb'").fetchone()
        site_id = row[0] if row else links.create_site(db, "xlb", "表格社区")
        row = db.execute("select id from users where username = 'xlsform-staff'").fetchone()
        user_id = row[0] if row else create_user(db, "xlsform-staff", PASSWORD, "staff", "表格调查员")
        roster.import_roster(db, "xl.csv", "姓名,户号,站点,地址,电话\n周七,X001,表格社区,表格路1号,\n".encode())
        db.execute("insert into assignments (evaluation_id, user_id, site_id, assigned_at)"
                   " values (1, ?, ?, '2026-01-01T00:00:00Z') on conflict do nothing", [user_id, site_id])
        db.commit()
        return next(r["id"] for r in roster.households(db, site_id) if r["household_no"] == "X001")


def test_staff_form_evaluates_compound_relevant_and_constraint(live_server, page, workbook_questionnaire,
                                                               staff_household, artifacts):
    """The offline form shows `suggestion` for knows = 1 OR age >= 80, and refuses age 45 in Chinese."""
    sign_in(page, live_server, "xlsform-staff", PASSWORD)
    page.goto(live_server.url(f"/e/default/field/form/{QID}?household={staff_household}"))
    page.wait_for_load_state("load")
    field_app_ready(page)
    suggestion = page.locator('[data-question="suggestion"]')
    spend = page.locator('[data-question="spend"]')
    expect(suggestion).to_be_hidden()
    expect(spend).to_be_hidden()
    page.locator('input[name="a-knows"][value="0"]').check()
    page.locator('input[name="a-age"]').fill("85")
    page.locator('input[name="a-age"]').dispatch_event("change")
    expect(suggestion).to_be_visible()  # age >= 80
    page.locator('input[name="a-age"]').fill("70")
    page.locator('input[name="a-age"]').dispatch_event("change")
    expect(suggestion).to_be_hidden()
    page.locator('input[name="a-knows"][value="1"]').check()
    expect(suggestion).to_be_visible()  # knows = 1
    page.locator('input[name="a-services"][value="meals"]').check()
    expect(spend).to_be_visible()  # selected(${services}, 'meals')
    page.locator('input[name="consent"]').check()
    page.locator('input[name="a-overall"][value="4"]').check()
    page.locator('input[name="a-respondent"][value="self"]').check()
    page.locator('input[name="a-age"]').fill("45")
    page.locator('input[name="a-age"]').dispatch_event("change")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#form-error")).to_contain_text("年龄应在60到120岁之间")
    page.screenshot(path=str(artifacts / "xlsform-field-form-constraint.png"), full_page=True)
