"""Whole questionnaires answered by taps only, with JavaScript on and off, checked
against what the app's sqlite database stored."""

import pytest
from playwright.sync_api import expect

from .helpers import answer, choice, dump, goto_question, start, submission_and_question, tap_through

pytestmark = pytest.mark.browser

SUGGESTION = "设备坏了报修好几天才来人，希望快一点。"

# (question id, labels to tap, text to type, action) in the order the pages come.
ELDER_STEPS = [
    ("respondent", ["老人本人"], None, "next"),
    ("services", ["助餐（吃饭、送餐）", "紧急呼叫（一键呼叫设备）", "养老服务热线"], None, "next"),
    ("overall", ["非常满意"], None, "next"),
    ("item_attitude", ["满意"], None, "next"),
    ("item_timeliness", ["非常满意"], None, "next"),
    ("item_professionalism", [], None, "skip"),
    ("item_device_ease", ["一般"], None, "next"),
    ("item_fault_response", ["不满意"], None, "next"),
    ("item_repair", ["非常不满意"], None, "next"),
    ("hotline_unanswered", ["遇到过"], None, "next"),
    ("age_band", ["80到89岁"], None, "next"),
    ("living_alone", ["不是，和别人一起住"], None, "next"),
    ("suggestion", [], SUGGESTION, "next"),
]
ELDER_STORED = {
    "respondent": ["self"], "services": ["emergency_call", "hotline", "meals"], "overall": ["5"],
    "item_attitude": ["4"], "item_timeliness": ["5"], "item_device_ease": ["3"],
    "item_fault_response": ["2"], "item_repair": ["1"], "hotline_unanswered": ["1"],
    "age_band": ["80-89"], "living_alone": ["0"], "suggestion": [SUGGESTION],
}

PUBLIC_STEPS = [
    ("knows_hotline", ["知道"], None, "next"),
    ("knows_services", ["不知道"], None, "next"),
    ("heard_from", ["社区或村委会", "海报、宣传单", "亲戚朋友"], None, "next"),
    ("wants_info_no_channel", ["有过"], None, "next"),
    ("satisfaction", ["满意"], None, "next"),
    ("suggestion", [], "热线电话要多宣传。", "next"),
]
PUBLIC_STORED = {
    "knows_hotline": ["1"], "knows_services": ["0"], "heard_from": ["community", "family", "poster"],
    "wants_info_no_channel": ["1"], "satisfaction": ["4"], "suggestion": ["热线电话要多宣传。"],
}


def walk(page, server, questionnaire_id, steps, back_at):
    """Answer every step by taps; at question `back_at` go back once with 上一题 and
    check the earlier answer is still ticked. Returns the submission id."""
    start(page, server, f"/q/{questionnaire_id}")
    previous = None
    for question_id, labels, text, action in steps:
        goto_question(page, question_id)
        if question_id == back_at:
            tap_through(page, page.get_by_role("link", name="← 上一题"))
            earlier_id, earlier_labels = previous
            goto_question(page, earlier_id)
            for label in earlier_labels:
                expect(choice(page, label).locator("input")).to_be_checked()
            tap_through(page, page.get_by_role("button", name="下一题"))
            goto_question(page, question_id)
        answer(page, labels, text=text, action=action)
        previous = (question_id, labels)
    expect(page).to_have_url(server.url("/") + "r/" + submission_and_question(page)[0] + "/summary")
    expect(page.get_by_role("heading", name="核对您的回答")).to_be_visible()
    return submission_and_question(page)[0]


def submit_and_check(page, server, questionnaire_id, submission_id, stored, before):
    """Tap 提交, see 提交成功, and find exactly one response with `stored` in the database."""
    tap_through(page, page.get_by_role("button", name="提交").first)
    expect(page).to_have_url(server.url(f"/r/{submission_id}/done"))
    expect(page.get_by_role("heading", name="提交成功")).to_be_visible()
    after = server.query("select count(*) from responses where questionnaire_id = ?", (questionnaire_id,))[0][0]
    assert after == before + 1, "one tap-through must store exactly one response"
    rows = server.query("select count(*) from responses where submission_id = ?", (submission_id,))
    assert rows[0][0] == 1
    got = {k: sorted(v) for k, v in server.stored_answers(submission_id).items()}
    assert got == stored, dump(got)


def count(server, questionnaire_id):
    """How many responses to a questionnaire the database holds."""
    return server.query("select count(*) from responses where questionnaire_id = ?", (questionnaire_id,))[0][0]


def check_summary(page, expected_texts):
    """The summary shows the answers in words."""
    summary = page.locator("dl.summary")
    for text in expected_texts:
        expect(summary).to_contain_text(text)


def run_elder(page, server):
    before = count(server, "elder-satisfaction")
    sid = walk(page, server, "elder-satisfaction", ELDER_STEPS, back_at="item_attitude")
    check_summary(page, ["老人本人", "紧急呼叫（一键呼叫设备）、养老服务热线、助餐（吃饭、送餐）",
                         "（没有回答）", "80到89岁", SUGGESTION])
    submit_and_check(page, server, "elder-satisfaction", sid, ELDER_STORED, before)


def run_public(page, server):
    before = count(server, "public-awareness")
    sid = walk(page, server, "public-awareness", PUBLIC_STEPS, back_at="heard_from")
    check_summary(page, ["社区或村委会、亲戚朋友、海报、宣传单", "满意"])
    submit_and_check(page, server, "public-awareness", sid, PUBLIC_STORED, before)


def test_full_questionnaire_by_taps_js_on(live_server, page):
    """Elder satisfaction, JavaScript on: taps, one skip, one 上一题, 提交; and no script
    error or console error (a Content-Security-Policy refusal shows up there) on the way."""
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    run_elder(page, live_server)
    expect(page.get_by_role("button", name="朗读本页")).to_be_visible()
    assert not errors, errors


def test_full_questionnaire_by_taps_js_off(live_server, phone_nojs):
    """Elder satisfaction, JavaScript off: plain forms do everything; no tool buttons."""
    page = phone_nojs.new_page()
    run_elder(page, live_server)
    expect(page.get_by_role("button", name="朗读本页")).to_be_hidden()


def test_public_awareness_multi_choice_by_taps_js_on(live_server, page):
    """Public awareness with three boxes ticked on the multi-choice question, JS on."""
    run_public(page, live_server)


def test_public_awareness_multi_choice_by_taps_js_off(live_server, phone_nojs):
    """The same with JavaScript off."""
    run_public(phone_nojs.new_page(), live_server)
