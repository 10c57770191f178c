"""The staff side: open a household, interview at the door or by phone, or record why not."""

import pytest
from conftest import csrf_token
from field_helpers import elder_payload, make_roster

from scoring.indicators import UnknownMeasureError
from survey.storage import measures_store as measures
from survey.storage import responses
from survey.web import api_submissions


@pytest.fixture
def households(db, users):
    """The test roster: {household_no: id}."""
    return make_roster(db)


def form_post(client, household_id, **fields):
    """Open the household's form page and post it as the no-JavaScript browser would."""
    page = client.get(f"/e/default/field/form/elder-satisfaction?household={household_id}")
    assert page.status_code == 200
    submission_id = page.text.split('name="submission_id" value="')[1].split('"')[0]
    data = {"csrf_token": csrf_token(page.text), "submission_id": submission_id,
            "household_id": str(household_id), "mode": "door", "outcome": "completed",
            "respondent_type": "self", "consent": "1", "a-services": ["meals", "hotline"],
            "a-overall": "4", "a-age_band": "80-89", "a-living_alone": "1"}
    data.update(fields)
    data = {k: v for k, v in data.items() if v is not None}
    return client.post("/e/default/field/form/elder-satisfaction", data=data), submission_id


def test_staff_opens_household_and_interviews_by_phone_as_proxy(login, households, db):
    client = login("staff")
    listing = client.get("/e/default/field/")
    assert "A001" in listing.text and "张*明" in listing.text and "未访" in listing.text
    page = client.get(f"/e/default/field/form/elder-satisfaction?household={households['A001']}")
    for words in ("入户", "电话", "本人", "代答", "知情同意", "不在家", "拒访", "无法联系", "已故", "迁出", "张*明"):
        assert words in page.text
    response, submission_id = form_post(client, households["A001"], mode="phone", respondent_type="proxy")
    assert response.status_code == 302
    row = db.execute("select channel, respondent_type, consent, household_id, source from responses"
                     " where submission_id = ?", [submission_id]).fetchone()
    assert row == ("phone", "proxy", 1, households["A001"], "field")
    stored = responses.answers_of(db, db.execute("select id from responses").fetchone()[0])
    assert stored["respondent"] == ["proxy"] and stored["services"] == ["hotline", "meals"]
    visit = db.execute("select mode, outcome, response_id is not null from visits").fetchone()
    assert visit == ("phone", "completed", 1)
    assert "已完成" in client.get("/e/default/field/").text


def test_consent_is_required(login, households, db):
    response, _ = form_post(login("staff"), households["A001"], consent=None)
    assert response.status_code == 400 and "知情同意" in response.text
    assert db.execute("select count(*) from responses").fetchone()[0] == 0


@pytest.mark.parametrize("outcome, label", [("not_home", "不在家"), ("refused", "拒访"), ("unreachable", "无法联系"),
                                            ("deceased", "已故"), ("moved", "迁出")])
def test_outcome_without_interview_is_a_visit(login, households, db, outcome, label):
    client = login("staff")
    response, submission_id = form_post(client, households["A002"], outcome=outcome, consent=None,
                                        note="邻居说去女儿家了")
    assert response.status_code == 302
    assert db.execute("select count(*) from responses").fetchone()[0] == 0
    row = db.execute("select outcome, mode, note, household_id from visits where submission_id = ?",
                     [submission_id]).fetchone()
    assert row == (outcome, "door", "邻居说去女儿家了", households["A002"])
    assert label in client.get("/e/default/field/").text
    assert label in client.get("/e/default/field/mine").text


def test_one_household_one_response(app, login, households, db):
    client = login("staff")
    first, _ = form_post(client, households["A001"])
    assert first.status_code == 302
    second, _ = form_post(client, households["A001"], mode="phone")
    assert second.status_code == 409 and "household_id" in second.text
    with app.app_context():
        from survey.storage.db import get_db

        user_id = db.execute("select id from users where username = 'staff'").fetchone()[0]
        token = api_submissions.issue_token(get_db(), user_id)
    api = app.test_client().post("/api/submissions", json=elder_payload(households["A001"]),
                                 headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 409 and api.json["field"] == "household_id"
    assert db.execute("select count(*) from responses where household_id = ?", [households["A001"]]).fetchone()[0] == 1


def test_evaluators_cannot_collect(login, households):
    assert login("evaluator").get("/e/default/field/").status_code == 403


def test_coverage_and_followup_rates(app, login, households, db):
    client = login("staff")
    form_post(client, households["A001"], mode="door")
    form_post(client, households["A002"], outcome="not_home", consent=None)
    # B001 answers on its own household card (not a staff follow-up).
    from survey.web import links

    code = links.create_link(db, "elder-satisfaction", "household", household_id=households["B001"])
    payload = elder_payload(households["B001"], channel="household", consent=None, link_code=code)
    with app.app_context():
        from survey.storage.db import get_db

        api_submissions.store(get_db(), payload, type("U", (), {"id": None, "role": "admin"})())
    coverage = measures.compute(db, 1, "elder-satisfaction", "coverage_rate")
    assert (coverage.successes, coverage.n) == (2, 3)
    followup = measures.compute(db, 1, "elder-satisfaction", "followup_rate")
    assert (followup.successes, followup.n) == (1, 3)
    by_site = measures.compute(db, 1, "elder-satisfaction", "coverage_rate", by="site")
    assert {k: (v.successes, v.n) for k, v in by_site.items()} == {"东风社区": (1, 1), "新华社区": (1, 2)}
    xh = measures.compute(db, 1, "elder-satisfaction", "followup_rate", {"site": "xh"})
    assert (xh.successes, xh.n, xh.value) == (1, 2, 0.5)
    month = responses.now_iso()[:7]
    by_month = measures.compute(db, 1, "elder-satisfaction", "coverage_rate", by="month")
    assert {k: (v.successes, v.n) for k, v in by_month.items()} == {month: (2, 3)}
    before = measures.compute(db, 1, "elder-satisfaction", "coverage_rate", {"period_to": "2000-01"})
    assert (before.successes, before.n) == (0, 3)
    with pytest.raises(UnknownMeasureError):
        measures.compute(db, 1, "elder-satisfaction", "coverage_rate", by="age_band")


def test_seed_004_full_coverage_scores_a_rate_leaf(db, users):
    """Seed 004: all 200 households surveyed -> 100%, a `rate` leaf with a survey source scores in full."""
    from scoring import load_system, score_system
    from survey import roster
    from survey.web import links

    links.create_site(db, "v", "村")
    rows = "".join(f"老人{i},H{i:03d},村,,\n" for i in range(200))
    roster.import_roster(db, "r.csv", ("姓名,户号,站点,地址,电话\n" + rows).encode())
    staff = type("U", (), {"id": 2, "role": "admin"})()
    for household in roster.households(db):
        api_submissions.store(db, elder_payload(household["id"]), staff)
    rate = measures.compute(db, 1, "elder-satisfaction", "coverage_rate")
    assert (rate.successes, rate.n, rate.value) == (200, 200, 1.0)
    system = load_system({"project": "入户调查", "indicators": [
        {"name": "入户调查覆盖率", "weight": 100, "rule": "rate",
         "source": {"survey": "elder-satisfaction", "measure": "coverage_rate"}}]})
    result = score_system(system, measures.source_for(db, 1))
    assert str(result.total) in ("100", "100.00") and result.grade == "优"
