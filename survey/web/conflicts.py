"""Conflicting replays: a submission id sent again with other content (409 from the API).

survey.web.api_submissions keeps the second version in `submission_conflicts` instead of
dropping it. Here an evaluator (or admin) looks at both versions side by side and
decides: keep the first (the second is set aside, still kept), or use the second (its
answers replace the first's, in one transaction). Every decision is audited.
"""

import json

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from survey import questionnaires
from survey.storage import audit, responses
from survey.storage.db import get_db, transaction
from survey.web import auth, scope

bp = Blueprint("conflicts", __name__, url_prefix="/e/<evaluation>/conflicts")
scope.scope_blueprint(bp)
DECISIONS = ("kept_first", "used_second")


class ConflictError(ValueError):
    """A decision cannot be applied; the message names the conflict and why."""


def pending(db, evaluation_id):
    """The evaluation's undecided conflicts, oldest first, each with both versions' answers."""
    rows = []
    for row in db.query("select c.*, u.username from submission_conflicts c left join users u"
                        " on u.id = c.staff_user_id where c.evaluation_id = ? and c.status = 'pending'"
                        " order by c.id", [evaluation_id]):
        second = json.loads(row["payload"])
        response_id = responses.find(db, row["submission_id"])
        visit = db.execute("select outcome from visits where submission_id = ?", [row["submission_id"]]).fetchone()
        first = responses.answers_of(db, response_id) if response_id else {}
        rows.append({**row, "second": second, "first": first, "response_id": response_id,
                     "first_outcome": visit[0] if visit else ("completed" if response_id else None),
                     "second_outcome": (second.get("meta") or {}).get("outcome") or "completed",
                     "questions": sorted(set(first) | set(second.get("answers") or {}))})
    return rows


def decide(db, evaluation_id, conflict_id, decision, username):
    """Apply an evaluator's decision to one of the evaluation's pending conflicts. Raises ConflictError."""
    row = db.execute("select submission_id, questionnaire_id, kind, payload, status from submission_conflicts"
                     " where id = ? and evaluation_id = ?", [conflict_id, evaluation_id]).fetchone()
    if row is None or row[4] != "pending":
        raise ConflictError(f"conflict #{conflict_id} is not pending")
    if decision not in DECISIONS:
        raise ConflictError(f"conflict #{conflict_id}: decision must be one of {DECISIONS}")
    with transaction(db):
        if decision == "used_second":
            response_id = responses.find(db, row[0])
            second = json.loads(row[3])
            if row[2] != "response" or response_id is None:
                raise ConflictError(f"conflict #{conflict_id}: only a second interview can replace a stored one")
            questionnaire = questionnaires.get(db, row[1])
            clean = questionnaire.clean_answers(second.get("answers") or {})
            db.execute("delete from answers where response_id = ?", [response_id])
            responses.insert_answers(db, response_id, clean)
        db.execute("update submission_conflicts set status = ?, decided_by = ?, decided_at = ? where id = ?",
                   [decision, username, responses.now_iso(), conflict_id])


@bp.get("/")
@scope.requires("results")
def index():
    """The evaluation's pending conflicts, both versions side by side."""
    return render_template("conflicts/index.html", rows=pending(get_db(), scope.current().id))


@bp.post("/<int:conflict_id>")
@scope.requires("results")
def decide_view(conflict_id):
    """Record an evaluator's decision on one conflict."""
    db = get_db()
    decision = request.form.get("decision", "")
    try:
        decide(db, scope.current().id, conflict_id, decision, current_user.username)
    except ConflictError as exc:
        flash(str(exc))
        return redirect(url_for("conflicts.index"))
    except questionnaires.AnswerError as exc:
        flash(f"#{conflict_id}: {exc.question_id}: {exc.message}")
        return redirect(url_for("conflicts.index"))
    audit.log(db, "conflict_decided", f"#{conflict_id} {decision}")
    flash(_("已处理冲突 #%(id)s", id=conflict_id))
    return redirect(url_for("conflicts.index"))


def init_app(app):
    """Register the blueprint and its menu entry."""
    app.register_blueprint(bp)
    auth.add_nav("conflicts.index", "重复提交待核", ["results"])
