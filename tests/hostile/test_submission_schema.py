"""Issue 12: POST /api/submissions against malformed, out-of-window, replayed and mixed-up bodies.

Every malformed body gets a 4xx naming the field and stores nothing; a replay with other
answers gets 409 and is kept for review; a visit and an interview cannot share an id.
"""

import copy
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from field_helpers import elder_payload, make_roster
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from survey import submission_schema
from survey.web import api_submissions


@pytest.fixture
def households(db, users):
    """The test roster: {household_no: id}."""
    return make_roster(db)


@pytest.fixture
def auth_headers(app, users):
    """The staff app's bearer token header."""
    with app.app_context():
        from survey.storage.db import get_db

        db = get_db()
        user_id = db.execute("select id from users where username = 'staff'").fetchone()[0]
        return {"Authorization": f"Bearer {api_submissions.issue_token(db, user_id)}"}


def stored(db):
    """Rows in every table a submission writes."""
    return tuple(db.execute(f"select count(*) from {t}").fetchone()[0]
                 for t in ("responses", "answers", "visits"))


def post(client, headers, body):
    """POST a body: a dict as JSON, bytes or str as they are."""
    if isinstance(body, dict):
        return client.post("/api/submissions", json=body, headers=headers)
    return client.post("/api/submissions", data=body, content_type="application/json", headers=headers)


def _nested(depth):
    """A body whose answers hold a list nested `depth` deep."""
    return '{"id": "abcdefgh-1", "questionnaire": "elder-satisfaction", "answers": {"x": ' \
        + "[" * depth + "]" * depth + "}}"


def _with(change):
    """A valid payload (household filled in by the test) changed by `change(payload)`."""
    def build(household_id):
        payload = elder_payload(household_id)
        change(payload)
        return payload
    return build


def _set_meta(**values):
    return _with(lambda p: p["meta"].update(values))


def _set_answer(**values):
    return _with(lambda p: p["answers"].update(values))


FAR_FUTURE = "2099-01-01T00:00:00Z"
# (name, body builder, field named in the 4xx). Before the fix the first group answered
# 500 and the second was stored.
MALFORMED = [
    ("meta a number", _with(lambda p: p.update(meta=5)), "meta"),
    ("meta a string", _with(lambda p: p.update(meta="door")), "meta"),
    ("meta a list", _with(lambda p: p.update(meta=["door"])), "meta"),
    ("arabic-indic digits in household_id", _set_meta(household_id="١٢"), "household_id"),
    ("superscript digits in household_id", _set_meta(household_id="²"), "household_id"),
    ("fullwidth digits in site_id", _set_meta(site_id="１"), "site_id"),
    ("devanagari digits in consent", _set_meta(consent="१"), "consent"),
    ("year 1", _set_meta(submitted_at="0001-01-01T00:00:00Z"), "submitted_at"),
    ("year 9999", _set_meta(submitted_at="9999-12-31T23:59:59Z"), "submitted_at"),
    ("started in year 1", _set_meta(started_at="0001-01-01T00:00:00"), "started_at"),
    ("impossible date", _set_meta(submitted_at="2026-02-30T00:00:00Z"), "submitted_at"),
    ("living_alone 7", _set_meta(living_alone=7), "living_alone"),
    ("consent 9", _set_meta(consent=9), "consent"),
    ("consent true", _set_meta(consent=True), "consent"),
    ("script age band", _set_meta(age_band="<script>alert(1)</script>"), "age_band"),
    ("submitted in 2099", _set_meta(submitted_at=FAR_FUTURE), "submitted_at"),
    ("negative duration", _set_meta(started_at="2026-01-02T10:00:00Z", submitted_at="2026-01-02T09:00:00Z"),
     "started_at"),
    ("object as a text answer", _set_answer(suggestion={"a": 1}), "suggestion"),
    ("true as a text answer", _set_answer(suggestion=True), "suggestion"),
    ("list of objects as a multi answer", _set_answer(services=[{"x": 1}]), "services"),
    ("id with a trailing newline", _with(lambda p: p.update(id="abcdefgh-1\n")), "id"),
    ("id with a tab", _with(lambda p: p.update(id="abcdefgh\t1")), "id"),
    ("id with non-ASCII digits", _with(lambda p: p.update(id="abcdefgh-١٢")), "id"),
    ("id a number", _with(lambda p: p.update(id=12345678)), "id"),
    ("questionnaire a list", _with(lambda p: p.update(questionnaire=["elder-satisfaction"])), "questionnaire"),
    ("channel with a newline", _set_meta(channel="door\n"), "channel"),
    ("note an object", _set_meta(note={"a": 1}), "note"),
    ("a 3,000-character text answer", _set_answer(suggestion="长" * 3000), "suggestion"),
    ("an answer to a hidden question", _set_answer(item_device_ease="5"), "item_device_ease"),
]
RAW = [
    ("NaN as text", lambda h: json.dumps(elder_payload(h)).replace('"设备', "NaN").replace(
        '"80-89"', "NaN"), "body"),
    ("Infinity as a number", lambda h: json.dumps(elder_payload(h)).replace('"5"', "Infinity"), "body"),
    ("a lone surrogate in text", lambda h: json.dumps(dict(elder_payload(h), answers=dict(
        elder_payload(h)["answers"], suggestion="x"))).replace('"x"', '"\\ud800"'), "suggestion"),
    ("a lone surrogate in an answer key", lambda h: json.dumps(elder_payload(h)).replace(
        '"overall"', '"\\udfff"'), "answers"),
    ("JSON nested 5,000 deep", lambda h: _nested(5000), "body"),
    ("JSON nested 5 deep", lambda h: _nested(3), "body"),
    ("a key given twice", lambda h: json.dumps(elder_payload(h))[:-1] + ', "id": "zzzzzzzz-2"}', "id"),
    ("not UTF-8", lambda h: json.dumps(elder_payload(h, note="没人在家"), ensure_ascii=False).encode("gb18030"),
     "body"),
    ("truncated", lambda h: json.dumps(elder_payload(h))[:40], "body"),
]


@pytest.mark.parametrize("name, build, field", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_json_4xx_naming_the_field_and_nothing_stored(client, households, auth_headers, db,
                                                                  name, build, field):
    response = post(client, auth_headers, build(households["A001"]))
    assert response.status_code == 400, (name, response.status_code, response.get_data(as_text=True)[:300])
    assert response.json["field"] == field and response.json["error"], response.json
    assert stored(db) == (0, 0, 0)


@pytest.mark.parametrize("name, build, field", RAW, ids=[r[0] for r in RAW])
def test_malformed_bytes_4xx_naming_the_field_and_nothing_stored(client, households, auth_headers, db,
                                                                   name, build, field):
    response = post(client, auth_headers, build(households["A001"]))
    assert response.status_code == 400, (name, response.status_code, response.get_data(as_text=True)[:300])
    assert response.json["field"] == field, response.json
    assert stored(db) == (0, 0, 0)


def test_control_characters_are_stripped_from_text_answers(client, households, auth_headers, db):
    payload = elder_payload(households["A001"])
    payload["answers"]["suggestion"] = "电话\x07打不通\x1b[31m\n第二行"
    assert post(client, auth_headers, payload).status_code == 201
    assert db.execute("select value from answers where question_id = 'suggestion'").fetchone()[0] \
        == "电话打不通[31m\n第二行"


def test_a_time_within_the_clock_skew_is_accepted(client, households, auth_headers):
    soon = (datetime.now(timezone.utc) + timedelta(minutes=5)).isoformat(timespec="seconds")
    assert post(client, auth_headers, elder_payload(households["A001"], submitted_at=soon)).status_code == 201


def test_evaluation_start_is_configurable(app, client, households, auth_headers):
    app.config["EVALUATION_START"] = "2026-06-01"
    early = post(client, auth_headers, elder_payload(households["A001"], submitted_at="2026-05-31T23:00:00Z"))
    assert early.status_code == 400 and early.json["field"] == "submitted_at"


def test_replay_with_other_answers_is_409_and_kept_for_review(client, households, auth_headers, db):
    first = elder_payload(households["A001"])
    assert post(client, auth_headers, first).status_code == 201
    assert post(client, auth_headers, first).status_code == 200  # a plain retry
    second = copy.deepcopy(first)
    second["answers"]["overall"] = "1"
    response = post(client, auth_headers, second)
    assert response.status_code == 409 and response.json["field"] == "id" and response.json["conflict_id"]
    assert post(client, auth_headers, second).status_code == 409  # a retry of the conflict: kept once
    assert db.execute("select value from answers where question_id = 'overall'").fetchone()[0] == "5"
    kept = db.execute("select submission_id, kind, payload, status from submission_conflicts").fetchall()
    assert len(kept) == 1 and kept[0][0] == first["id"] and kept[0][1] == "response" and kept[0][3] == "pending"
    assert json.loads(kept[0][2])["answers"]["overall"] == "1"
    assert stored(db)[0] == 1


def test_a_visit_and_an_interview_cannot_share_an_id(client, households, auth_headers, db):
    visit = {"id": str(uuid.uuid4()), "questionnaire": "elder-satisfaction", "answers": {},
             "meta": {"channel": "door", "household_id": households["A001"], "outcome": "not_home"}}
    assert post(client, auth_headers, visit).status_code == 201
    interview = elder_payload(households["A001"], submission_id=visit["id"])
    assert post(client, auth_headers, interview).status_code == 409
    assert stored(db)[0] == 0
    other = elder_payload(households["A002"])
    assert post(client, auth_headers, other).status_code == 201
    late_visit = dict(visit, id=other["id"], meta=dict(visit["meta"], household_id=households["A002"]))
    assert post(client, auth_headers, late_visit).status_code == 409
    assert db.execute("select outcome from visits where submission_id = ?", [other["id"]]).fetchone()[0] == "completed"
    assert db.execute("select count(*) from submission_conflicts").fetchone()[0] == 2


def test_a_visit_replayed_with_another_outcome_is_409(client, households, auth_headers, db):
    visit = {"id": str(uuid.uuid4()), "questionnaire": "elder-satisfaction", "answers": {},
             "meta": {"channel": "door", "household_id": households["A001"], "outcome": "not_home"}}
    assert post(client, auth_headers, visit).status_code == 201
    assert post(client, auth_headers, visit).status_code == 200
    visit["meta"]["outcome"] = "refused"
    assert post(client, auth_headers, visit).status_code == 409


def test_the_schema_is_served_and_is_the_one_the_api_uses(client):
    response = client.get("/api/submissions/schema.json")
    assert response.status_code == 200 and response.json == submission_schema.SCHEMA
    assert response.json["properties"]["id"]["pattern"] == submission_schema.ID_PATTERN


# The end-to-end fuzz: arbitrary JSON values in every place of a valid body, through the app.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)
PLACES = ["id", "questionnaire", "answers", "meta", "meta.consent", "meta.living_alone", "meta.household_id",
          "meta.submitted_at", "meta.started_at", "meta.channel", "meta.age_band", "meta.outcome", "meta.note",
          "answers.overall", "answers.services", "answers.suggestion", "answers.age_band"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(place=st.sampled_from(PLACES), value=JSON_VALUES)
def test_fuzz_any_value_anywhere_is_stored_cleanly_or_refused_with_a_field(
        client, households, auth_headers, db, place, value):
    payload = elder_payload(households["A001"])
    target, _, key = place.partition(".")
    if key:
        payload[target][key] = value
    else:
        payload[target] = value
    before = stored(db)
    response = post(client, auth_headers, payload)
    assert response.status_code in (200, 201, 400, 409), (place, value, response.status_code)
    if response.status_code in (400, 409):
        assert response.json["field"] and response.json["error"]
        assert stored(db) == before
    else:
        row = db.execute("select consent, living_alone, submitted_at, started_at from responses"
                         " where submission_id = ?", [payload["id"]]).fetchone()
        assert row[0] in (0, 1, None) and row[1] in (0, 1, None)
        assert row[2] <= (datetime.now(timezone.utc) + timedelta(minutes=11)).isoformat()
        for (value_,) in db.execute("select value from answers"):
            assert isinstance(value_, str)
        db.execute("delete from answers")
        db.execute("delete from visits")
        db.execute("delete from responses")
        db.conn.commit()


def _conflicting(client, headers, households):
    """Store a response, then replay its id with overall 1; return the first payload."""
    first = elder_payload(households["A001"])
    assert post(client, headers, first).status_code == 201
    second = copy.deepcopy(first)
    second["answers"]["overall"] = "1"
    assert post(client, headers, second).status_code == 409
    return first


def test_an_evaluator_uses_the_second_version(app, client, households, auth_headers, db):
    from conftest import csrf_token
    _conflicting(client, auth_headers, households)
    reviewer = app.test_client()
    page = reviewer.get("/login")
    reviewer.post("/login", data={"csrf_token": csrf_token(page.text), "username": "evaluator",
                                  "password": "correct-horse-battery"})
    page = reviewer.get("/e/default/conflicts/")
    assert page.status_code == 200 and "采用第二份" in page.text and 'class="differs"' in page.text
    conflict_id = db.execute("select id from submission_conflicts").fetchone()[0]
    response = reviewer.post(f"/e/default/conflicts/{conflict_id}", data={"csrf_token": csrf_token(page.text),
                                                              "decision": "used_second"})
    assert response.status_code == 302
    assert db.execute("select value from answers where question_id = 'overall'").fetchone()[0] == "1"
    assert db.execute("select status, decided_by from submission_conflicts").fetchone() == ("used_second", "evaluator")
    assert stored(db)[0] == 1
    again = reviewer.post(f"/e/default/conflicts/{conflict_id}", data={"csrf_token": csrf_token(page.text),
                                                           "decision": "kept_first"})
    assert again.status_code == 302
    assert db.execute("select status from submission_conflicts").fetchone()[0] == "used_second"


def test_keeping_the_first_changes_no_answer_and_staff_cannot_decide(app, client, households, auth_headers, db):
    from conftest import csrf_token
    _conflicting(client, auth_headers, households)
    conflict_id = db.execute("select id from submission_conflicts").fetchone()[0]
    staff = app.test_client()
    page = staff.get("/login")
    staff.post("/login", data={"csrf_token": csrf_token(page.text), "username": "staff",
                               "password": "correct-horse-battery"})
    assert staff.get("/e/default/conflicts/").status_code == 403
    with app.app_context():
        from survey.storage.db import get_db
        from survey.web import conflicts
        conflicts.decide(get_db(), 1, conflict_id, "kept_first", "evaluator")
    assert db.execute("select value from answers where question_id = 'overall'").fetchone()[0] == "5"
    assert db.execute("select status from submission_conflicts").fetchone()[0] == "kept_first"


def test_an_empty_key_is_refused_naming_its_section(client, households, auth_headers, db):
    """Found by the fuzz: {"": "\\x1f"} in meta was refused with an empty field name."""
    payload = elder_payload(households["A001"])
    payload["meta"][""] = "\x1f"
    response = post(client, auth_headers, payload)
    assert response.status_code == 400
    assert response.json["field"] == "meta" and response.json["error"]
    assert stored(db)[0] == 0
