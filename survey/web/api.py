"""A read-only JSON API for evaluators, authorised by a personal token.

`flask --app app tokens create USERNAME` prints a new token once (only its SHA-256
is stored); `tokens revoke USERNAME` revokes them all. A request carries it as
`Authorization: Bearer <token>`. The OpenAPI 3 document at /api/v1/openapi.json
is public: it describes the shapes of the answers and contains no data; it is the
data file survey/web/openapi.yaml.

Data lives under /api/v1/evaluations/<slug>/...; a token opens an evaluation only
if its owner may read that evaluation's statistics (manager, evaluator, viewer;
admin everywhere), and answers 404 otherwise, the same as for an unknown slug. The
older unscoped /measures/<q>, /scores and /scores/<id> are aliases for the owner's
only evaluation; with several they answer 400 naming the owner's choices.
"""

import functools
import hashlib
import secrets
from datetime import datetime, timezone
from pathlib import Path

import yaml
from flask import Blueprint, g, jsonify, request

from scoring import IndicatorSystemError
from scoring.filters import FilterError, parse_filters
from scoring.measures import measure_specs
from survey import questionnaires
from survey.storage import audit, evaluations
from survey.storage.db import get_db, transaction
from survey.storage.measures_store import BREAKDOWNS, compute, compute_all, current_definition
from survey.web import links
from survey.web.scores import score_with_surveys, stored_system, stored_systems, system_row

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# Who may hold a token: anyone who may read statistics somewhere (staff work in the field
# pages and submit through /api/submissions with their own device token instead).
API_ROLES = ("admin", "manager", "evaluator", "viewer")


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


def _may_hold_token(db, user_id, role):
    """Whether a user may hold an API token: an API role, or one in some evaluation."""
    if role in API_ROLES:
        return True
    return db.execute("select 1 from evaluation_members where user_id = ? and role in (?, ?, ?)",
                      [user_id, *API_ROLES[1:]]).fetchone() is not None


def create_token(db, username):
    """Create a token for an active user who may read statistics; return the token (shown once)."""
    row = db.execute("select id, role, active from users where username = ?", [username]).fetchone()
    if row is None:
        raise TokenError(f"no user '{username}'")
    if not row[2] or not _may_hold_token(db, row[0], row[1]):
        raise TokenError(f"user '{username}' is not an active admin, manager, evaluator or viewer")
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
    if row is None or not _may_hold_token(db, row[0], row[2]):
        return None
    return {"id": row[0], "username": row[1], "role": row[2]}


def revoke_tokens(db, username):
    """Revoke every token of USERNAME; return how many were live."""
    with transaction(db):
        return db.execute("update api_tokens set revoked = 1 where revoked = 0 and user_id ="
                          " (select id from users where username = ?)", [username]).rowcount


def load_api_user():
    """before_request (app-wide, run before the default-deny check): set g.api_user from a Bearer token.

    Only under /api/: a token opens the API, never the back-office pages.
    """
    if not request.path.startswith("/api/") or request.endpoint == "api_submissions.submit":
        return  # the submission endpoint reads its own kind of token (load_token_user)
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
    """Every questionnaire of the library with its measures (definitions, no data)."""
    db = get_db()
    result = []
    for row in questionnaires.list_current(db):
        names = ["responses", *measure_specs(current_definition(db, row["id"]))]
        result.append({"id": row["id"], "title": row["title_zh"], "version": row["current_version"],
                       "audience": row["audience"] or "", "measures": names})
    return jsonify(questionnaires=result)


def _statistics_evaluations(user):
    """The evaluations whose statistics the API user may read (every one for an admin)."""
    db = get_db()
    admin = user["role"] == "admin"
    return [e for e in evaluations.for_user(db, user["id"], admin)
            if evaluations.may(evaluations.role_of(db, user["id"], e.id, admin), "statistics")]


def _evaluation_or_404(slug):
    """The evaluation `slug` if the token owner may read its statistics; else None (the caller
    answers 404, the same for an unknown slug, so nobody learns which evaluations exist)."""
    return next((e for e in _statistics_evaluations(g.api_user) if e.slug == slug), None)


def _only_evaluation():
    """The unscoped aliases' evaluation: the token owner's only one, or (None, a 400 answer)."""
    mine = _statistics_evaluations(g.api_user)
    if len(mine) == 1:
        return mine[0], None
    if not mine:
        return None, _error(404, "this token's owner holds no role in any evaluation")
    choices = ", ".join(sorted(e.slug for e in mine))
    return None, _error(400, f"evaluation: {len(mine)} evaluations are open to this token; use"
                             f" /api/v1/evaluations/<slug>/... with one of: {choices}")


def _evaluation_dict(db, evaluation):
    """An evaluation as the API shows it, with the owner's role and its questionnaires."""
    role = evaluations.role_of(db, g.api_user["id"], evaluation.id, g.api_user["role"] == "admin")
    return {**{field: getattr(evaluation, field) for field in EVALUATION_FIELDS}, "role": role,
            "questionnaires": evaluations.questionnaire_ids(db, evaluation.id)}


EVALUATION_FIELDS = ("slug", "name", "project", "unit", "year", "period_from", "period_to", "population", "status")


@bp.get("/evaluations")
def list_evaluations():
    """The evaluations whose statistics the token owner may read (an admin: all), newest first."""
    db = get_db()
    return jsonify(evaluations=[_evaluation_dict(db, e) for e in _statistics_evaluations(g.api_user)])


@bp.get("/evaluations/<slug>/measures/<questionnaire_id>")
def evaluation_measures(slug, questionnaire_id):
    """Every measure of a questionnaire in one evaluation, with the filters; `by` adds a breakdown."""
    evaluation = _evaluation_or_404(slug)
    if evaluation is None:
        return _error(404, f"no evaluation '{slug}'")
    return _measures(evaluation, questionnaire_id)


@bp.get("/measures/<questionnaire_id>")
def measures(questionnaire_id):
    """Alias of evaluation_measures for the token owner's only evaluation (400 naming them with more)."""
    evaluation, refusal = _only_evaluation()
    return refusal or _measures(evaluation, questionnaire_id)


def _measures(evaluation, questionnaire_id):
    """The measures answer of one evaluation."""
    db = get_db()
    if not evaluations.uses(db, evaluation.id, questionnaire_id):
        return _error(404, f"evaluation '{evaluation.slug}' uses no questionnaire '{questionnaire_id}'")
    filters = _filters()
    by = request.args.get("by") or None
    if by is not None and by not in BREAKDOWNS:
        raise BadParameter(f"by: use one of {', '.join(BREAKDOWNS)}, got '{by}'")
    rates = compute_all(db, evaluation.id, questionnaire_id, filters)
    body = {"evaluation": evaluation.slug, "questionnaire": questionnaire_id,
            "filters": {k: str(v) for k, v in filters.items()},
            "measures": {name: rate.to_dict() for name, rate in rates.items()}}
    if by:
        body["by"] = by
        body["breakdown"] = {
            name: [{"group": "" if grp is None else str(grp), **rate.to_dict()}
                   for grp, rate in compute(db, evaluation.id, questionnaire_id, name, filters, by).items()]
            for name in rates}
    audit.log(db, "api_measures", f"{questionnaire_id} {request.query_string.decode()[:200]}",
              user=g.api_user["username"], evaluation_id=evaluation.id)
    return jsonify(body)


@bp.get("/evaluations/<slug>/scores")
def evaluation_scores(slug):
    """The stored indicator systems of one evaluation."""
    evaluation = _evaluation_or_404(slug)
    if evaluation is None:
        return _error(404, f"no evaluation '{slug}'")
    return _list_scores(evaluation)


@bp.get("/scores")
def list_scores():
    """Alias of evaluation_scores for the token owner's only evaluation."""
    evaluation, refusal = _only_evaluation()
    return refusal or _list_scores(evaluation)


def _list_scores(evaluation):
    """The systems answer of one evaluation."""
    rows = stored_systems(get_db(), evaluation.id)[::-1]  # oldest first
    return jsonify(evaluation=evaluation.slug,
                   systems=[{"id": r["id"], "name": r["name"], "filename": r["filename"] or "",
                             "uploaded_at": r["uploaded_at"]} for r in rows])


@bp.get("/evaluations/<slug>/scores/<system_id>")
def evaluation_score(slug, system_id):
    """One indicator system of an evaluation scored with the filters (survey leaves follow them)."""
    evaluation = _evaluation_or_404(slug)
    if evaluation is None:
        return _error(404, f"no evaluation '{slug}'")
    return _score(evaluation, system_id)


@bp.get("/scores/<system_id>")
def score(system_id):
    """Alias of evaluation_score for the token owner's only evaluation."""
    evaluation, refusal = _only_evaluation()
    return refusal or _score(evaluation, system_id)


def _score(evaluation, system_id):
    """The scored-system answer of one evaluation."""
    db = get_db()
    # Taken as a string so a malformed id gets this API's JSON 404, not the router's HTML one.
    row = system_row(db, evaluation.id, system_id) if system_id.isdigit() else None
    if row is None:
        return _error(404, f"no indicator system {system_id} in evaluation '{evaluation.slug}'")
    filters = _filters()
    try:
        result, measured = score_with_surveys(db, evaluation.id, stored_system(row), filters)
    except IndicatorSystemError as exc:
        return _error(409, str(exc))
    body = {"evaluation": evaluation.slug, "system_id": int(system_id),
            "filters": {k: str(v) for k, v in filters.items()}, **result.to_dict(),
            "measured": {path: rate.to_dict() for path, rate in measured.items()}}
    audit.log(db, "api_score", f"#{system_id} {request.query_string.decode()[:200]}",
              user=g.api_user["username"], evaluation_id=evaluation.id)
    return jsonify(body)


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 document of this API (public: shapes only, no data)."""
    return jsonify(openapi_document(links.base_url()))


OPENAPI_FILE = Path(__file__).with_name("openapi.yaml")


@functools.cache
def _openapi_template():
    """The OpenAPI document as stored in survey/web/openapi.yaml (read once)."""
    return yaml.safe_load(OPENAPI_FILE.read_text(encoding="utf-8"))


def openapi_document(server_url=""):
    """The OpenAPI 3.0 description of every endpoint and its answers, served from `server_url`."""
    return {**_openapi_template(), "servers": [{"url": server_url + "/api/v1"}]}


def init_app(app):
    """Register the blueprint; the token check runs before the default-deny hook.

    Flask runs app-wide before_request functions before a blueprint's, and the
    default deny (survey.web.auth) is app-wide, so the token must be read app-wide and first.
    """
    app.register_blueprint(bp)
    funcs = app.before_request_funcs.setdefault(None, [])
    if load_api_user not in funcs:
        funcs.insert(0, load_api_user)
