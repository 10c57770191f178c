"""A read-only JSON API for evaluators, authorised by a personal token.

`flask --app app tokens create USERNAME` prints a new token once (only its SHA-256
is stored); `tokens revoke USERNAME` revokes them all. A request carries it as
`Authorization: Bearer <token>`. The OpenAPI 3 document at /api/v1/openapi.json
is public: it describes the shapes of the answers and contains no data.
"""

import hashlib
import secrets
from datetime import datetime, timezone

import click
from flask import Blueprint, g, jsonify, request
from flask.cli import AppGroup, with_appcontext

from scoring.filters import FilterError, parse_filters
from survey import audit, links, questionnaires
from survey.db import get_db, transaction

bp = Blueprint("api", __name__, url_prefix="/api/v1")
API_ROLES = ("evaluator", "admin")


class TokenError(ValueError):
    """A token cannot be created (unknown user, wrong role)."""


class BadParameter(ValueError):
    """A query parameter is malformed; the message names it."""


def create_schema(db):
    """The api_tokens table: one row per token, only its hash stored."""
    db["api_tokens"].create(
        {"id": int, "token_hash": str, "user_id": int, "created_at": str, "revoked": int},
        pk="id", not_null={"token_hash", "user_id", "created_at"}, defaults={"revoked": 0},
        foreign_keys=[("user_id", "users", "id")], if_not_exists=True,
    )
    db["api_tokens"].create_index(["token_hash"], unique=True, if_not_exists=True)


def _hash(token):
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(db, username):
    """Create a token for an active evaluator (or admin); return the token (shown once)."""
    row = db.execute("select id, role, active from users where username = ?", [username]).fetchone()
    if row is None:
        raise TokenError(f"no user '{username}'")
    if row[1] not in API_ROLES or not row[2]:
        raise TokenError(f"user '{username}' is not an active evaluator or admin")
    token = secrets.token_urlsafe(32)
    with transaction(db):
        db.execute("insert into api_tokens (token_hash, user_id, created_at, revoked) values (?, ?, ?, 0)",
                   [_hash(token), row[0], datetime.now(timezone.utc).isoformat(timespec="seconds")])
    return token


def user_for_token(db, token):
    """The users row (as a dict) of a valid, unrevoked token of an active API role, or None."""
    if not token:
        return None
    row = db.execute(
        "select u.id, u.username, u.role from api_tokens t join users u on u.id = t.user_id"
        " where t.token_hash = ? and t.revoked = 0 and u.active = 1", [_hash(token)]).fetchone()
    if row is None or row[2] not in API_ROLES:
        return None
    return {"id": row[0], "username": row[1], "role": row[2]}


def load_api_user():
    """before_request (app-wide, run before the default-deny check): set g.api_user from a Bearer token.

    Only under /api/: a token opens the API, never the back-office pages.
    """
    if not request.path.startswith("/api/"):
        return
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer":
        g.api_user = user_for_token(get_db(), token.strip())


def _error(status, message):
    """A JSON error answer."""
    return jsonify(error=message), status


@bp.before_request
def require_token():
    """Every API endpoint but the OpenAPI document needs a valid token (a login session is not enough)."""
    if request.endpoint == "api.openapi":
        return None
    if getattr(g, "api_user", None) is None:
        response = jsonify(error="a valid API token is required: Authorization: Bearer <token>")
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
        return response, 401
    return None


@bp.errorhandler(BadParameter)
def bad_parameter(exc):
    """A malformed query parameter gives 400 naming it."""
    return _error(400, str(exc))


def _filters():
    """The measure filters from the query string, checked."""
    try:
        return parse_filters(request.args)
    except FilterError as exc:
        expected = "YYYY-MM or YYYY-MM-DD" if exc.expected == "period" else "0 or 1"
        raise BadParameter(f"{exc.key}: use {expected}, got '{exc.value}'") from None


@bp.get("/questionnaires")
def list_questionnaires():
    """Every loaded questionnaire with its measures."""
    from scoring.measures import current_definition, measure_specs

    db = get_db()
    result = []
    for row in questionnaires.list_current(db):
        names = ["responses", *measure_specs(current_definition(db, row["id"]))]
        result.append({"id": row["id"], "title": row["title_zh"], "version": row["current_version"],
                       "audience": row["audience"] or "", "measures": names})
    return jsonify(questionnaires=result)


@bp.get("/measures/<questionnaire_id>")
def measures(questionnaire_id):
    """Every measure of a questionnaire with the filters; `by` adds one breakdown of each."""
    from scoring.measures import BREAKDOWNS, compute, compute_all

    db = get_db()
    if db.execute("select 1 from questionnaires where id = ?", [questionnaire_id]).fetchone() is None:
        return _error(404, f"no questionnaire '{questionnaire_id}'")
    filters = _filters()
    by = request.args.get("by") or None
    if by is not None and by not in BREAKDOWNS:
        raise BadParameter(f"by: use one of {', '.join(BREAKDOWNS)}, got '{by}'")
    rates = compute_all(db, questionnaire_id, filters)
    body = {"questionnaire": questionnaire_id, "filters": {k: str(v) for k, v in filters.items()},
            "measures": {name: rate.to_dict() for name, rate in rates.items()}}
    if by:
        body["by"] = by
        body["breakdown"] = {
            name: [{"group": "" if grp is None else str(grp), **rate.to_dict()}
                   for grp, rate in compute(db, questionnaire_id, name, filters, by).items()]
            for name in rates}
    audit.log(db, "api_measures", f"{questionnaire_id} {request.query_string.decode()[:200]}",
              user=g.api_user["username"] if getattr(g, "api_user", None) else None)
    return jsonify(body)


@bp.get("/scores")
def list_scores():
    """The stored indicator systems that can be scored."""
    rows = get_db().query("select id, name, filename, uploaded_at from indicator_systems order by id")
    return jsonify(systems=[{"id": r["id"], "name": r["name"], "filename": r["filename"] or "",
                             "uploaded_at": r["uploaded_at"]} for r in rows])


@bp.get("/scores/<system_id>")
def score(system_id):
    """One indicator system scored with the same filters as the measures (survey leaves follow them)."""
    from scoring import IndicatorSystemError
    from survey.scores import score_with_surveys, stored_system

    db = get_db()
    # Taken as a string so a malformed id gets this API's JSON 404, not the router's HTML one.
    rows = list(db.query("select id, yaml, set_aside_note from indicator_systems where id = ?", [system_id]))
    if not system_id.isdigit() or not rows:
        return _error(404, f"no indicator system {system_id}")
    filters = _filters()
    try:
        result, measured = score_with_surveys(db, stored_system(rows[0]), filters)
    except IndicatorSystemError as exc:
        return _error(409, str(exc))
    body = {"system_id": int(system_id), "filters": {k: str(v) for k, v in filters.items()}, **result.to_dict(),
            "measured": {path: rate.to_dict() for path, rate in measured.items()}}
    audit.log(db, "api_score", f"#{system_id} {request.query_string.decode()[:200]}",
              user=g.api_user["username"] if getattr(g, "api_user", None) else None)
    return jsonify(body)


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 document of this API (public: shapes only, no data)."""
    return jsonify(openapi_document(links.base_url()))


def openapi_document(server_url=""):
    """The OpenAPI 3.0 description of every endpoint and its answers."""
    rate = {
        "type": "object", "required": ["value", "n", "successes", "ci95", "margin"],
        "properties": {
            "value": {"type": "number", "nullable": True, "minimum": 0, "maximum": 1,
                      "description": "successes / n; null when n = 0"},
            "n": {"type": "integer", "minimum": 0, "description": "valid responses that answered"},
            "successes": {"type": "integer", "minimum": 0},
            "ci95": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1},
                     "minItems": 2, "maxItems": 2, "description": "95% Wilson score interval"},
            "margin": {"type": "number", "minimum": 0, "maximum": 0.5},
            "items": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Rate"}},
        },
    }
    error = {"description": "error",
             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    query = [
        {"name": "period_from", "in": "query", "schema": {"type": "string", "pattern": r"^\d{4}-\d{2}(-\d{2})?$"},
         "description": "first month or day (YYYY-MM or YYYY-MM-DD)"},
        {"name": "period_to", "in": "query", "schema": {"type": "string", "pattern": r"^\d{4}-\d{2}(-\d{2})?$"},
         "description": "last month or day, included"},
        {"name": "site", "in": "query", "schema": {"type": "string"}, "description": "site code"},
        {"name": "channel", "in": "query", "schema": {"type": "string"}},
        {"name": "respondent_type", "in": "query",
         "schema": {"type": "string", "enum": ["self", "proxy", "assisted", "public"]}},
        {"name": "age_band", "in": "query", "schema": {"type": "string"}},
        {"name": "living_alone", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]}},
        {"name": "by", "in": "query", "schema": {"type": "string", "enum": [
            "site", "channel", "respondent_type", "age_band", "living_alone", "month"]}},
    ]
    return {
        "openapi": "3.0.3",
        "info": {"title": "养老服务调查 API", "version": "1.0.0",
                 "description": "Read-only survey measures and indicator-system scores for evaluators. Rates "
                                "count valid responses only (not excluded by a quality rule)."},
        "servers": [{"url": server_url + "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "paths": {
            "/questionnaires": {"get": {
                "operationId": "listQuestionnaires", "summary": "Loaded questionnaires and their measures",
                "responses": {
                    "200": {"description": "the questionnaires", "content": {"application/json": {"schema": {
                        "type": "object", "required": ["questionnaires"], "properties": {"questionnaires": {
                            "type": "array", "items": {"$ref": "#/components/schemas/Questionnaire"}}}}}}},
                    "401": error}}},
            "/measures/{questionnaire_id}": {"get": {
                "operationId": "getMeasures", "summary": "Every measure with n, 95% interval and margin",
                "parameters": [{"name": "questionnaire_id", "in": "path", "required": True,
                                "schema": {"type": "string"}}, *query],
                "responses": {
                    "200": {"description": "the measures", "content": {"application/json": {"schema": {
                        "$ref": "#/components/schemas/Measures"}}}},
                    "400": error, "401": error, "404": error}}},
            "/scores": {"get": {
                "operationId": "listScores", "summary": "Stored indicator systems",
                "responses": {
                    "200": {"description": "the systems", "content": {"application/json": {"schema": {
                        "type": "object", "required": ["systems"], "properties": {"systems": {
                            "type": "array", "items": {"$ref": "#/components/schemas/SystemSummary"}}}}}}},
                    "401": error}}},
            "/scores/{system_id}": {"get": {
                "operationId": "getScore",
                "summary": "An indicator system scored; survey-sourced leaves use the filtered measures",
                "parameters": [{"name": "system_id", "in": "path", "required": True,
                                "schema": {"type": "integer"}},
                               *[p for p in query if p["name"] != "by"]],
                "responses": {
                    "200": {"description": "the scored tree", "content": {"application/json": {"schema": {
                        "$ref": "#/components/schemas/Score"}}}},
                    "400": error, "401": error, "404": error,
                    "409": {"description": "cannot be scored with these filters (e.g. a survey leaf has no"
                                           " valid responses)",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
            "/openapi.json": {"get": {
                "operationId": "getOpenAPI", "summary": "This document", "security": [],
                "responses": {"200": {"description": "the OpenAPI document",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        },
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "flask --app app tokens create USERNAME"}},
            "schemas": {
                "Rate": rate,
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
                "Questionnaire": {"type": "object", "required": ["id", "title", "version", "audience", "measures"],
                                  "properties": {"id": {"type": "string"}, "title": {"type": "string"},
                                                 "version": {"type": "integer"}, "audience": {"type": "string"},
                                                 "measures": {"type": "array", "items": {"type": "string"}}}},
                "SystemSummary": {"type": "object", "required": ["id", "name", "filename", "uploaded_at"],
                                  "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                                                 "filename": {"type": "string"},
                                                 "uploaded_at": {"type": "string"}}},
                "ScoreNode": {
                    "type": "object",
                    "required": ["name", "path", "level", "weight", "score", "evidence", "children"],
                    "properties": {
                        "name": {"type": "string"}, "path": {"type": "string"},
                        "level": {"type": "integer", "minimum": 1},
                        "weight": {"type": "number", "minimum": 0}, "score": {"type": "number", "minimum": 0},
                        "rule": {"type": "string", "nullable": True}, "evidence": {"type": "string"},
                        "value": {"type": "number", "nullable": True},
                        "reported": {"type": "number", "nullable": True},
                        "score_rate": {"type": "number", "nullable": True},
                        "grade": {"type": "string", "nullable": True},
                        "children": {"type": "array", "items": {"$ref": "#/components/schemas/ScoreNode"}}}},
                "Score": {
                    "type": "object",
                    "required": ["system_id", "filters", "total", "grade", "indicators", "level1", "mismatches",
                                 "measured"],
                    "properties": {
                        "system_id": {"type": "integer"},
                        "filters": {"type": "object", "additionalProperties": {"type": "string"}},
                        "project": {"type": "string", "nullable": True},
                        "period": {"type": "string", "nullable": True},
                        "total": {"type": "number"}, "grade": {"type": "string"},
                        "indicators": {"type": "array", "items": {"$ref": "#/components/schemas/ScoreNode"}},
                        "level1": {"type": "array", "items": {"type": "object", "required": [
                            "name", "weight", "score", "score_rate", "grade"]}},
                        "mismatches": {"type": "array", "items": {
                            "type": "object", "required": ["path", "reported", "computed"],
                            "properties": {"path": {"type": "string"}, "reported": {"type": "number"},
                                           "computed": {"type": "number"}}}},
                        "measured": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Rate"},
                                     "description": "the survey rate behind each survey-sourced leaf, by path"}}},
                "Measures": {
                    "type": "object", "required": ["questionnaire", "filters", "measures"],
                    "properties": {
                        "questionnaire": {"type": "string"},
                        "filters": {"type": "object", "additionalProperties": {"type": "string"}},
                        "measures": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Rate"}},
                        "by": {"type": "string"},
                        "breakdown": {"type": "object", "additionalProperties": {"type": "array", "items": {
                            "allOf": [{"$ref": "#/components/schemas/Rate"},
                                      {"type": "object", "required": ["group"],
                                       "properties": {"group": {"type": "string"}}}]}}},
                    }},
            },
        },
    }


tokens_cli = AppGroup("tokens", help="API tokens of evaluators.")


@tokens_cli.command("create")
@click.argument("username")
@with_appcontext
def create_token_command(username):
    """Create an API token for USERNAME and print it (it is shown only this once)."""
    db = get_db()
    try:
        token = create_token(db, username)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None
    audit.log(db, "api_token_created", username, user="cli")
    click.echo(token)


@tokens_cli.command("revoke")
@click.argument("username")
@with_appcontext
def revoke_tokens_command(username):
    """Revoke every API token of USERNAME."""
    db = get_db()
    with transaction(db):
        cursor = db.execute("update api_tokens set revoked = 1 where revoked = 0 and user_id ="
                            " (select id from users where username = ?)", [username])
    audit.log(db, "api_tokens_revoked", f"{username} ({cursor.rowcount})", user="cli")
    click.echo(f"Revoked {cursor.rowcount} token(s) of '{username}'.")


def init_app(app):
    """Register the blueprint and CLI; the token check runs before the default-deny hook.

    Flask runs app-wide before_request functions before a blueprint's, and the
    default deny (survey.auth) is app-wide, so the token must be read app-wide and first.
    """
    app.register_blueprint(bp)
    funcs = app.before_request_funcs.setdefault(None, [])
    if load_api_user not in funcs:
        funcs.insert(0, load_api_user)
    app.cli.add_command(tokens_cli)
