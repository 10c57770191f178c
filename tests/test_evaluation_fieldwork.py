"""Field work, managing, rosters, imports, submissions and conflicts inside one evaluation.

Two evaluations `a` and `b` have sites with the same code and households with the same
numbers; nothing of one may appear in, or be changed through, the other.
"""

import pytest
from conftest import PASSWORD, csrf_token
from field_helpers import ROSTER_CSV, elder_payload

from survey import roster, submission_schema
from survey.storage import evaluations
from survey.web import api_submissions, auth, links

B_ROSTER = ROSTER_CSV.replace("张三明", "赵六").replace("李四", "钱七").replace("王五", "孙八")


@pytest.fixture
def two(app, db, users):
    """Evaluation `a` (the `default` one, renamed in spirit) and a second `b` with the same
    sites and household numbers, other names; users: manager_a, staff_b, staff_ab (staff
    in both), viewer_a, evaluator_b. Returns ids of everything."""
    a = evaluations.get(db, "default")
    b = evaluations.create(db, "b", "第二个评价项目")
    for evaluation in (a, b):
        links.create_site(db, "xh", "新华社区", evaluation_id=evaluation.id)
        links.create_site(db, "df", "东风社区", evaluation_id=evaluation.id)
    roster.import_roster(db, "a.csv", ROSTER_CSV.encode(), a.id)
    roster.import_roster(db, "b.csv", B_ROSTER.encode(), b.id)
    people = {}
    for username, grants in (("manager_a", {a.id: "manager"}), ("staff_b", {b.id: "staff"}),
                             ("staff_ab", {a.id: "staff", b.id: "staff"}), ("viewer_a", {a.id: "viewer"}),
                             ("evaluator_b", {b.id: "evaluator"})):
        role = next(iter(grants.values()))
        people[username] = auth.create_user(db, username, PASSWORD, role, evaluation_id=a.id if a.id in grants
                                            else b.id)
        for evaluation_id, granted in grants.items():
            evaluations.grant(db, people[username], evaluation_id, granted)
    households = {slug: {r["household_no"]: r["id"] for r in roster.households(db, evaluation_id=e.id)}
                  for slug, e in (("a", a), ("b", b))}
    return {"a": a, "b": b, "users": people, "households": households}


def headers(client, slug):
    """The CSRF header of a logged-in field page."""
    page = client.get(f"/e/{slug}/field/").text
    return {"X-CSRFToken": csrf_token(page.replace('name="csrf-token" content=', 'name="csrf_token" value='))}


def test_field_pages_show_only_their_evaluation(login, two):
    client = login("staff_b")
    page = client.get("/e/b/field/")
    assert page.status_code == 200 and "赵*" in page.text and "张*明" not in page.text
    assert client.get("/e/default/field/").status_code == 404  # no role in a: as if it did not exist
    assert client.get("/e/nope/field/").status_code == 404
    # A household of the other evaluation cannot be opened through this one.
    other = two["households"]["a"]["A001"]
    form = client.get(f"/e/b/field/form/elder-satisfaction?household={other}")
    assert form.status_code == 200 and "张*明" not in form.text
    assert client.get(f"/e/b/field/call/{other}").status_code == 403


def test_roles_inside_an_evaluation(login, two):
    manager = login("manager_a")
    assert manager.get("/e/default/manage/sites").status_code == 200
    assert manager.get("/e/b/manage/sites").status_code == 404
    assert manager.get("/manage/users").status_code == 403  # the global user list is for admins
    staff = login("staff_b")
    assert staff.get("/e/b/manage/").status_code == 403
    assert staff.get("/e/b/conflicts/").status_code == 403
    viewer = login("viewer_a")
    for path in ("/e/default/field/", "/e/default/field/roster", "/e/default/field/roster.csv",
                 "/e/default/manage/rosters", "/e/default/conflicts/"):
        assert viewer.get(path).status_code == 403, path
    assert login("evaluator_b").get("/e/b/conflicts/").status_code == 200


def test_evaluator_roster_is_masked_and_of_its_evaluation(login, two):
    text = login("evaluator_b").get("/e/b/field/roster.csv").get_data(as_text=True)
    assert "赵*" in text and "赵六" not in text and "张" not in text


def test_same_site_code_in_two_evaluations_and_refused_twice_in_one(login, two, db):
    client = login("manager_a")
    page = client.get("/e/default/manage/sites")
    client.post("/e/default/manage/sites", data={"csrf_token": csrf_token(page.text), "code": "xh", "name": "重复"})
    assert db.execute("select count(*) from sites where code = 'xh'").fetchone()[0] == 2
    client.post("/e/default/manage/sites", data={"csrf_token": csrf_token(page.text), "code": "new",
                                                 "name": "新站点"})
    assert db.execute("select evaluation_id from sites where code = 'new'").fetchall() == [(two["a"].id,)]


def test_members_page_grants_and_revokes_in_this_evaluation_only(login, two, db):
    client = login("manager_a")
    page = client.get("/e/default/manage/members")
    assert page.status_code == 200 and "staff_ab" in page.text and "staff_b" in page.text
    staff_b = two["users"]["staff_b"]
    token = csrf_token(page.text)
    assert client.post("/e/default/manage/members", data={"csrf_token": token, "user_id": staff_b,
                                                           "role": "owner"}).status_code == 302
    assert evaluations.role_of(db, staff_b, two["a"].id) is None  # a role that does not exist: nothing
    client.post("/e/default/manage/members", data={"csrf_token": token, "user_id": staff_b, "role": "viewer"})
    assert evaluations.role_of(db, staff_b, two["a"].id) == "viewer"
    assert evaluations.role_of(db, staff_b, two["b"].id) == "staff"
    client.post("/e/default/manage/members", data={"csrf_token": token, "user_id": staff_b, "revoke": "1"})
    assert evaluations.role_of(db, staff_b, two["a"].id) is None
    assert evaluations.role_of(db, staff_b, two["b"].id) == "staff"
    logged = db.execute("select action, detail, evaluation_id from audit_log where action like 'member_%'"
                        " order by id").fetchall()
    assert logged == [("member_granted", "staff_b viewer", two["a"].id), ("member_revoked", "staff_b", two["a"].id)]
    assert "member_granted" not in login("manager_a").get("/e/default/manage/audit?action=x").text


def test_audit_page_lists_only_its_evaluation(login, two, db):
    from survey.storage import audit

    audit.log(db, "site_added", "secret-of-b", user="cli", evaluation_id=two["b"].id)
    audit.log(db, "site_added", "visible-in-a", user="cli", evaluation_id=two["a"].id)
    text = login("manager_a").get("/e/default/manage/audit").text
    assert "visible-in-a" in text and "secret-of-b" not in text


def test_assignments_stay_inside_their_evaluation(login, two, db):
    client = login("manager_a")
    page = client.get("/e/default/manage/assignments")
    assert "staff_ab" in page.text and "staff_b" not in page.text  # only a's field staff are offered
    token = csrf_token(page.text)
    site_b = db.execute("select id from sites where evaluation_id = ? and code = 'xh'", [two["b"].id]).fetchone()[0]
    refused = client.post("/e/default/manage/assignments", follow_redirects=True,
                          data={"csrf_token": token, "user_id": two["users"]["staff_ab"], "site_id": site_b})
    assert "不属于本评价项目" in refused.text
    client.post("/e/default/manage/assignments", data={"csrf_token": token, "user_id": two["users"]["staff_b"],
                                                       "household_no": "A001"})
    assert db.execute("select count(*) from assignments").fetchone()[0] == 0  # staff_b works in b only
    client.post("/e/default/manage/assignments", data={"csrf_token": token, "user_id": two["users"]["staff_ab"],
                                                       "household_no": "A001"})
    row = db.execute("select evaluation_id, household_id from assignments").fetchone()
    assert row == (two["a"].id, two["households"]["a"]["A001"])
    # b's manager (an admin here) cannot remove a's assignment through b.
    admin = login("admin")
    page_b = admin.get("/e/b/manage/assignments")
    assignment_id = db.execute("select id from assignments").fetchone()[0]
    admin.post("/e/b/manage/assignments", data={"csrf_token": csrf_token(page_b.text), "remove": assignment_id})
    assert db.execute("select count(*) from assignments").fetchone()[0] == 1


def test_roster_import_uses_the_evaluations_own_sites(two, db):
    other = evaluations.create(db, "c", "第三个")
    with pytest.raises(roster.RosterError, match="没有站点“新华社区”"):
        roster.import_roster(db, "c.csv", ROSTER_CSV.encode(), other.id)
    assert db.execute("select count(*) from households where evaluation_id = ?", [other.id]).fetchone()[0] == 0


def test_submission_names_its_evaluation(login, two, db):
    client = login("staff_ab")
    payload = elder_payload(two["households"]["b"]["A001"])
    refused = client.post("/api/submissions", json=payload, headers=headers(client, "b"))
    assert refused.status_code == 400 and refused.json["field"] == "evaluation"
    assert "b" in refused.json["error"] and "default" in refused.json["error"]
    wrong = client.post("/api/submissions", json=dict(payload, evaluation="default"), headers=headers(client, "b"))
    assert wrong.status_code == 400 and wrong.json["field"] == "household_id"  # b's household, sent to a
    stored = client.post("/api/submissions", json=dict(payload, evaluation="b"), headers=headers(client, "b"))
    assert stored.status_code == 201, stored.json
    assert db.execute("select evaluation_id, household_id from responses").fetchall() == \
        [(two["b"].id, two["households"]["b"]["A001"])]
    assert db.execute("select evaluation_id from visits").fetchall() == [(two["b"].id,)]
    assert count_rows(db) == 1
    again = client.post("/api/submissions", json=dict(payload, evaluation="b"), headers=headers(client, "b"))
    assert again.status_code == 200 and count_rows(db) == 1
    # The same id sent to the other evaluation is not a retry: kept for review there, 409.
    elsewhere = dict(payload, evaluation="default", meta=dict(payload["meta"],
                                                              household_id=two["households"]["a"]["A001"]))
    moved = client.post("/api/submissions", json=elsewhere, headers=headers(client, "b"))
    assert moved.status_code == 409 and count_rows(db) == 1
    assert db.execute("select evaluation_id from submission_conflicts").fetchall() == [(two["a"].id,)]


def count_rows(db):
    """Stored responses."""
    return db.execute("select count(*) from responses").fetchone()[0]


def test_submission_to_an_evaluation_without_a_field_role(app, two, db):
    with app.app_context():
        from survey.storage.db import get_db

        user = auth.User(next(iter(get_db().query("select * from users where username = 'staff_b'"))))
        payload = elder_payload(two["households"]["b"]["A001"])
        assert api_submissions.store(get_db(), payload, user)[1] is True  # only b: used without naming it
        for slug, status in (("default", 404), ("nope", 404)):
            with pytest.raises(api_submissions.BadSubmission) as refused:
                api_submissions.store(get_db(), dict(elder_payload(two["households"]["a"]["A002"]),
                                                     evaluation=slug), user)
            assert (refused.value.field, refused.value.status) == ("evaluation", status)
        evaluator = auth.User(next(iter(get_db().query("select * from users where username = 'evaluator_b'"))))
        with pytest.raises(api_submissions.BadSubmission) as refused:
            api_submissions.store(get_db(), dict(payload, evaluation="b"), evaluator)
        assert (refused.value.field, refused.value.status) == ("evaluation", 403)
    assert count_rows(db) == 1


def test_schema_accepts_the_evaluation_and_refuses_a_bad_slug():
    body = {"id": "abcdefgh-1", "questionnaire": "elder-satisfaction", "evaluation": "b"}
    assert submission_schema.check(dict(body))["evaluation"] == "b"
    with pytest.raises(submission_schema.SchemaError) as refused:
        submission_schema.check(dict(body, evaluation="B B"))
    assert refused.value.field == "evaluation"


def test_conflicts_of_one_evaluation_stay_there(login, two, db):
    a_user = auth.User(next(iter(db.query("select * from users where username = 'staff_ab'"))))
    conflict_id = api_submissions.keep_conflict(db, {"id": "conflict-1", "questionnaire": "elder-satisfaction"},
                                                a_user, "response", two["a"].id)
    b_conflict = api_submissions.keep_conflict(db, {"id": "conflict-b", "questionnaire": "elder-satisfaction"},
                                               a_user, "response", two["b"].id)
    client = login("evaluator_b")
    page = client.get("/e/b/conflicts/")
    assert "conflict-b" in page.text and "conflict-1" not in page.text
    token = csrf_token(page.text)
    assert client.post(f"/e/b/conflicts/{conflict_id}", data={"csrf_token": token,
                                                              "decision": "kept_first"}).status_code == 302
    assert client.post(f"/e/b/conflicts/{b_conflict}", data={"csrf_token": token,
                                                             "decision": "kept_first"}).status_code == 302
    assert db.execute("select submission_id, status from submission_conflicts order by id").fetchall() == \
        [("conflict-1", "pending"), ("conflict-b", "kept_first")]
    assert "conflict-1" in login("admin").get("/e/default/conflicts/").text


def test_old_field_address_leads_to_the_only_field_evaluation(login, two):
    response = login("staff_b").get("/field/?q=elder-satisfaction")
    assert response.status_code == 302 and response.location.endswith("/e/b/field/?q=elder-satisfaction")
    several = login("staff_ab").get("/field/")
    assert several.status_code == 302 and several.location.endswith("/admin/")
