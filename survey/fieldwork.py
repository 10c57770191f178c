"""The staff side (入户调查 / 电话回访): household list, assisted forms, offline app.

Pages under /field/ are an installable web app: static/field/sw.js (served from
/field/sw.js so its scope covers /field/) caches them with the questionnaires'
forms, and static/field/field.js keeps completed forms in IndexedDB until
`POST /api/submissions` accepts them (see survey/api_submissions.py).

/field/sw.js needs a login like every other staff page (no new public endpoint):
the browser registers it from a logged-in page; when the session has expired a
later update check gets a redirect, which the browser treats as a failed update
and keeps running the installed worker, so the app keeps working offline.
"""

import json
from pathlib import Path

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user

from survey import api_submissions, audit, auth, questionnaires, responses, roster
from survey.db import get_db

bp = Blueprint("fieldwork", __name__, url_prefix="/field")
STATIC_FIELD = Path(__file__).resolve().parent.parent / "static" / "field"
RESPONDENTS = {"self": "本人", "proxy": "代答"}


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


def _questionnaire_list(db):
    """(id, title) of every loaded questionnaire."""
    return db.execute("select id, title_zh from questionnaires order by id").fetchall()


def _chosen_questionnaire(db):
    """The questionnaire chosen with ?q=, else elder-satisfaction or the first one."""
    ids = [row[0] for row in _questionnaire_list(db)]
    wanted = request.args.get("q")
    if wanted in ids:
        return wanted
    return "elder-satisfaction" if "elder-satisfaction" in ids else (ids[0] if ids else None)


def household_status(db, questionnaire_id, site_id=None):
    """Roster rows with `answered` and `last_outcome` for one questionnaire, masked per user."""
    answered = {row[0] for row in db.execute(
        "select household_id from responses where questionnaire_id = ? and household_id is not null",
        [questionnaire_id]).fetchall()}
    last = {}
    for household_id, outcome, visited_at in db.execute(
            "select household_id, outcome, visited_at from visits where questionnaire_id = ?"
            " order by visited_at", [questionnaire_id]).fetchall():
        last[household_id] = (outcome, visited_at)
    rows = []
    for row in roster.households(db, site_id):
        shown = roster.for_display(row, current_user.can_see_personal_data)
        shown["answered"] = row["id"] in answered
        outcome = last.get(row["id"])
        shown["last_outcome"] = api_submissions.OUTCOMES.get(outcome[0]) if outcome else None
        rows.append(shown)
    return rows


@bp.get("/")
def index():
    """The staff app's home: households to visit or call, and the unsent forms."""
    auth_check()
    db = get_db()
    questionnaire_id = _chosen_questionnaire(db)
    site_id = request.args.get("site", type=int)
    rows = household_status(db, questionnaire_id, site_id) if questionnaire_id else []
    sites = db.execute("select id, name from sites order by name").fetchall()
    return render_template(
        "fieldwork/index.html", rows=rows, questionnaire_id=questionnaire_id,
        questionnaire_list=_questionnaire_list(db), sites=sites, site_id=site_id,
        submit_token=api_submissions.issue_token(db, current_user.id),
        reached=sum(1 for r in rows if r["answered"]))


def auth_check():
    """Staff and admins only (evaluators read measures, they do not collect)."""
    if current_user.role not in ("staff", "admin"):
        abort(403)


def _form_context(db, questionnaire_id):
    """What the form template needs for one questionnaire."""
    try:
        questionnaire = questionnaires.get(db, questionnaire_id)
    except questionnaires.UnknownQuestionnaire:
        abort(404)
    questions = [q for q in questionnaire.questions if q.get("meta") != "respondent_type"]
    return {"q": questionnaire, "questions": questions,
            "choices": {q["id"]: questionnaire.choices(q) for q in questions},
            "show_if": {q["id"]: json.dumps(q["show_if"]) for q in questions if q.get("show_if")},
            "respondent_question": next((q["id"] for q in questionnaire.questions
                                         if q.get("meta") == "respondent_type"), None),
            "outcomes": api_submissions.OUTCOMES, "modes": api_submissions.STAFF_CHANNELS,
            "respondents": RESPONDENTS}


@bp.get("/form/<questionnaire_id>")
def form(questionnaire_id):
    """The assisted form: mode, who answers, consent, the questions, or the outcome of no interview.

    One page serves every household (the household comes in the query string), so the
    service worker caches it once per questionnaire and field.js fills in the household.
    """
    auth_check()
    db = get_db()
    household = None
    household_id = request.args.get("household", type=int)
    if household_id:
        household = roster.get_household(db, household_id)
        household = roster.for_display(household, current_user.can_see_personal_data) if household else None
    return render_template("fieldwork/form.html", household=household, error=None, values={},
                           submission_id=responses.new_submission_id(), **_form_context(db, questionnaire_id))


def payload_from_form(questionnaire, form_data, respondent_question):
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
    return {"id": form_data.get("submission_id", ""), "questionnaire": questionnaire.id,
            "answers": answers, "meta": meta}


@bp.post("/form/<questionnaire_id>")
def submit_form(questionnaire_id):
    """The no-JavaScript path: store the form now (field.js queues it instead)."""
    auth_check()
    db = get_db()
    context = _form_context(db, questionnaire_id)
    payload = payload_from_form(context["q"], request.form, context["respondent_question"])
    try:
        body, _created = api_submissions.store(db, payload, current_user)
    except api_submissions.BadSubmission as exc:
        household = roster.get_household(db, payload["meta"]["household_id"] or 0)
        household = roster.for_display(household, current_user.can_see_personal_data) if household else None
        return render_template("fieldwork/form.html", household=household, error=exc,
                               values=request.form, submission_id=payload["id"], **context), exc.status
    flash("已保存：入户/电话记录已送达服务器。" if body["kind"] == "visit" else "已保存：问卷已送达服务器。")
    return redirect(url_for("fieldwork.index", q=questionnaire_id))


@bp.get("/mine")
def mine():
    """The signed-in staff member's own visits and calls."""
    auth_check()
    db = get_db()
    rows = list(db.query(
        "select v.visited_at, v.mode, v.outcome, v.questionnaire_id, h.household_no, s.name as site_name"
        " from visits v join households h on h.id = v.household_id join sites s on s.id = h.site_id"
        " where v.staff_user_id = ? order by v.visited_at desc limit 500", [current_user.id]))
    return render_template("fieldwork/mine.html", rows=rows, outcomes=api_submissions.OUTCOMES,
                           modes=api_submissions.STAFF_CHANNELS)


@bp.get("/roster")
def roster_view():
    """The roster, read-only, for every role: coverage per household, masked unless granted."""
    db = get_db()
    questionnaire_id = _chosen_questionnaire(db)
    rows = household_status(db, questionnaire_id) if questionnaire_id else []
    return render_template("fieldwork/roster.html", rows=rows, questionnaire_id=questionnaire_id,
                           questionnaire_list=_questionnaire_list(db))


@bp.get("/roster.csv")
def roster_export():
    """The roster as CSV for evaluators: masked unless granted, no answers, audited."""
    db = get_db()
    audit.log(db, "roster_exported", f"masked={not current_user.can_see_personal_data}")
    return Response(roster.export_csv(db, current_user.can_see_personal_data), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=roster.csv"})


@bp.get("/sw.js")
def service_worker():
    """The service worker, served under /field/ so that its scope covers the staff app."""
    response = send_file(STATIC_FIELD / "sw.js", mimetype="text/javascript", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


def init_app(app):
    """Register the staff blueprint, its menu entries and the coverage measures."""
    import scoring.coverage  # noqa: F401  (registers coverage_rate and followup_rate)

    app.register_blueprint(bp)
    auth.add_nav("fieldwork.index", "入户/电话调查", ["staff"])
    auth.add_nav("fieldwork.mine", "我的走访记录", ["staff"])
    auth.add_nav("fieldwork.roster_view", "名册与覆盖", ["staff", "evaluator"])
    app.config.setdefault("FIELD_TOKEN_MAX_AGE", api_submissions.DEFAULT_TOKEN_MAX_AGE)
