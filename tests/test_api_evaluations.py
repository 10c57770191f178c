"""API v1 per evaluation: the list of the token owner's evaluations, measures and scores under
/api/v1/evaluations/<slug>/, 404 without a role there, and the unscoped aliases (the owner's
only evaluation; 400 naming the choices with several)."""

import pytest
from evaluation_builders import build

from survey.storage import evaluations
from survey.storage.db import get_db
from survey.web import api
from survey.web.auth import create_user

PASSWORD = "correct-horse-battery"


@pytest.fixture
def world(app):
    """Evaluations alpha (3 of 4 satisfied) and beta (2 of 2); tokens of alpha's roles, an admin's,
    and a token of a user who is evaluator in alpha and viewer in beta."""
    with app.app_context():
        db = get_db()
        alpha = build(db, "alpha", "甲评价项目", base=100000, marker="ALFA1111", satisfied=3, unsatisfied=1)
        beta = build(db, "beta", "乙评价项目", base=200000, marker="BETA2222", satisfied=2, unsatisfied=0)
        tokens = {}
        for role in ("manager", "evaluator", "viewer"):
            create_user(db, role, PASSWORD, role, evaluation_id=alpha.evaluation.id)
            tokens[role] = api.create_token(db, role)
        both = create_user(db, "both", PASSWORD, "evaluator", evaluation_id=alpha.evaluation.id)
        evaluations.grant(db, both, beta.evaluation.id, "viewer")
        tokens["both"] = api.create_token(db, "both")
        create_user(db, "admin", PASSWORD, "admin")
        tokens["admin"] = api.create_token(db, "admin")
        create_user(db, "staff", PASSWORD, "staff", evaluation_id=alpha.evaluation.id)
    return {"alpha": alpha, "beta": beta, "tokens": tokens}


def bearer(world, who):
    """The Authorization header of `who`'s token."""
    return {"Authorization": f"Bearer {world['tokens'][who]}"}


def test_the_list_shows_only_the_owners_evaluations(client, world):
    """An evaluator of alpha sees alpha only, with their role; an admin sees all three."""
    listed = client.get("/api/v1/evaluations", headers=bearer(world, "evaluator")).json["evaluations"]
    assert [(e["slug"], e["role"], e["questionnaires"]) for e in listed] == [
        ("alpha", "evaluator", ["elder-satisfaction"])]
    admin = client.get("/api/v1/evaluations", headers=bearer(world, "admin")).json["evaluations"]
    assert sorted(e["slug"] for e in admin) == ["alpha", "beta", "default"]
    both = client.get("/api/v1/evaluations", headers=bearer(world, "both")).json["evaluations"]
    assert {e["slug"]: e["role"] for e in both} == {"alpha": "evaluator", "beta": "viewer"}


def test_measures_of_one_evaluation(client, world):
    """Measures under the slug count that evaluation's responses only, with filters and breakdowns."""
    body = client.get("/api/v1/evaluations/alpha/measures/elder-satisfaction",
                      headers=bearer(world, "viewer")).json
    assert body["evaluation"] == "alpha"
    assert (body["measures"]["satisfaction_rate"]["successes"], body["measures"]["satisfaction_rate"]["n"]) == (3, 4)
    beta = client.get("/api/v1/evaluations/beta/measures/elder-satisfaction?by=site", headers=bearer(world, "both"))
    assert beta.status_code == 200
    assert beta.json["measures"]["satisfaction_rate"]["value"] == 1.0
    assert [g["group"] for g in beta.json["breakdown"]["satisfaction_rate"]] == ["朝阳社区"]
    bad = client.get("/api/v1/evaluations/alpha/measures/elder-satisfaction?by=colour",
                     headers=bearer(world, "viewer"))
    assert bad.status_code == 400 and bad.json["error"].startswith("by:")


def test_an_evaluation_without_a_role_answers_404(client, world):
    """A token of alpha gets 404 for beta, the same as for a slug that does not exist; a
    questionnaire alpha does not use is 404 too."""
    for path in ("/api/v1/evaluations/beta/measures/elder-satisfaction", "/api/v1/evaluations/beta/scores",
                 f"/api/v1/evaluations/beta/scores/{world['beta'].system_ids[0]}",
                 "/api/v1/evaluations/nothing/scores"):
        response = client.get(path, headers=bearer(world, "evaluator"))
        assert response.status_code == 404, path
        assert "BETA2222" not in response.text
    assert client.get("/api/v1/evaluations/alpha/measures/public-awareness",
                      headers=bearer(world, "evaluator")).status_code == 404


def test_scores_of_one_evaluation(client, world):
    """The systems listed under a slug are that evaluation's; another's id is 404 there."""
    systems = client.get("/api/v1/evaluations/alpha/scores", headers=bearer(world, "manager")).json["systems"]
    assert [s["id"] for s in systems] == world["alpha"].system_ids
    scored = client.get(f"/api/v1/evaluations/alpha/scores/{systems[0]['id']}", headers=bearer(world, "manager"))
    assert scored.status_code == 200 and scored.json["evaluation"] == "alpha"
    # 3 of 4 = 0.75 of the 10-point leaf (full at 0.9, nothing below 0.6): 7.5 + 90
    assert scored.json["total"] == 97.5
    assert client.get(f"/api/v1/evaluations/alpha/scores/{world['beta'].system_ids[0]}",
                      headers=bearer(world, "admin")).status_code == 404


def test_unscoped_aliases_answer_for_the_only_evaluation_and_refuse_with_several(client, world):
    """/api/v1/measures, /scores and /scores/<id> answer for the owner's only evaluation; with
    several they answer 400 naming the owner's evaluations (and no other)."""
    only = client.get("/api/v1/measures/elder-satisfaction", headers=bearer(world, "evaluator"))
    assert only.status_code == 200 and only.json["evaluation"] == "alpha"
    listed = client.get("/api/v1/scores", headers=bearer(world, "evaluator")).json
    assert [s["id"] for s in listed["systems"]] == world["alpha"].system_ids
    for path in ("/api/v1/measures/elder-satisfaction", "/api/v1/scores",
                 f"/api/v1/scores/{world['alpha'].system_ids[0]}"):
        refused = client.get(path, headers=bearer(world, "both"))
        assert refused.status_code == 400, path
        assert "alpha" in refused.json["error"] and "beta" in refused.json["error"]
        assert "default" not in refused.json["error"]


def test_who_may_hold_a_token(app, world):
    """Managers, evaluators, viewers and admins may hold a token; staff may not."""
    with app.app_context():
        db = get_db()
        with pytest.raises(api.TokenError):
            api.create_token(db, "staff")
        assert api.user_for_token(db, world["tokens"]["viewer"])["username"] == "viewer"


def test_the_openapi_document_is_the_data_file(client):
    """The document served is survey/web/openapi.yaml with the server filled in, listing the new paths."""
    document = client.get("/api/v1/openapi.json").json
    assert document["servers"] == [{"url": "https://survey.example.cn/api/v1"}]
    for path in ("/evaluations", "/evaluations/{slug}/measures/{questionnaire_id}", "/evaluations/{slug}/scores",
                 "/evaluations/{slug}/scores/{system_id}"):
        assert path in document["paths"]
    assert document == {**api._openapi_template(), "servers": document["servers"]}
