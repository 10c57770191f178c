"""`POST /api/submissions`: one JSON endpoint for the staff app's offline queue and integrations.

Body: {"id": "<uuid>", "questionnaire": "<id>", "evaluation": "<slug>", "answers": {...}, "meta": {...}}.
- `evaluation` names the evaluation the form was filled in for. Without it the submitter's
  only evaluation with field work (a manager or staff role there; any for an admin) is
  used; with several it is 400 with field "evaluation" naming the choices. A slug that does
  not exist, or where the submitter holds no role, is 404 (the same answer for both, as
  everywhere: nobody learns which evaluations exist); a role without field work (evaluator,
  viewer) is 403. The questionnaire, household, site and link must belong to it (400
  naming the field otherwise).
- 201 with {"id", "kind", "response_id"|"visit_id"} when first stored; 200 with the same
  body when the same id comes again (a retry), never a second row. `responses.record`
  and a unique submission id in `visits` make this hold under concurrent retries too.
- 400 with {"error", "field"} on bad input, storing nothing; 409 with field
  "household_id" when the household already answered this questionnaire under another id.
- `meta` takes the response META_FIELDS plus `outcome` (completed, or why no interview
  happened: not_home 不在家, refused 拒访, unreachable 无法联系, deceased 已故, moved 迁出)
  and `note`. A staff visit (channel door/phone) needs consent (知情同意) to store answers.
  The server, not the client, sets staff_user_id (the authenticated user) and the site
  of a household.

Authentication, and why the offline queue cannot lose a form:
- With a browser session the endpoint is an ordinary same-origin JSON POST, so the
  CSRF token is required, in the `X-CSRFToken` header (Flask-WTF's check).
- A form completed offline may be sent days later, after the 8-hour session and its
  CSRF token are gone. Asking the field worker to log in again would work only if
  the page still holds the answers, and a logged-out app must never have to choose
  between sending and discarding. So the staff app receives a long-lived *submit
  token* (itsdangerous, signed with the app's secret key, salt "field-submit",
  30 days by default, FIELD_TOKEN_MAX_AGE) each time it loads online; field.js keeps
  it in IndexedDB next to the queue and sends it as `Authorization: Bearer <token>`.
- The token authorises this one endpoint and nothing else (it is read only when the
  request's endpoint is this view), and only for active staff or admin users. It
  stops working when the user is deactivated, changes password, logs out or is signed
  out everywhere by an admin (the token carries a fingerprint of the password hash and
  the user's session version, which those bump), or when it expires.
- A request carrying the token is exempt from the CSRF check. CSRF works by making a
  victim's browser send its ambient credentials (cookies) to us from another site; a
  bearer token is not ambient: a cross-site form or a `no-cors` fetch cannot set the
  Authorization header, and a CORS request with it needs a preflight we never grant.
  A request authenticated by the session cookie alone still needs the CSRF token.
- The token lives in the page's origin (IndexedDB), so an XSS hole could read it;
  that is the same exposure as the session itself, and the token can only add
  responses, never read anything.
"""

import functools
import hashlib
import json
import sqlite3
from datetime import datetime, timedelta, timezone

from flask import Blueprint, current_app, g, has_app_context, jsonify, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from survey import questionnaires, submission_schema, vocabulary
from survey.storage import evaluations, responses
from survey.storage.db import get_db, transaction
from survey.web import auth

bp = Blueprint("api_submissions", __name__)
TOKEN_SALT = "field-submit"
DEFAULT_TOKEN_MAX_AGE = int(timedelta(days=30).total_seconds())
# Global roles that may hold a field role somewhere (the role in the evaluation decides).
SUBMIT_ROLES = ("staff", "manager", "admin")
OUTCOMES = vocabulary.OUTCOMES
STAFF_CHANNELS = vocabulary.STAFF_CHANNELS
EXTRA_META = ("outcome", "note")


class BadSubmission(ValueError):
    """A submission is refused; `field` names the offending field, `status` the HTTP status."""

    def __init__(self, field, message, status=400):
        """Keep the field and status next to the message."""
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.status = status


def _serializer(secret_key):
    """The signer of submit tokens under `secret_key` (the app's)."""
    return URLSafeTimedSerializer(secret_key, salt=TOKEN_SALT)


def _fingerprint(password_hash):
    """A short digest of the password hash: a new password invalidates old tokens."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:12]


def issue_token(db, user_id):
    """A signed submit token for one user (one per staff app load)."""
    row = db.execute("select password_hash, session_version from users where id = ?", [user_id]).fetchone()
    return _serializer(current_app.secret_key).dumps({"u": user_id, "p": _fingerprint(row[0]), "v": row[1]})


@functools.lru_cache(maxsize=1024)
def _verified(secret_key, token):
    """(payload, signing time) of a token signed with `secret_key`, or None if it is not.

    Remembered per process: a phone sends the same token with every queued submission,
    and checking the signature (HMAC, base64, JSON) each time was a few per cent of a
    submission. Expiry and revocation are still checked on every request.
    """
    try:
        return _serializer(secret_key).loads(token, return_timestamp=True)
    except BadSignature:
        return None


def user_for_token(db, token):
    """The auth.User a submit token stands for, or None when invalid, expired or revoked."""
    max_age = current_app.config.get("FIELD_TOKEN_MAX_AGE", DEFAULT_TOKEN_MAX_AGE)
    verified = _verified(current_app.secret_key, token)
    if verified is None:
        return None
    data, signed_at = verified
    age = (datetime.now(timezone.utc) - signed_at).total_seconds()
    if age < 0 or age > max_age:
        return None
    # One statement: sqlite-utils' query() adds a SAVEPOINT and a RELEASE around a read, and
    # under load each statement gives up Python's GIL and waits to get it back.
    cursor = db.execute("select * from users where id = ?", [data.get("u")])
    found = cursor.fetchone()
    if found is None:
        return None
    row = dict(zip([column[0] for column in cursor.description], found, strict=True))
    if not row["active"] or row["role"] not in SUBMIT_ROLES or data.get("p") != _fingerprint(row["password_hash"]) \
            or data.get("v") != row["session_version"]:
        return None
    return auth.User(row)


def load_token_user():
    """before_request (runs just before the default-deny hook): a valid submit token sets g.api_user."""
    if request.endpoint != "api_submissions.submit":
        return None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        user = user_for_token(get_db(), header[len("Bearer "):].strip())
        if user is not None:
            # g.api_user lets the default-deny hook through (the same shape survey.web.api uses).
            g.api_user = {"id": user.id, "username": user.username, "role": user.role}
            g.submit_user = user
    return None


def field_evaluations(db, user):
    """The evaluations where `user` may do field work (all for an admin), newest first."""
    return [evaluation for evaluation, role in evaluations.with_roles(db, user.id, user.role == "admin")
            if evaluations.may(role, "field")]


def resolve_evaluation(db, slug, user):
    """The evaluation a submission is for (see the module docstring); raises BadSubmission."""
    if slug is None:
        mine = field_evaluations(db, user)
        if len(mine) == 1:
            return mine[0]
        if not mine:
            raise BadSubmission("evaluation", "you hold no field role in any evaluation", status=403)
        choices = ", ".join(sorted(e.slug for e in mine))
        raise BadSubmission("evaluation", f"you work in several evaluations; name one of: {choices}")
    evaluation = evaluations.get(db, slug)
    role = evaluations.role_of(db, user.id, evaluation.id, user.role == "admin") if evaluation else None
    if role is None:
        raise BadSubmission("evaluation", f"no evaluation '{slug}'", status=404)
    if not evaluations.may(role, "field"):
        raise BadSubmission("evaluation", f"your role in '{slug}' ({role}) does not collect answers", status=403)
    return evaluation


def check_payload(db, payload, user):
    """Check a submission body; return (questionnaire, id, clean answers, meta, outcome, note).

    `meta["evaluation_id"]` is the evaluation resolved from the body's `evaluation`.

    The shape is survey.submission_schema's (shared with the staff form and the tests);
    what needs the database (questionnaire, roster, hidden questions) is checked here.
    """
    if not isinstance(payload, dict):
        raise BadSubmission("body", "a JSON object is required")
    try:
        start = current_app.config.get("EVALUATION_START") if has_app_context() else None
        payload = submission_schema.check(payload, start)
    except submission_schema.SchemaError as exc:
        raise BadSubmission(exc.field, exc.message) from None
    submission_id = payload["id"]
    try:
        questionnaire = questionnaires.get(db, payload["questionnaire"])
    except questionnaires.UnknownQuestionnaire:
        raise BadSubmission("questionnaire", f"no questionnaire '{payload['questionnaire']}'") from None
    evaluation = resolve_evaluation(db, payload.get("evaluation"), user)
    if not evaluations.uses(db, evaluation.id, questionnaire.id):
        raise BadSubmission("questionnaire", f"the evaluation '{evaluation.slug}' does not use '{questionnaire.id}'")
    answers = payload.get("answers") or {}
    meta = {key: value for key, value in (payload.get("meta") or {}).items() if value is not None}
    outcome = meta.pop("outcome", None) or "completed"
    note = meta.pop("note", None) or None
    for key in ("household_id", "site_id", "consent", "living_alone"):
        if key in meta:  # the schema allows only ASCII digits here
            meta[key] = int(meta[key])
    meta["staff_user_id"] = user.id
    meta["evaluation_id"] = evaluation.id
    if meta.get("link_code") and db.execute("select 1 from links where code = ? and evaluation_id = ?",
                                            [meta["link_code"], evaluation.id]).fetchone() is None:
        raise BadSubmission("link_code", f"no such link in the evaluation '{evaluation.slug}'")
    if meta.get("household_id") is not None:
        household = db.execute("select site_id from households where id = ? and evaluation_id = ?",
                               [meta["household_id"], evaluation.id]).fetchone()
        if household is None:
            raise BadSubmission("household_id", f"no such household on the roster of '{evaluation.slug}'")
        meta["site_id"] = household[0]
    elif meta.get("site_id") is not None and db.execute(
            "select 1 from sites where id = ? and evaluation_id = ?",
            [meta["site_id"], evaluation.id]).fetchone() is None:
        raise BadSubmission("site_id", f"no such site in the evaluation '{evaluation.slug}'")
    staff_visit = meta.get("channel") in STAFF_CHANNELS
    if outcome != "completed":
        if not staff_visit or meta.get("household_id") is None:
            raise BadSubmission("outcome", "an outcome without interview needs a household and channel door or phone")
        if any(value not in (None, "", []) for value in answers.values()):
            raise BadSubmission("answers", f"no answers can go with outcome '{outcome}'")
        return questionnaire, submission_id, {}, meta, outcome, note
    if staff_visit and meta.get("consent") != 1:
        raise BadSubmission("consent", "知情同意 is required before answers are recorded")
    try:
        clean = questionnaire.clean_answers(answers)
    except questionnaires.AnswerError as exc:
        raise BadSubmission(exc.question_id, exc.message) from None
    for question in questionnaire.questions:
        given = answers.get(question["id"])
        if given not in (None, "", []) and question["id"] not in clean \
                and not questionnaire.is_visible(question, clean):
            # The form never showed it for these answers: storing it silently dropped would lose
            # what the client meant, storing it would count an answer nobody was asked for.
            raise BadSubmission(question["id"], "this question is not asked with these answers (show_if)")
    return questionnaire, submission_id, clean, meta, outcome, note


def _as_lists(answers):
    """Answers as {question id: sorted list of strings}, for comparing two versions."""
    return {qid: sorted(str(v) for v in (value if isinstance(value, list) else [value]))
            for qid, value in answers.items()}


def keep_conflict(db, payload, user, kind, evaluation_id):
    """Keep a submission that reused an id with other content, for the evaluation's
    evaluators; return its id."""
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()
    with transaction(db):
        db.execute(
            "insert into submission_conflicts (evaluation_id, submission_id, questionnaire_id, kind, payload,"
            " payload_hash, staff_user_id, received_at) values (?, ?, ?, ?, ?, ?, ?, ?)"
            " on conflict(submission_id, payload_hash) do nothing",
            [evaluation_id, payload["id"], payload.get("questionnaire"), kind, text, digest, user.id,
             responses.now_iso()])
        return db.execute("select id from submission_conflicts where submission_id = ? and payload_hash = ?",
                          [payload["id"], digest]).fetchone()[0]


def _conflict(db, payload, user, kind, why, evaluation_id):
    """Keep the second version and refuse it with 409 (never drop it, never overwrite the first)."""
    conflict_id = keep_conflict(db, payload, user, kind, evaluation_id)
    error = BadSubmission("id", f"{why}; this version is kept for review (conflict #{conflict_id})", status=409)
    error.conflict_id = conflict_id
    raise error


def store(db, payload, user):
    """Store one submission; return (body, created). Raises BadSubmission (409 for a conflict).

    The same id with the same content is a retry (200, nothing written); the same id with
    other answers, another outcome, or as a visit after an interview (or the reverse) is a
    conflict: 409, and the new version is kept in submission_conflicts.
    """
    questionnaire, submission_id, clean, meta, outcome, note = check_payload(db, payload, user)
    evaluation_id = meta["evaluation_id"]
    visit = db.execute("select outcome, household_id, evaluation_id from visits where submission_id = ?",
                       [submission_id]).fetchone()
    if visit is not None and visit[2] != evaluation_id:
        _conflict(db, payload, user, "visit", "this id was already recorded in another evaluation", evaluation_id)
    existing = responses.find(db, submission_id)
    if outcome != "completed":
        if existing is not None:
            _conflict(db, payload, user, "visit", "this id was already recorded as an interview", evaluation_id)
        body, created = _store_visit(db, questionnaire.id, submission_id, meta, outcome, note, None)
        if not created and (visit := db.execute("select outcome, household_id from visits where submission_id = ?",
                                                [submission_id]).fetchone()) != (outcome, meta["household_id"]):
            _conflict(db, payload, user, "visit", f"this id was already recorded as a visit ({visit[0]})",
                      evaluation_id)
        return body, created
    if visit is not None and visit[0] != "completed":
        _conflict(db, payload, user, "response", f"this id was already recorded as a visit without interview"
                                                  f" ({visit[0]})", evaluation_id)
    try:
        response_id, created = (existing, False) if existing is not None else \
            responses.record(db, questionnaire, submission_id, clean, meta, checked=True, unseen=True)
    except responses.HouseholdAnswered as exc:
        raise BadSubmission(exc.field, exc.message, status=409) from None
    except responses.SubmissionError as exc:
        raise BadSubmission(exc.field, exc.message) from None
    except sqlite3.IntegrityError:
        # The unique (questionnaire, household) index: this household answered already.
        response_id = responses.find(db, submission_id)
        if response_id is None:
            raise BadSubmission("household_id", "this household already answered this questionnaire",
                                status=409) from None
        created = False
    if not created:
        stored = db.execute("select questionnaire_id, evaluation_id from responses where id = ?",
                            [response_id]).fetchone()
        if tuple(stored) != (questionnaire.id, evaluation_id) \
                or _as_lists(responses.answers_of(db, response_id)) != _as_lists(clean):
            _conflict(db, payload, user, "response", "this id was already stored with other answers"
                      " (or in another evaluation)", evaluation_id)
    if meta.get("channel") in STAFF_CHANNELS and meta.get("household_id") is not None:
        _store_visit(db, questionnaire.id, submission_id, meta, outcome, note, response_id)
    return {"id": submission_id, "kind": "response", "response_id": response_id}, created


def _store_visit(db, questionnaire_id, submission_id, meta, outcome, note, response_id):
    """Record a staff visit or call once per submission id; return (body, created)."""
    with transaction(db):
        cursor = db.execute(
            "insert into visits (evaluation_id, submission_id, questionnaire_id, household_id, staff_user_id, mode,"
            " outcome, note, response_id, visited_at, received_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " on conflict(submission_id) do nothing",
            [meta["evaluation_id"], submission_id, questionnaire_id, meta["household_id"], meta["staff_user_id"],
             meta["channel"], outcome, note, response_id,
             meta.get("submitted_at") or responses.now_iso(), responses.now_iso()])
        created = cursor.rowcount == 1
        visit_id = db.execute("select id from visits where submission_id = ?", [submission_id]).fetchone()[0]
    return {"id": submission_id, "kind": "visit", "visit_id": visit_id}, created


@bp.post("/api/submissions")
def submit():
    """Store a submission from the offline queue or an integration (see the module docstring)."""
    user = getattr(g, "submit_user", None)
    if user is None:
        if request.headers.get("Authorization", "").startswith("Bearer "):
            return jsonify(error="submit token invalid or expired; log in again", field="Authorization"), 401
        if not current_user.is_authenticated:
            return jsonify(error="login required", field="Authorization"), 401
        try:
            current_app.extensions["csrf"].protect()
        except CSRFError as exc:
            return jsonify(error=f"CSRF token missing or invalid ({exc.description})", field="X-CSRFToken"), 400
        user = current_user
    if user.role not in SUBMIT_ROLES:
        return jsonify(error="only staff may submit", field="Authorization"), 403
    db = get_db()
    try:
        payload = submission_schema.parse_body(request.get_data(cache=False))
        body, created = store(db, payload, user)
    except submission_schema.SchemaError as exc:
        return jsonify(error=exc.message, field=exc.field), 400
    except BadSubmission as exc:
        extra = {"conflict_id": exc.conflict_id} if getattr(exc, "conflict_id", None) else {}
        return jsonify(error=exc.message, field=exc.field, **extra), exc.status
    return jsonify(body), (201 if created else 200)


@bp.get("/api/submissions/schema.json")
def schema_document():
    """The JSON Schema of a submission body (public: a shape, no data), for clients and tests."""
    return jsonify(submission_schema.SCHEMA)


def init_app(app):
    """Register the endpoint (CSRF-exempt: the view checks CSRF itself for sessions)."""
    app.register_blueprint(bp)
    app.extensions["csrf"].exempt(submit)
    # Just before the default-deny hook, hence after survey.web.api's token hook, which
    # sets g.api_user to None for any bearer token that is not one of its own.
    funcs = app.before_request_funcs.setdefault(None, [])
    if load_token_user not in funcs:
        position = funcs.index(auth.require_login_by_default) if auth.require_login_by_default in funcs else 0
        funcs.insert(position, load_token_user)
