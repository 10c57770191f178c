"""The respondent pages through the Flask test client: every question type,
show-if, back and summary, CSRF, double submit, tracked and one-time links."""

import re

import pytest
from conftest import ELDER_ANSWERS, csrf_token

from survey import questionnaires
from survey.storage import evaluations, responses
from survey.web import links


def stored(db, submission_id):
    """The stored answers of a submission, or None."""
    response_id = responses.find(db, submission_id)
    return None if response_id is None else responses.answers_of(db, response_id)


def test_start_page_is_chinese_with_a_start_button(client):
    """The generic link shows the title, the intro and one big start button."""
    page = client.get("/q/elder-satisfaction")
    assert page.status_code == 200
    assert 'lang="zh-CN"' in page.text
    assert "养老服务满意度调查" in page.text and "开始答题" in page.text


def test_english_locale_on_request(client):
    """?lang=en shows the English wording."""
    page = client.get("/q/elder-satisfaction?lang=en")
    assert "Elderly-care service satisfaction survey" in page.text
    assert 'lang="en"' in page.text


def test_unknown_questionnaire_is_404(client):
    """An unknown questionnaire id answers 404."""
    assert client.get("/q/nope").status_code == 404


def test_full_elder_questionnaire_is_stored_with_meta(respondent, db):
    """Answering every question stores each answer, the version and the channel."""
    person = respondent("/q/elder-satisfaction")
    person.answer_all(ELDER_ANSWERS)
    assert person.submit().status_code == 302
    answers = stored(db, person.submission_id)
    assert answers["overall"] == ["5"]
    assert answers["services"] == ["emergency_call", "hotline"]
    assert answers["suggestion"] == ["设备坏了报修好几天才来人"]
    row = next(db.query("select * from responses where submission_id = ?", [person.submission_id]))
    assert row["questionnaire_version"] == 3 and row["channel"] == "qr"
    assert row["respondent_type"] == "self" and row["age_band"] == "80-89" and row["living_alone"] == 1
    assert row["started_at"] and row["submitted_at"] and row["duration_s"] >= 0


def test_progress_counts_visible_questions(respondent):
    """The page says 第 n 题，共 m 题; the count counts questions that may still appear, so it
    can only shrink once show-if is settled (13 -> 12 with the call device)."""
    person = respondent("/q/elder-satisfaction")
    assert "第 1 题，共 13 题" in person.page().text
    person.answer("self")
    person.answer(["emergency_call"])
    assert "第 3 题，共 12 题" in person.page().text


@pytest.mark.parametrize("services", [["meals"], ["emergency_call", "hotline"], ["none"]])
def test_question_count_never_grows(respondent, services):
    """Walking the whole questionnaire, 共 N 题 never goes up and 第 n 题 goes up by one."""
    person = respondent("/q/elder-satisfaction")
    answers = dict(ELDER_ANSWERS, services=services)
    seen = []
    while person.current_question():
        n, total = map(int, re.search(r"第 (\d+) 题，共 (\d+) 题", person.page().text).groups())
        seen.append((n, total))
        person.answer(answers.get(person.current_question()), action="next")
    assert [n for n, _ in seen] == list(range(1, len(seen) + 1))
    totals = [total for _, total in seen]
    assert totals == sorted(totals, reverse=True) and totals[-1] == len(seen), seen


def test_none_of_these_cannot_be_combined(respondent):
    """都没用过 with a service is refused in words, and nothing is kept."""
    person = respondent("/q/elder-satisfaction")
    person.answer("self")
    response = person.answer(["none", "meals"], action="next")
    assert response.status_code == 400
    assert "选了“都没用过”，就不能再选别的。" in response.text
    assert person.current_question() == "services"


def test_proxy_is_asked_about_the_elder(respondent):
    """After 家属或照护人代答 the questions speak of 老人, and the summary too."""
    person = respondent("/q/elder-satisfaction")
    person.answer("proxy")
    assert "老人用过下面哪些服务？" in person.page().text
    person.answer(["meals"])
    assert "总的来说，老人对这些养老服务满意吗？" in person.page().text


def test_show_if_skips_hidden_questions(respondent, db):
    """Without emergency_call, the device questions are never asked."""
    person = respondent("/q/elder-satisfaction")
    seen = []
    answers = dict(ELDER_ANSWERS, services=["meals"])
    while person.current_question():
        seen.append(person.current_question())
        person.answer(answers.get(person.current_question()), action="next")
    assert "item_device_ease" not in seen and "hotline_unanswered" not in seen
    person.submit()
    assert "item_device_ease" not in stored(db, person.submission_id)


def test_required_question_shows_error_summary_and_stays(respondent):
    """Next without an answer to a required question shows a named error, in words."""
    person = respondent("/q/elder-satisfaction")
    response = person.answer(None)
    assert response.status_code == 400
    assert "请先回答这道题" in response.text and 'href="#answer-1"' in response.text
    assert person.current_question() == "respondent"


def test_back_link_keeps_answers(respondent):
    """Going back shows the earlier answer still chosen."""
    person = respondent("/q/elder-satisfaction")
    person.answer("proxy")
    page = person.page()
    back = re.search(r'<a class="back" href="([^"]+)"', page.text).group(1)
    earlier = person.client.get(back)
    assert re.search(r'value="proxy" checked', earlier.text)


def test_summary_lists_answers_with_change_links(respondent):
    """The summary shows each answer in words with a change link that returns to it."""
    person = respondent("/q/public-awareness")
    person.answer_all({"knows_hotline": "1", "knows_services": "0", "heard_from": ["poster"],
                       "wants_info_no_channel": "1", "satisfaction": "4"})
    summary = person.page().text
    assert "海报、宣传单" in summary and "满意" in summary and "（没有回答）" in summary
    change = re.search(r'href="(/r/[^"]+/knows_services\?return=summary)"', summary).group(1)
    page = person.client.get(change)
    response = person.client.post(change, data={"csrf_token": csrf_token(page.text), "answer": "1"})
    assert response.location.endswith("/summary#row-knows_services")


def test_summary_has_submit_at_top_and_bottom_and_reads_aloud(respondent):
    """提交 above and below the answers; the rows are marked for read-aloud; a question opened
    with 修改 says it goes back to the review."""
    person = respondent("/q/public-awareness")
    person.answer_all({"knows_hotline": "1", "knows_services": "0", "heard_from": ["poster"],
                       "wants_info_no_channel": "1", "satisfaction": "4"})
    summary = person.page().text
    assert summary.count(">提交</button>") == 2
    assert '<dt data-read>您知道本地的养老服务热线电话吗？</dt>' in summary
    assert '<dd data-read>知道</dd>' in summary
    change = person.client.get(f"/r/{person.submission_id}/knows_services?return=summary").text
    assert "改好了，回去核对" in change and ">下一题<" not in change


def test_changing_an_answer_drops_answers_that_became_hidden(respondent, db):
    """Unticking emergency_call from the summary removes the device answers."""
    person = respondent("/q/elder-satisfaction")
    person.answer_all(ELDER_ANSWERS)
    path = f"/r/{person.submission_id}/services?return=summary"
    page = person.client.get(path)
    person.client.post(path, data={"csrf_token": csrf_token(page.text), "answer": ["meals"], "return": "summary"})
    person.submit()
    answers = stored(db, person.submission_id)
    assert "item_fault_response" not in answers and answers["services"] == ["meals"]


def test_multi_choice_and_yes_no_and_text(respondent, db):
    """Multiple choice keeps every ticked box; yes/no and text are stored as given."""
    person = respondent("/q/public-awareness")
    person.answer_all({"knows_hotline": "1", "knows_services": "1", "heard_from": ["poster", "family", "online"],
                       "wants_info_no_channel": "0", "satisfaction": "3", "suggestion": "<script>x</script>"})
    person.submit()
    answers = stored(db, person.submission_id)
    assert answers["heard_from"] == ["family", "online", "poster"]
    assert answers["knows_hotline"] == ["1"] and answers["suggestion"] == ["<script>x</script>"]


def test_value_outside_choices_is_refused(respondent):
    """A forged value not among the choices is refused with a clear message."""
    person = respondent("/q/elder-satisfaction")
    response = person.answer("boss")
    assert response.status_code == 400 and "这个回答有问题" in response.text


def test_forged_post_without_csrf_is_400_and_stores_nothing(respondent, client, db):
    """A POST without the CSRF token answers 400 and stores nothing."""
    person = respondent("/q/public-awareness")
    person.answer_all({"knows_hotline": "1", "knows_services": "1", "satisfaction": "5"})
    response = client.post(f"/r/{person.submission_id}/submit", data={})
    assert response.status_code == 400
    response = client.post(f"/r/{person.submission_id}/submit", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert responses.find(db, person.submission_id) is None
    assert client.post("/q/public-awareness/start", data={}).status_code == 400


def test_double_submit_stores_once(respondent, db):
    """Two taps on 提交 (or a refresh that re-posts) store one response."""
    person = respondent("/q/public-awareness")
    person.answer_all({"knows_hotline": "1", "knows_services": "1", "satisfaction": "5"})
    page = person.client.get(f"/r/{person.submission_id}/summary")
    token = csrf_token(page.text)
    first = person.client.post(f"/r/{person.submission_id}/submit", data={"csrf_token": token})
    second = person.client.post(f"/r/{person.submission_id}/submit", data={"csrf_token": token})
    assert first.location == second.location and first.location.endswith("/done")
    count = db.execute("select count(*) from responses where submission_id = ?", [person.submission_id]).fetchone()
    assert count[0] == 1


def test_after_submit_question_pages_lead_to_thank_you(respondent):
    """Back after sending goes to the thank-you page, not to an editable form."""
    person = respondent("/q/public-awareness")
    person.answer_all({"knows_hotline": "1", "knows_services": "1", "satisfaction": "5"})
    person.submit()
    page = person.client.get(f"/r/{person.submission_id}/knows_hotline")
    assert page.status_code == 302 and page.location.endswith("/done")
    done = person.client.get(page.location)
    assert "提交成功" in done.text and "谢谢您的参与" in done.text


def test_missing_required_answer_blocks_submit(respondent, db):
    """The summary lists unanswered required questions instead of the send button."""
    person = respondent("/q/public-awareness")
    person.answer("1")
    summary = person.client.get(f"/r/{person.submission_id}/summary").text
    assert "还有题目没有回答" in summary and "提交</button>" not in summary


def test_tracked_link_records_site_and_channel(respondent, db):
    """A response through /s/<code> records its link, site and channel."""
    site_id = links.create_site(db, "xh", "新华社区")
    code = links.create_link(db, "public-awareness", "flyer", site_id=site_id)
    person = respondent(f"/s/{code}")
    person.answer_all({"knows_hotline": "0", "knows_services": "1", "satisfaction": "4"})
    person.submit()
    row = next(db.query("select * from responses where submission_id = ?", [person.submission_id]))
    assert (row["link_code"], row["site_id"], row["channel"], row["respondent_type"]) == (
        code, site_id, "flyer", "public")


def test_household_link_answers_once(respondent, client, db):
    """A one-time household link refuses a second questionnaire politely."""
    site_id = links.create_site(db, "xh", "新华社区")
    db.execute("insert into households (evaluation_id, site_id, household_no, name, created_at)"
               " values (1, ?, 'H001', '张三', 'x')",
               [site_id])
    code = links.create_link(db, "security-feeling", "household", site_id=site_id, household_id=1)
    person = respondent(f"/s/{code}")
    person.answer_all({"respondent": "self", "worry_reduced": "5", "confidence_increased": "4",
                       "security_improved": "5"})
    person.submit()
    again = client.get(f"/s/{code}")
    assert "这份问卷已经填过了" in again.text


def test_record_refuses_bad_submission_ids_and_meta(db):
    """The storage layer names the bad field and stores nothing."""
    questionnaire = questionnaires.get(db, "public-awareness")
    answers = {"knows_hotline": "1", "knows_services": "1", "satisfaction": "5"}
    for submission_id, meta, field in [("short", {}, "id"), ("x" * 80, {}, "id"),
                                       ("valid-id-1", {"channel": "telepathy"}, "channel"),
                                       ("valid-id-2", {"colour": "red"}, "colour"),
                                       ("valid-id-3", {"submitted_at": "yesterday"}, "submitted_at"),
                                       ("valid-id-4", {"evaluation_id": None}, "evaluation"),
                                       ("valid-id-5", {"evaluation_id": 99}, "evaluation")]:
        try:
            responses.record(db, questionnaire, submission_id, answers, {"evaluation_id": 1, **meta})
        except responses.SubmissionError as error:
            assert error.field == field
        else:
            raise AssertionError(f"{submission_id} {meta} was accepted")
    assert db.execute("select count(*) from responses").fetchone()[0] == 0


def test_number_error_is_in_plain_chinese_and_keeps_what_was_typed(app, respondent, db):
    """A wrong number is explained in Chinese, and the box keeps what the person typed."""
    from survey.questionnaires import store_definition

    store_definition(db, {"id": "calls", "version": 1, "title": {"zh": "来电"}, "questions": [
        {"id": "calls", "type": "number", "min": 0, "max": 99, "required": True, "text": {"zh": "打了几次？"}}]})
    evaluations.use_questionnaire(db, 1, "calls")  # a generic link answers only for an evaluation using it
    person = respondent("/q/calls")
    response = person.answer("三个")
    assert response.status_code == 400
    assert "请填一个数字" in response.text and "is not a number" not in response.text
    assert 'value="三个"' in response.text and "input-error" in response.text
    response = person.answer("120")
    assert "请填 0 到 99 之间的数字" in response.text


def test_household_already_interviewed_gets_polite_page_not_500(app, respondent, db):
    """Staff interviewed the household first; its QR card then shows 'already answered' and stores nothing."""
    site_id = links.create_site(db, "xh", "新华社区")
    db.execute("insert into households (evaluation_id, site_id, household_no, name, created_at)"
               " values (1, ?, 'H002', '李四', 'x')",
               [site_id])
    code = links.create_link(db, "security-feeling", "household", site_id=site_id, household_id=1)
    answers = {"respondent": "self", "worry_reduced": "5", "confidence_increased": "4", "security_improved": "5"}
    person = respondent(f"/s/{code}")  # the elder opens the card before the staff visit is stored
    person.answer_all(answers)
    questionnaire = questionnaires.get(db, "security-feeling")
    responses.record(db, questionnaire, "staff-visit-0001", answers,
                     {"evaluation_id": 1, "channel": "door", "household_id": 1, "site_id": site_id})
    response = person.submit()
    assert response.status_code == 409 and "这份问卷已经填过了" in response.text
    assert db.execute("select count(*) from responses where household_id = 1").fetchone()[0] == 1


def test_front_page_lists_questionnaires(client):
    """/ is public and links every questionnaire and the staff login."""
    page = client.get("/")
    assert page.status_code == 200
    for qid in ("elder-satisfaction", "public-awareness", "security-feeling"):
        assert f'href="/q/{qid}"' in page.text
    assert 'href="/login"' in page.text
