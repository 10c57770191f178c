"""The respondent side of evaluations (issue 9): generic links per evaluation, the legacy
/q/<id> of printed QR codes, tracked links bound to their evaluation, closed and archived
evaluations answering calmly, and one questionnaire in two evaluations never mixing."""

import pytest
from conftest import ELDER_ANSWERS, Respondent, csrf_token

from survey import questionnaires
from survey.storage import evaluations, responses
from survey.web import links

PUBLIC = {"knows_hotline": "1", "knows_services": "1", "satisfaction": "5"}


def evaluation_of(db, submission_id):
    """The evaluation_id stored with a response."""
    return db.execute("select evaluation_id from responses where submission_id = ?", [submission_id]).fetchone()[0]


def count(db, table="responses"):
    """Rows in a table."""
    return db.execute(f"select count(*) from {table}").fetchone()[0]


@pytest.fixture
def second(db):
    """A second evaluation using elder-satisfaction only, with a site of the same code as default's."""
    evaluation = evaluations.create(db, "cy-2025", "朝阳区2025年居家养老评价", unit="朝阳区民政局",
                                    questionnaires=["elder-satisfaction"])
    return evaluation


def test_the_same_questionnaire_in_two_evaluations_never_mixes(client, db, second):
    """Answers through each evaluation's generic link land in that evaluation, and only there."""
    first = Respondent(client, "/e/default/q/elder-satisfaction")
    first.answer_all(ELDER_ANSWERS)
    assert first.submit().status_code == 302
    other = Respondent(client, f"/e/{second.slug}/q/elder-satisfaction")
    other.answer_all(ELDER_ANSWERS)
    assert other.submit().status_code == 302
    assert evaluation_of(db, first.submission_id) == 1
    assert evaluation_of(db, other.submission_id) == second.id
    by_evaluation = dict(db.execute(
        "select evaluation_id, count(*) from responses where questionnaire_id = 'elder-satisfaction'"
        " group by evaluation_id").fetchall())
    assert by_evaluation == {1: 1, second.id: 1}


def test_a_draft_remembers_its_evaluation(client, db, second):
    """The draft opened from a generic link carries that evaluation before anything is sent."""
    person = Respondent(client, f"/e/{second.slug}/q/elder-satisfaction")
    assert responses.get_draft(db, person.submission_id).evaluation_id == second.id


def test_generic_link_of_a_questionnaire_the_evaluation_does_not_use_is_404(client, second):
    """cy-2025 does not use public-awareness: its generic link, start and QR do not exist."""
    assert client.get(f"/e/{second.slug}/q/public-awareness").status_code == 404
    assert client.get(f"/e/{second.slug}/q/public-awareness/qr.png").status_code == 404
    assert client.get("/e/nope/q/elder-satisfaction").status_code == 404
    page = client.get("/e/default/q/public-awareness")
    posted = client.post(f"/e/{second.slug}/q/public-awareness/start", data={"csrf_token": csrf_token(page.text)})
    assert posted.status_code == 404


def test_old_printed_qr_code_still_opens_the_form_and_lands_in_default(client, db, second):
    """/q/<id> (printed before evaluations) answers for the upgraded `default`, even with another
    evaluation using the same questionnaire."""
    person = Respondent(client, "/q/elder-satisfaction")
    person.answer_all(ELDER_ANSWERS)
    assert person.submit().status_code == 302
    assert evaluation_of(db, person.submission_id) == 1
    # The old start form posted to /q/<id>/start; a page left open across the upgrade still works.
    page = client.get("/q/public-awareness")
    started = client.post("/q/public-awareness/start", data={"csrf_token": csrf_token(page.text)})
    assert started.status_code == 302
    assert responses.get_draft(db, started.location.split("/")[2]).evaluation_id == 1


def test_scoped_qr_encodes_the_scoped_address_and_legacy_qr_keeps_its_image(app, client, second):
    """/e/<slug>/q/<id>/qr.svg encodes /e/<slug>/q/<id>; /q/<id>/qr.svg still encodes /q/<id>."""
    with app.test_request_context():
        scoped = links.absolute_url("respond.start_generic", questionnaire_id="elder-satisfaction",
                                    evaluation=second.slug)
        legacy = links.absolute_url("respond.start_generic", questionnaire_id="elder-satisfaction")
    assert scoped == f"https://survey.example.cn/e/{second.slug}/q/elder-satisfaction"
    assert legacy == "https://survey.example.cn/q/elder-satisfaction"
    scoped_svg = client.get(f"/e/{second.slug}/q/elder-satisfaction/qr.svg")
    legacy_svg = client.get("/q/elder-satisfaction/qr.svg")
    assert scoped_svg.status_code == legacy_svg.status_code == 200
    assert scoped_svg.data == links.qr_svg(scoped) and legacy_svg.data == links.qr_svg(legacy)


def test_tracked_link_stores_its_evaluation_and_refuses_a_site_of_another(client, db, second):
    """links.create_link keeps the evaluation; a site (or household) of another evaluation is
    refused naming the field; a response through the link lands in the link's evaluation."""
    default_site = links.create_site(db, "xh", "新华社区", evaluation_id=1)
    other_site = links.create_site(db, "xh", "新华社区", evaluation_id=second.id)
    assert default_site != other_site  # the same code in two evaluations: two sites
    with pytest.raises(links.LinkError) as refused:
        links.create_link(db, "elder-satisfaction", "poster", site_id=default_site, evaluation_id=second.id)
    assert refused.value.field == "site" and "cy-2025" in str(refused.value)
    with pytest.raises(links.LinkError) as unused:
        links.create_link(db, "public-awareness", "poster", site_id=other_site, evaluation_id=second.id)
    assert unused.value.field == "questionnaire"
    db.execute("insert into households (evaluation_id, site_id, household_no, name, created_at)"
               " values (1, ?, 'H1', '张三', 'x')", [default_site])
    household = db.execute("select id from households").fetchone()[0]
    with pytest.raises(links.LinkError) as foreign_household:
        links.create_link(db, "elder-satisfaction", "household", site_id=other_site, household_id=household,
                          evaluation_id=second.id)
    assert foreign_household.value.field == "household"
    assert count(db, "links") == 0
    code = links.create_link(db, "elder-satisfaction", "poster", site_id=other_site, evaluation_id=second.id)
    assert links.get_link(db, code)["evaluation_id"] == second.id
    person = Respondent(client, f"/s/{code}")
    person.answer_all(ELDER_ANSWERS)
    person.submit()
    row = db.execute("select evaluation_id, site_id, link_code from responses where submission_id = ?",
                     [person.submission_id]).fetchone()
    assert tuple(row) == (second.id, other_site, code)


def test_a_tracked_link_cannot_be_started_under_another_evaluations_address(client, db, second):
    """The form's link code decides the evaluation; posting it to another evaluation's start is 404."""
    code = links.create_link(db, "elder-satisfaction", "poster", evaluation_id=1)
    page = client.get(f"/s/{code}")
    posted = client.post(f"/e/{second.slug}/q/elder-satisfaction/start",
                         data={"csrf_token": csrf_token(page.text), "link": code})
    assert posted.status_code == 404
    assert count(db, "drafts") == 0


def test_record_requires_the_evaluation_and_one_that_uses_the_questionnaire(db, second):
    """Staff and API callers pass meta['evaluation_id']; missing or wrong is refused, field 'evaluation'."""
    questionnaire = questionnaires.get(db, "public-awareness")
    for meta in ({}, {"evaluation_id": "1"}, {"evaluation_id": True}, {"evaluation_id": 999},
                 {"evaluation_id": second.id}):
        with pytest.raises(responses.SubmissionError) as refused:
            responses.record(db, questionnaire, "api-0000-0001", PUBLIC, meta)
        assert refused.value.field == "evaluation", meta
    assert count(db) == 0
    response_id, created = responses.record(db, questionnaire, "api-0000-0001", PUBLIC, {"evaluation_id": 1})
    assert created and evaluation_of(db, "api-0000-0001") == 1


@pytest.mark.parametrize("status", ["closed", "archived"])
def test_a_closed_or_archived_evaluation_answers_calmly_everywhere_and_stores_nothing(client, db, second, status):
    """Generic, legacy, tracked links and a draft opened before closing: 200, '本次调查已结束', no form,
    no draft, no response."""
    code = links.create_link(db, "elder-satisfaction", "poster", evaluation_id=1)
    open_draft = Respondent(client, "/q/elder-satisfaction")  # opened while still collecting
    open_draft.answer_all(ELDER_ANSWERS)
    token = csrf_token(client.get(f"/r/{open_draft.submission_id}/summary").text)
    drafts_before = count(db, "drafts")
    evaluations.set_status(db, evaluations.by_id(db, 1), status)
    for path in ("/e/default/q/elder-satisfaction", "/q/elder-satisfaction", f"/s/{code}",
                 f"/r/{open_draft.submission_id}/summary", f"/r/{open_draft.submission_id}/overall"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "本次调查已结束" in page.text and "<form" not in page.text, path
    for path, data in ((f"/r/{open_draft.submission_id}/submit", {}),
                       (f"/r/{open_draft.submission_id}/overall", {"answer": "1"}),
                       ("/e/default/q/elder-satisfaction/start", {}),
                       ("/q/elder-satisfaction/start", {}),
                       ("/e/default/q/elder-satisfaction/start", {"link": code})):
        page = client.post(path, data={"csrf_token": token, **data})
        assert page.status_code == 200 and "本次调查已结束" in page.text, path
    assert count(db) == 0 and count(db, "drafts") == drafts_before
    assert responses.get_draft(db, open_draft.submission_id).answers["overall"] == ELDER_ANSWERS["overall"]
    # The other evaluation still collects the same questionnaire.
    other = Respondent(client, f"/e/{second.slug}/q/elder-satisfaction")
    other.answer_all(ELDER_ANSWERS)
    assert other.submit().status_code == 302 and count(db) == 1


def test_preparing_accepts_answers(client, db):
    """An evaluation still preparing takes answers (trial runs before collection starts)."""
    evaluations.create(db, "trial", "试填", status="preparing", questionnaires=["public-awareness"])
    person = Respondent(client, "/e/trial/q/public-awareness")
    person.answer_all(PUBLIC)
    assert person.submit().status_code == 302 and count(db) == 1


def test_front_page_lists_only_questionnaires_still_collecting(client, db):
    """After `default` closes, its questionnaires leave the public front page."""
    assert 'href="/q/elder-satisfaction"' in client.get("/").text
    evaluations.set_status(db, evaluations.by_id(db, 1), "closed")
    assert 'href="/q/elder-satisfaction"' not in client.get("/").text


def test_poster_organiser_defaults_to_the_evaluations_unit(app, client, db, second):
    """A link without an organiser prints its evaluation's project unit; its own one wins."""
    site = links.create_site(db, "xh", "新华社区", evaluation_id=second.id)
    code = links.create_link(db, "elder-satisfaction", "poster", site_id=site, evaluation_id=second.id)
    assert "朝阳区民政局" in client.get(f"/s/{code}/poster").text
    links.set_contact(db, [code], "新华社区居委会", None, None)
    poster = client.get(f"/s/{code}/poster").text
    assert "新华社区居委会" in poster and "朝阳区民政局" not in poster


def test_links_and_sites_cli_take_the_evaluation(runner, db, second):
    """`sites add` and `links create` work in the evaluation named, and need the name among several."""
    refused = runner.invoke(args=["sites", "add", "xh", "新华社区"])
    assert refused.exit_code != 0 and "cy-2025" in refused.output and "default" in refused.output
    added = runner.invoke(args=["sites", "add", "xh", "新华社区", "--evaluation", "cy-2025"])
    assert added.exit_code == 0, added.output
    made = runner.invoke(args=["links", "create", "elder-satisfaction", "--site", "xh", "--evaluation", "cy-2025"])
    assert made.exit_code == 0, made.output
    assert db.execute("select evaluation_id from links").fetchone()[0] == second.id
    wrong = runner.invoke(args=["links", "create", "elder-satisfaction", "--site", "xh", "--evaluation", "default"])
    assert wrong.exit_code != 0 and "no site with code 'xh' in evaluation 'default'" in wrong.output
