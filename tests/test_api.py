"""The read-only evaluator API: tokens, 401 without one, filters, and conformance to its
own OpenAPI document (schemathesis)."""

import tempfile
from pathlib import Path

import pytest
import schemathesis
from evaluate_helpers import Maker, elder
from hypothesis import HealthCheck, settings

from app import create_app
from survey.storage.db import get_db
from survey.web import api
from survey.web.auth import create_user
from survey.web.scores import store_system


def make_app(folder):
    """An app on a fresh database in `folder`, with some responses and an evaluator token."""
    app = create_app({"TESTING": True, "SECRET_KEY": "api-tests", "DATABASE": str(Path(folder) / "api.sqlite")})
    with app.app_context():
        db = get_db()
        create_user(db, "evaluator", "correct-horse-battery", "evaluator")
        create_user(db, "staff", "correct-horse-battery", "staff")
        make = Maker(db)
        site = make.site("xinhua", "新华社区", population=120)
        for overall in ("5", "4", "4", "3", "2", "5"):
            make.add(elder(overall=overall, respondent="self"), site_id=site)
        make.add(elder(overall="5", respondent="assisted"), channel="door")
        token = api.create_token(db, "evaluator")
        store_system(db, 1, "热线满意度", "hotline-survey.yaml", SURVEY_SYSTEM)
    return app, token


# A small system whose satisfaction leaf reads the stored elder-satisfaction responses.
SURVEY_SYSTEM = """
project: 测试项目
period: "2024"
indicators:
  - name: 产出
    weight: 90
    rule: judged
    score: 90
    reason: 测试用
  - name: 满意度
    weight: 10
    children:
      - name: 老年人满意度
        weight: 10
        rule: rate
        full_at: 0.9
        source: {survey: elder-satisfaction, measure: satisfaction_rate}
"""


# One app for the schemathesis run, built at import (schemathesis needs the schema to parametrize).
_FOLDER = tempfile.mkdtemp(prefix="api-test-")
APP, TOKEN = make_app(_FOLDER)
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case):
    """No 5xx, and every answer matches the document (status codes, content type, schema)."""
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"})


@pytest.fixture
def api_app(tmp_path):
    """A fresh app and an evaluator's token."""
    return make_app(tmp_path)


def test_without_a_token_the_api_answers_401(api_app):
    app, _token = api_app
    client = app.test_client()
    for path in ("/api/v1/questionnaires", "/api/v1/measures/elder-satisfaction"):
        response = client.get(path)
        assert response.status_code == 401 and response.json["error"]
        assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/v1/openapi.json").status_code == 200  # the document is public


def test_a_back_office_session_is_not_a_token(api_app):
    app, _token = api_app
    client = app.test_client()
    from conftest import csrf_token

    page = client.get("/login")
    client.post("/login", data={"csrf_token": csrf_token(page.text), "username": "evaluator",
                                "password": "correct-horse-battery"})
    assert client.get("/e/default/evaluate/").status_code == 200
    assert client.get("/api/v1/questionnaires").status_code == 401


def test_a_token_does_not_open_the_back_office(api_app):
    app, token = api_app
    response = app.test_client().get("/e/default/evaluate/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 302 and "/login" in response.location


def test_measures_with_filters_and_breakdown(api_app):
    app, token = api_app
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    listing = client.get("/api/v1/questionnaires", headers=auth).json["questionnaires"]
    assert "satisfaction_rate" in next(q for q in listing if q["id"] == "elder-satisfaction")["measures"]
    everything = client.get("/api/v1/measures/elder-satisfaction", headers=auth).json
    assert everything["measures"]["satisfaction_rate"]["n"] == 7
    assert everything["measures"]["satisfaction_rate"]["successes"] == 5
    own = client.get("/api/v1/measures/elder-satisfaction?respondent_type=self&site=xinhua", headers=auth).json
    rate = own["measures"]["satisfaction_rate"]
    assert (rate["n"], rate["successes"], rate["value"]) == (6, 4, 0.6667)
    assert rate["ci95"] == [0.3, 0.9032] and own["filters"] == {"respondent_type": "self", "site": "xinhua"}
    split = client.get("/api/v1/measures/elder-satisfaction?by=channel", headers=auth).json
    groups = {g["group"]: g["n"] for g in split["breakdown"]["satisfaction_rate"]}
    assert groups == {"door": 1, "qr": 6}
    bad = client.get("/api/v1/measures/elder-satisfaction?period_from=yesterday", headers=auth)
    assert bad.status_code == 400 and "period_from" in bad.json["error"]
    assert client.get("/api/v1/measures/elder-satisfaction?by=colour", headers=auth).status_code == 400
    assert client.get("/api/v1/measures/nothing", headers=auth).status_code == 404


def test_tokens_cli_creates_once_and_revokes(api_app):
    app, _token = api_app
    runner = app.test_cli_runner()
    created = runner.invoke(args=["tokens", "create", "evaluator"])
    assert created.exit_code == 0
    token = created.output.strip()
    client = app.test_client()
    assert client.get("/api/v1/questionnaires", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with app.app_context():
        stored = [row[0] for row in get_db().execute("select token_hash from api_tokens")]
    assert token not in stored and len(stored) == 2
    refused = runner.invoke(args=["tokens", "create", "staff"])
    assert refused.exit_code != 0 and "is not an active admin, manager, evaluator or viewer" in refused.output
    assert runner.invoke(args=["tokens", "revoke", "evaluator"]).exit_code == 0
    assert client.get("/api/v1/questionnaires", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_scores_list_and_one_system_scored_with_filters(api_app):
    """/scores lists the systems; /scores/<id> scores one, its survey leaf fed by the filtered measures."""
    app, token = api_app
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    systems = client.get("/api/v1/scores", headers=headers).json["systems"]
    assert [s["name"] for s in systems] == ["热线满意度"]
    body = client.get(f"/api/v1/scores/{systems[0]['id']}", headers=headers).json
    # 7 responses, 5 satisfied (5, 4, 4, 5 by self and 5 assisted): 0.7143 x 10 = 7.14
    assert body["measured"]["满意度 / 老年人满意度"]["n"] == 7
    assert body["total"] == 97.14 and body["grade"] == "优"
    only_self = client.get(f"/api/v1/scores/{systems[0]['id']}?respondent_type=self", headers=headers).json
    assert only_self["measured"]["满意度 / 老年人满意度"]["n"] == 6 and only_self["total"] == 96.67
    nobody = client.get(f"/api/v1/scores/{systems[0]['id']}?site=nowhere", headers=headers)
    assert nobody.status_code == 409 and "老年人满意度" in nobody.json["error"]
    assert client.get("/api/v1/scores/999", headers=headers).status_code == 404
    assert client.get(f"/api/v1/scores/{systems[0]['id']}").status_code == 401
