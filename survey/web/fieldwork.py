"""The staff side (入户调查 / 电话回访): household list, assisted forms, offline app.

Pages under /e/<slug>/field/ are an installable web app, one per evaluation:
static/field/sw.js (served from /e/<slug>/field/sw.js so its scope covers that
evaluation's field pages) caches them with the questionnaires' forms, and
static/field/field.js keeps completed forms in IndexedDB, each with the slug of the
evaluation it was filled in for, until `POST /api/submissions` accepts them (see
survey/web/api_submissions.py). The old /field/ address (installed apps, bookmarks) leads
to the user's evaluation.

The worker needs a login like every other staff page (no new public endpoint):
the browser registers it from a logged-in page; when the session has expired a
later update check gets a redirect, which the browser treats as a failed update
and keeps running the installed worker, so the app keeps working offline.
"""

import json
import re
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user

import scoring.coverage  # noqa: F401  (registers the coverage_rate and followup_rate measures)
from survey import questionnaires, roster
from survey.storage import audit, evaluations, field_storage, responses
from survey.storage.db import get_db
from survey.web import api_submissions, auth, scope

bp = Blueprint("fieldwork", __name__, url_prefix="/e/<evaluation>/field")
scope.scope_blueprint(bp)
# The address before evaluations existed: installed apps and bookmarks open it.
legacy = Blueprint("fieldwork_legacy", __name__)
STATIC_FIELD = Path(__file__).resolve().parents[2] / "static" / "field"
RESPONDENTS = {"self": "本人", "proxy": "代答", "assisted": "工作人员协助"}


def create_schema(db):
    """Visits and calls (with their outcome), and one response per household and questionnaire."""
    db["visits"].create(
        {"id": int, "submission_id": str, "questionnaire_id": str, "household_id": int,
         "staff_user_id": int, "mode": str, "outcome": str, "note": str, "response_id": int,
         "visited_at": str, "received_at": str},
        pk="id", not_null={"submission_id", "household_id", "mode", "outcome", "visited_at", "received_at"},
        foreign_keys=[("household_id", "households", "id"), ("response_id", "responses", "id")],
        if_not_exists=True,
    )
    db["visits"].create_index(["submission_id"], unique=True, if_not_exists=True)
    db["visits"].create_index(["household_id", "visited_at"], if_not_exists=True)
    # One household, one response per questionnaire: the database itself refuses a second.
    db.execute("create unique index if not exists responses_one_per_household"
               " on responses (questionnaire_id, household_id) where household_id is not null")


def _evaluation_id():
    """The id of this request's evaluation."""
    return scope.current().id


def _questionnaire_list(db):
    """(id, title) of the questionnaires this evaluation uses."""
    return field_storage.questionnaire_list(db, _evaluation_id())


def _chosen_questionnaire(db):
    """The questionnaire chosen with ?q=, else elder-satisfaction or the first one."""
    ids = [row[0] for row in _questionnaire_list(db)]
    wanted = request.args.get("q")
    if wanted in ids:
        return wanted
    return "elder-satisfaction" if "elder-satisfaction" in ids else (ids[0] if ids else None)


def _sees_personal_data():
    """Whether this user may see unmasked personal data here: granted it, and not a viewer
    (viewers see statistics only)."""
    return current_user.can_see_personal_data and g.evaluation_role != "viewer"


def _with_phone(shown, row, assigned):
    """Add `phone_shown` and `phone_callable` to a displayed household.

    Staff see and can call (tel:) the number of a household assigned to them; anyone
    else sees it masked, unless granted personal data (as on every other page).
    """
    full = row["phone"] if (row["id"] in assigned or _sees_personal_data()) else None
    shown["phone_shown"] = full or shown.get("phone") or ""
    shown["phone_callable"] = bool(full)
    shown["phone_tel"] = re.sub(r"[^\d+]", "", full or "")
    shown["assigned"] = row["id"] in assigned
    return shown


def household_status(db, questionnaire_id, site_id=None):
    """This evaluation's roster rows with `answered` and `last_outcome` for one questionnaire,
    masked per user."""
    evaluation_id = _evaluation_id()
    answered = field_storage.answered_household_ids(db, evaluation_id, questionnaire_id)
    last = field_storage.last_outcomes(db, evaluation_id, questionnaire_id)
    rows = []
    assigned = field_storage.assigned_household_ids(db, evaluation_id, current_user.id)
    for row in roster.households(db, site_id, evaluation_id):
        shown = _with_phone(roster.for_display(row, _sees_personal_data()), row, assigned)
        shown["answered"] = row["id"] in answered
        outcome = last.get(row["id"])
        shown["last_outcome"] = api_submissions.OUTCOMES.get(outcome[0]) if outcome else None
        shown["status"] = "done" if shown["answered"] else ("visited" if outcome else "new")
        rows.append(shown)
    return rows


def _audit_reveals(db, rows, where):
    """One audit entry per page that showed full phone numbers, naming the households."""
    revealed = [str(r["household_no"]) for r in rows if r.get("phone_callable") and r.get("phone")]
    if revealed:
        audit.log(db, "phone_revealed", f"{where}: {','.join(revealed)}")


STATUS_FILTERS = {"new": "未访", "visited": "访问未成功", "done": "已完成"}


def _matches(row, words, status):
    """Whether a household row passes the search words and the status filter."""
    if status and row["status"] != status:
        return False
    haystack = " ".join(str(row.get(k) or "") for k in ("household_no", "name", "address", "site_name"))
    return all(word in haystack for word in words)


@bp.get("/")
@scope.requires("field")
def index():
    """The staff app's home: households to visit or call, and the unsent forms."""
    db = get_db()
    questionnaire_id = _chosen_questionnaire(db)
    site_id = request.args.get("site", type=int)
    rows = household_status(db, questionnaire_id, site_id) if questionnaire_id else []
    reached = sum(1 for r in rows if r["answered"])
    total = len(rows)
    # Search and status filter (field.js filters the same way on the phone, also offline).
    words = (request.args.get("s") or "").split()
    status = request.args.get("status") if request.args.get("status") in STATUS_FILTERS else ""
    mine = request.args.get("mine") == "1"
    rows = [r for r in rows if _matches(r, words, status) and (not mine or r["assigned"])]
    _audit_reveals(db, rows, "field list")
    sites = field_storage.sites(db, _evaluation_id())
    return render_template(
        "fieldwork/index.html", rows=rows, questionnaire_id=questionnaire_id,
        questionnaire_list=_questionnaire_list(db), sites=sites, site_id=site_id,
        submit_token=api_submissions.issue_token(db, current_user.id), search=" ".join(words),
        status=status, status_filters=STATUS_FILTERS, mine=mine, reached=reached, total=total,
        retry_ms=current_app.config.get("FIELD_RETRY_MS"))


def _form_context(db, questionnaire_id):
    """What the form template needs for one of this evaluation's questionnaires."""
    if not evaluations.uses(db, _evaluation_id(), questionnaire_id):
        abort(404)
    try:
        questionnaire = questionnaires.get(db, questionnaire_id)
    except questionnaires.UnknownQuestionnaire:
        abort(404)
    questions = [q for q in questionnaire.questions if q.get("meta") != "respondent_type"]
    return {"q": questionnaire, "questions": questions, "retry_ms": current_app.config.get("FIELD_RETRY_MS"),
            "choices": {q["id"]: questionnaire.choices(q) for q in questions},
            "show_if": {q["id"]: json.dumps(q["show_if"]) for q in questions if q.get("show_if")},
            "respondent_question": next((q["id"] for q in questionnaire.questions
                                         if q.get("meta") == "respondent_type"), None),
            "outcomes": api_submissions.OUTCOMES, "modes": api_submissions.STAFF_CHANNELS,
            "respondents": RESPONDENTS}


@bp.get("/form/<questionnaire_id>")
@scope.requires("field")
def form(questionnaire_id):
    """The assisted form: mode, who answers, consent, the questions, or the outcome of no interview.

    One page serves every household (the household comes in the query string), so the
    service worker caches it once per questionnaire and field.js fills in the household.
    """
    db = get_db()
    household_id = request.args.get("household", type=int)
    household = _shown_household(db, household_id)
    if household:
        _audit_reveals(db, [household], "field form")
    return render_template("fieldwork/form.html", household=household, error=None, values={},
                           household_answered=_answered(db, questionnaire_id, household_id),
                           submission_id=responses.new_submission_id(), **_form_context(db, questionnaire_id))


def _shown_household(db, household_id):
    """A household as the current user may see it (phone per assignment), or None."""
    row = roster.get_household(db, household_id, _evaluation_id()) if household_id else None
    if row is None:
        return None
    assigned = field_storage.assigned_household_ids(db, _evaluation_id(), current_user.id)
    return _with_phone(roster.for_display(row, _sees_personal_data()), row, assigned)


def _answered(db, questionnaire_id, household_id):
    """Whether a household already has a stored response to this questionnaire."""
    return field_storage.household_answered(db, _evaluation_id(), questionnaire_id, household_id)


@bp.get("/call/<int:household_id>")
@scope.requires("field")
def call(household_id):
    """Call a household assigned to me: audited, then the phone's dialler (tel:).

    Without JavaScript the 拨打 button lands here; field.js records the reveal with a
    beacon and dials directly, so the call is one tap either way.
    """
    db = get_db()
    household = _shown_household(db, household_id)
    if household is None or not household["phone_callable"]:
        abort(403)
    audit.log(db, "phone_called", f"household {household['household_no']}")
    if request.args.get("beacon") == "1":
        return "", 204
    return redirect(f"tel:{household['phone_tel']}")


def payload_from_form(questionnaire, form_data, respondent_question, evaluation_slug=None):
    """The /api/submissions body built from the no-JavaScript form POST."""
    answers = {}
    for question in questionnaire.questions:
        key = f"a-{question['id']}"
        values = [v for v in form_data.getlist(key) if v.strip()] if question["type"] == "multi" else None
        if values:
            answers[question["id"]] = values
        elif values is None and form_data.get(key, "").strip():
            answers[question["id"]] = form_data.get(key).strip()
    outcome = form_data.get("outcome") or "completed"
    respondent = form_data.get("respondent_type") or None
    if outcome == "completed" and respondent_question and respondent:
        answers[respondent_question] = respondent
    meta = {"channel": form_data.get("mode") or None, "household_id": form_data.get("household_id") or None,
            "consent": 1 if form_data.get("consent") == "1" else 0, "outcome": outcome,
            "source": "field", "submitted_at": responses.now_iso()}
    if outcome == "completed" and respondent and not respondent_question:
        meta["respondent_type"] = respondent
    if form_data.get("note", "").strip():
        meta["note"] = form_data.get("note").strip()
    if outcome != "completed":
        answers = {}
    payload = {"id": form_data.get("submission_id", ""), "questionnaire": questionnaire.id,
               "answers": answers, "meta": meta}
    if evaluation_slug:
        payload["evaluation"] = evaluation_slug
    return payload


@bp.post("/form/<questionnaire_id>")
@scope.requires("field")
def submit_form(questionnaire_id):
    """The no-JavaScript path: store the form now (field.js queues it instead)."""
    db = get_db()
    context = _form_context(db, questionnaire_id)
    payload = payload_from_form(context["q"], request.form, context["respondent_question"], scope.current().slug)
    household_id = payload["meta"]["household_id"]
    answered = _answered(db, questionnaire_id, household_id)
    try:
        if answered and request.form.get("confirm_done") != "1":
            raise api_submissions.BadSubmission("confirm_done", "household already answered", status=409)
        body, _created = api_submissions.store(db, payload, current_user)
    except api_submissions.BadSubmission as exc:
        household = _shown_household(db, int(household_id) if str(household_id or "").isdigit() else None)
        return render_template("fieldwork/form.html", household=household, error=exc, error_text=_refusal(exc),
                               household_answered=answered, values=request.form,
                               submission_id=payload["id"], **context), exc.status
    flash("已保存：入户/电话记录已送达服务器。" if body["kind"] == "visit" else "已保存：问卷已送达服务器。")
    return redirect(url_for("fieldwork.index", q=questionnaire_id))


def _refusal(exc):
    """Why a form was not saved, in Chinese (the API's messages are English)."""
    reasons = {
        "confirm_done": "这户已经完成过这份问卷。确实还要记录，请勾选“我知道这户已完成，仍要记录”。",
        "consent": "没有勾选“知情同意”，答案不能保存。",
        "household_id": "这户已经完成过这份问卷，或名册里找不到这户。",
        "outcome": "访问结果不完整：没有访问成功的记录需要住户和调查方式。",
        "answers": "选了“没有访问成功”的结果，就不能再填问卷答案。",
    }
    return reasons.get(exc.field, f"“{exc.field}”不符合要求：{exc.message}")


@bp.get("/mine")
@scope.requires("field")
def mine():
    """The signed-in staff member's own visits and calls in this evaluation."""
    rows = field_storage.visits_by(get_db(), _evaluation_id(), current_user.id)
    return render_template("fieldwork/mine.html", rows=rows, outcomes=api_submissions.OUTCOMES,
                           modes=api_submissions.STAFF_CHANNELS)


def _roster_readers_only():
    """The roster holds personal data: field roles and evaluators (results) only, never viewers."""
    if not (scope.may("field") or scope.may("results")):
        abort(403)


@bp.get("/roster")
def roster_view():
    """The roster, read-only, for field roles and evaluators: coverage per household, masked
    unless granted."""
    _roster_readers_only()
    db = get_db()
    questionnaire_id = _chosen_questionnaire(db)
    rows = household_status(db, questionnaire_id) if questionnaire_id else []
    return render_template("fieldwork/roster.html", rows=rows, questionnaire_id=questionnaire_id,
                           questionnaire_list=_questionnaire_list(db))


@bp.get("/roster.csv")
def roster_export():
    """The roster as CSV for evaluators: masked unless granted, no answers, audited."""
    _roster_readers_only()
    db = get_db()
    audit.log(db, "roster_exported", f"masked={not _sees_personal_data()}")
    return Response(roster.export_csv(db, _sees_personal_data(), None, _evaluation_id()),
                    mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=roster.csv"})


@bp.get("/sw.js")
@scope.requires("field")
def service_worker():
    """The service worker, served under /e/<slug>/field/ so that its scope covers this
    evaluation's staff app."""
    response = send_file(STATIC_FIELD / "sw.js", mimetype="text/javascript", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


@legacy.get("/field/")
def legacy_index():
    """The staff app's address before evaluations: the user's evaluation with field work,
    or the list of evaluations when there are several (or none)."""
    mine = [e for e in evaluations.for_user(get_db(), current_user.id, current_user.role == "admin")
            if evaluations.may(evaluations.role_of(get_db(), current_user.id, e.id, current_user.role == "admin"),
                               "field")]
    if len(mine) == 1:
        return redirect(url_for("fieldwork.index", evaluation=mine[0].slug, **request.args))
    return redirect(url_for("auth.home"))


def init_app(app):
    """Register the staff blueprint and its menu entries."""
    app.register_blueprint(bp)
    app.register_blueprint(legacy)
    auth.add_nav("fieldwork.index", "入户/电话调查", ["field"])
    auth.add_nav("fieldwork.mine", "我的走访记录", ["field"])
    auth.add_nav("fieldwork.roster_view", "名册与覆盖", ["field", "results"])
    app.config.setdefault("FIELD_TOKEN_MAX_AGE", api_submissions.DEFAULT_TOKEN_MAX_AGE)
