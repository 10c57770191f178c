"""Default deny, walked over the whole url_map; and what each role may open or see."""

import re

import pytest
from conftest import csrf_token
from field_helpers import make_roster

from survey.storage.db import connect
from survey.web import auth

SAMPLE_VALUES = {"int": "1", "default": "x"}


def sample_url(rule):
    """A concrete URL for a rule, with a placeholder for every argument."""
    def fill(match):
        converter = match.group(1) or "default"
        return SAMPLE_VALUES.get(converter.split("(")[0], "x")
    return re.sub(r"<(?:(\w+(?:\([^)]*\))?):)?\w+>", fill, rule.rule)


def protected_routes(app):
    """(endpoint, method, url) of every route that is not public."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in auth.PUBLIC_ENDPOINTS:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((rule.endpoint, method, sample_url(rule)))
    return routes


def test_the_walk_covers_the_back_office(app):
    endpoints = {endpoint for endpoint, _method, _url in protected_routes(app)}
    for expected in ("fieldwork.index", "fieldwork.service_worker", "api_submissions.submit",
                     "admin.rosters", "admin.members", "users.users", "admin.audit_page", "auth.home"):
        assert expected in endpoints


def test_every_protected_route_refuses_an_anonymous_visitor(app, client):
    # A valid CSRF token, so that POSTs reach the login check instead of stopping at CSRF.
    token = csrf_token(client.get("/login").text)
    refused = []
    for endpoint, method, url in protected_routes(app):
        response = client.open(url, method=method, headers={"X-CSRFToken": token}, data={"csrf_token": token})
        if url.startswith("/api/"):
            ok = response.status_code == 401
        else:
            ok = response.status_code == 302 and "/login" in response.location
        if not ok:
            refused.append((endpoint, method, url, response.status_code))
    assert refused == []


def test_public_endpoints_are_only_the_respondent_side_and_login(app):
    allowed_prefixes = ("respond.", "links.", "api.openapi", "api_submissions.schema_document")
    for endpoint in auth.PUBLIC_ENDPOINTS:
        assert endpoint in ("static", "auth.login", "health") or endpoint.startswith(allowed_prefixes), endpoint


@pytest.mark.parametrize("path", ["/e/default/manage/", "/e/default/manage/rosters", "/manage/users",
                                  "/e/default/manage/audit", "/e/default/manage/rosters/export.csv",
                                  "/e/default/scores/"])
def test_staff_cannot_open_admin_or_scores(login, path):
    assert login("staff").get(path).status_code == 403


@pytest.mark.parametrize("path", ["/e/default/manage/", "/manage/users", "/e/default/field/",
                                  "/e/default/field/form/elder-satisfaction"])
def test_evaluator_cannot_manage_or_collect(login, path):
    assert login("evaluator").get(path).status_code == 403


def test_staff_cannot_post_to_manage(login):
    client = login("staff")
    page = client.get("/e/default/field/").text
    token = csrf_token(page.replace('name="csrf-token" content=', 'name="csrf_token" value='))
    response = client.post("/manage/users", data={"csrf_token": token, "username": "mallory",
                                                  "password": "12345678", "role": "admin"})
    assert response.status_code == 403


@pytest.fixture
def roster_db(app, users):
    """The test roster in the app's database (a connection outside any app context)."""
    database = connect(app.config["DATABASE"])
    make_roster(database)
    yield database
    database.conn.close()


def test_evaluator_sees_masked_names_unless_granted(login, roster_db):
    masked = login("evaluator").get("/e/default/field/roster")
    assert masked.status_code == 200
    assert "张*明" in masked.text and "138****1234" in masked.text
    assert "张三明" not in masked.text and "13812341234" not in masked.text
    export = login("evaluator").get("/e/default/field/roster.csv")
    assert "张*明" in export.text and "张三明" not in export.text
    granted = login("evaluator_pd").get("/e/default/field/roster")
    assert "张三明" in granted.text and "13812341234" in granted.text


def test_deactivated_user_loses_access(login, users, roster_db):
    admin = login("admin")
    page = admin.get("/manage/users")
    assert admin.post(f"/manage/users/{users['staff']}/active",
                      data={"csrf_token": csrf_token(page.text), "active": "0"}).status_code == 302
    assert roster_db.execute("select active from users where id = ?", [users["staff"]]).fetchone()[0] == 0
    assert roster_db.execute("select count(*) from audit_log where action = 'user_deactivated'").fetchone()[0] == 1
