"""POST /api/submissions: once per id, CSRF with a session, the device token without one."""

import threading
from datetime import timedelta

import pytest
from conftest import csrf_token
from field_helpers import elder_payload, make_roster

from survey.web import api_submissions


@pytest.fixture
def households(db, users):
    """The test roster: {household_no: id}."""
    return make_roster(db)


def token_for(app, username):
    """A submit token as the staff app receives it."""
    with app.app_context():
        from survey.storage.db import get_db

        db = get_db()
        user_id = db.execute("select id from users where username = ?", [username]).fetchone()[0]
        return api_submissions.issue_token(db, user_id)


def count(db, table="responses"):
    """Rows in a table."""
    return db.execute(f"select count(*) from {table}").fetchone()[0]


def session_headers(client):
    """The CSRF header of a logged-in page."""
    return {"X-CSRFToken": csrf_token(client.get("/e/default/field/").text.replace('name="csrf-token" content=',
                                                                      'name="csrf_token" value='))}


def test_session_with_csrf_header_201_then_200(login, households, db):
    client = login("staff")
    payload = elder_payload(households["A001"])
    first = client.post("/api/submissions", json=payload, headers=session_headers(client))
    assert first.status_code == 201, first.json
    again = client.post("/api/submissions", json=payload, headers=session_headers(client))
    assert again.status_code == 200 and again.json == first.json
    assert count(db) == 1 and count(db, "visits") == 1
    row = db.execute("select staff_user_id, channel, consent, site_id, household_id from responses").fetchone()
    staff_id = db.execute("select id from users where username = 'staff'").fetchone()[0]
    site_id = db.execute("select site_id from households where id = ?", [households["A001"]]).fetchone()[0]
    assert row == (staff_id, "door", 1, site_id, households["A001"])


def test_session_without_csrf_header_is_refused(login, households, db):
    response = login("staff").post("/api/submissions", json=elder_payload(households["A001"]))
    assert response.status_code == 400 and response.json["field"] == "X-CSRFToken"
    assert count(db) == 0


def test_anonymous_is_refused(client, households, db):
    response = client.post("/api/submissions", json=elder_payload(households["A001"]))
    assert response.status_code == 401 and count(db) == 0


def test_token_without_session(app, client, households, db):
    token = token_for(app, "staff")
    payload = elder_payload(households["A002"])
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/submissions", json=payload, headers=headers).status_code == 201
    assert client.post("/api/submissions", json=payload, headers=headers).status_code == 200
    assert count(db) == 1


def test_expired_session_still_accepted_with_device_token(app, login, households, db):
    client = login("staff")
    page = client.get("/e/default/field/").text
    token = page.split('data-submit-token="')[1].split('"')[0]
    csrf = page.split('name="csrf-token" content="')[1].split('"')[0]
    # Days later: the session cookie is gone (expired), the page's CSRF token is stale.
    client.delete_cookie("session")
    assert client.get("/e/default/field/").status_code == 302
    payload = elder_payload(households["A001"])
    response = client.post("/api/submissions", json=payload,
                           headers={"Authorization": f"Bearer {token}", "X-CSRFToken": csrf})
    assert response.status_code == 201 and count(db) == 1


def test_token_expiry_deactivation_and_password_change_revoke(app, client, households, db):
    token = token_for(app, "staff")
    headers = {"Authorization": f"Bearer {token}"}
    app.config["FIELD_TOKEN_MAX_AGE"] = -1
    assert client.post("/api/submissions", json=elder_payload(households["A001"]), headers=headers).status_code == 401
    app.config["FIELD_TOKEN_MAX_AGE"] = int(timedelta(days=30).total_seconds())
    db.execute("update users set password_hash = 'changed' where username = 'staff'")
    assert client.post("/api/submissions", json=elder_payload(households["A001"]), headers=headers).status_code == 401
    evaluator_token = token_for(app, "evaluator")
    response = client.post("/api/submissions", json=elder_payload(households["A001"]),
                           headers={"Authorization": f"Bearer {evaluator_token}"})
    assert response.status_code == 401
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert client.post("/api/submissions", json=elder_payload(households["A001"]),
                       headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    assert count(db) == 0


def test_concurrent_duplicate_retries_store_once(app, households, db):
    token = token_for(app, "staff")
    payload = elder_payload(households["B001"])
    statuses = []

    def send():
        client = app.test_client()
        statuses.append(client.post("/api/submissions", json=payload,
                                    headers={"Authorization": f"Bearer {token}"}).status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 7 + [201]
    assert count(db) == 1 and count(db, "visits") == 1


@pytest.mark.parametrize("change, field", [
    (lambda p: p.update(id="x"), "id"),
    (lambda p: p.update(questionnaire="nope"), "questionnaire"),
    (lambda p: p["answers"].update(overall="9"), "overall"),
    (lambda p: p["answers"].pop("overall"), "overall"),
    (lambda p: p["answers"].update(unknown="1"), "unknown"),
    (lambda p: p["meta"].update(consent=0), "consent"),
    (lambda p: p["meta"].update(household_id=99999), "household_id"),
    (lambda p: p["meta"].update(channel="pigeon"), "channel"),
    (lambda p: p["meta"].update(outcome="abducted"), "outcome"),
    (lambda p: p["meta"].update(outcome="refused"), "answers"),
    (lambda p: p["meta"].update(colour="red"), "colour"),
    (lambda p: p.update(answers=["5"]), "answers"),
    (lambda p: p.update(extra=1), "extra"),
])
def test_bad_input_400_stores_nothing(app, client, households, db, change, field):
    token = token_for(app, "staff")
    payload = elder_payload(households["A001"])
    change(payload)
    response = client.post("/api/submissions", json=payload, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400, response.json
    assert response.json["field"] == field and response.json["error"]
    assert count(db) == 0 and count(db, "visits") == 0


def test_not_json_is_400(app, client, households, db):
    token = token_for(app, "staff")
    response = client.post("/api/submissions", data="not json", content_type="application/json",
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400 and response.json["field"] == "body"

