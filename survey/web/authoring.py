"""Writing questionnaires in Excel, in the back office of one evaluation (managers and admins).

Under /e/<evaluation>/authoring: upload an XLSForm-style workbook (survey.xlsform reads
it); a refused workbook lists its problems per cell (表, 行, 列, 问题) and stores nothing;
a valid one is kept as a draft (survey.storage.drafts, migration 13) and previewed at
phone size with the real respondent pages, whose answers live in the manager's session
only (nothing reaches `responses`); publishing stores the version in the library and
adds it to the evaluation; closing stops its links (they show the "ended" page). Each
questionnaire of the evaluation downloads as a workbook and as blank paper-entry
templates (CSV, XLSX).

Every page answers 404 to a user who may not manage the evaluation (staff, evaluators,
viewers, members of other evaluations), the same answer as for an unknown evaluation.
"""

import functools
import hashlib

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as N_  # N_: a keyword pybabel extracts; lazy: translated when shown
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms.validators import ValidationError

from scoring.files import MAX_BYTES
from survey import questionnaires, xlsform
from survey.storage import audit, drafts, evaluations
from survey.storage.db import get_db
from survey.web import respond, scope
from survey.web.auth import add_nav

bp = Blueprint("authoring", __name__, url_prefix="/e/<evaluation>/authoring")
scope.scope_blueprint(bp)
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PREVIEW_KEY = "authoring_preview"  # session: {draft id: answers} of the preview in progress
# The respondent pages' own endpoints, as the preview's: the templates stay the real ones.
PREVIEW_ENDPOINTS = {"respond.start": "authoring.preview_start", "respond.question": "authoring.preview_question",
                     "respond.summary": "authoring.preview_summary", "respond.submit": "authoring.preview_submit"}


def _max_size(form, field):
    """Refuse an empty file or one over the upload limit (checked on the bytes, not the header)."""
    data = field.data.read(MAX_BYTES + 1) if field.data else b""
    if len(data) > MAX_BYTES:
        raise ValidationError(_("文件超过 %(kib)s KiB。", kib=MAX_BYTES // 1024))
    if not data:
        raise ValidationError(_("文件是空的。"))
    field.bytes = data


class UploadForm(FlaskForm):
    """The workbook upload (CSRF from Flask-WTF; the app's MAX_CONTENT_LENGTH caps the request)."""

    workbook = FileField(validators=[FileRequired(message=N_("请选择一个 .xlsx 工作簿。")), _max_size])


def managers_only(view):
    """A scoped view for managers and admins; anyone else gets 404, as for an unknown evaluation."""
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if not scope.may("manage"):
            abort(404)
        return view(*args, **kwargs)
    return wrapped


def _library_conflict(db, definition):
    """A problem when the library holds this id and version with other content (a changed
    questionnaire needs a new version: answers refer to the version they were given under)."""
    row = db.execute("select sha256 from questionnaire_versions where questionnaire_id = ? and version = ?",
                     [definition["id"], definition["version"]]).fetchone()
    if row is None:
        return None, False
    same = row[0] == hashlib.sha256(drafts.definition_text(definition).encode()).hexdigest()
    if same:
        return None, True
    latest = db.execute("select max(version) from questionnaire_versions where questionnaire_id = ?",
                        [definition["id"]]).fetchone()[0]
    return xlsform.Problem("settings", None, "version", _(
        "问卷 %(id)s 第 %(v)s 版已经发布过，内容不同；改过的问卷要用新的版本号（%(next)s）。",
        id=definition["id"], v=definition["version"], next=latest + 1)), False


# --- upload, drafts, publish, close -----------------------------------------------------


@bp.get("/")
@managers_only
def index():
    """The upload form, the drafts waiting to be published and the evaluation's questionnaires."""
    return _index_page(UploadForm())


def _index_page(form, problems=None, filename=None, status=200):
    """Render the authoring page (with the problems of a refused workbook, if any)."""
    db = get_db()
    used = [row for row in questionnaires.list_current(db)
            if evaluations.uses(db, g.evaluation.id, row["id"])]
    return render_template("authoring/index.html", form=form, problems=problems or [], filename=filename,
                           pending=drafts.pending(db, g.evaluation.id), used=used,
                           closed=drafts.closed_ids(db, g.evaluation.id)), status


@bp.post("/upload")
@managers_only
def upload():
    """Read an uploaded workbook; keep it as a draft and go to its preview, or list its problems."""
    form = UploadForm()
    filename = form.workbook.data.filename if form.workbook.data else None
    if not form.validate_on_submit():
        messages = [m for errors in form.errors.values() for m in errors]
        return _index_page(form, [xlsform.Problem(_("文件"), None, None, m) for m in messages], filename, 422)
    try:
        definition = xlsform.read_workbook(form.workbook.bytes)
    except xlsform.WorkbookError as exc:
        return _index_page(form, exc.problems, filename, 422)
    db = get_db()
    conflict, _same = _library_conflict(db, definition)
    if conflict:
        return _index_page(form, [conflict], filename, 422)
    draft_id = drafts.save(db, g.evaluation.id, filename or "workbook.xlsx", definition, form.workbook.bytes,
                           current_user.username)
    audit.log(db, "questionnaire_draft_uploaded", f"#{draft_id} {definition['id']} v{definition['version']}")
    return redirect(url_for("authoring.draft", draft_id=draft_id))


def _draft_or_404(draft_id):
    """The evaluation's draft, or 404 (also for another evaluation's draft)."""
    draft = drafts.get(get_db(), g.evaluation.id, draft_id)
    if draft is None:
        abort(404)
    return draft


@bp.get("/drafts/<int:draft_id>")
@managers_only
def draft(draft_id):
    """A draft: what it holds, the phone-size preview of its real pages, and publish."""
    found = _draft_or_404(draft_id)
    questionnaire = questionnaires.Questionnaire(found["definition"])
    _conflict, same = _library_conflict(get_db(), found["definition"])
    return render_template("authoring/draft.html", draft=found, q=questionnaire, unchanged=same,
                           evaluation=g.evaluation)


@bp.post("/drafts/<int:draft_id>/publish")
@managers_only
def publish(draft_id):
    """Store the draft's version in the library and let this evaluation collect it."""
    found = _draft_or_404(draft_id)
    if g.evaluation.read_only:
        abort(403)
    try:
        qid, version, status = drafts.publish(get_db(), g.evaluation.id, draft_id)
    except drafts.DraftError as exc:
        flash(str(exc))
        return redirect(url_for("authoring.draft", draft_id=draft_id))
    _drop_preview(draft_id)
    audit.log(get_db(), "questionnaire_published", f"{qid} v{version} ({status}) from {found['filename']}")
    flash(_("已发布问卷 %(id)s 第 %(v)s 版。", id=qid, v=version) if status == "loaded"
          else _("问卷 %(id)s 第 %(v)s 版已在问卷库中，未改变；本评价项目已使用它。", id=qid, v=version))
    return redirect(url_for("authoring.index"))


@bp.post("/questionnaires/<questionnaire_id>/close")
@managers_only
def close(questionnaire_id):
    """Stop collecting answers to one questionnaire (its links show the ended page)."""
    return _set_closed(questionnaire_id, True)


@bp.post("/questionnaires/<questionnaire_id>/reopen")
@managers_only
def reopen(questionnaire_id):
    """Collect answers to a closed questionnaire again."""
    return _set_closed(questionnaire_id, False)


def _set_closed(questionnaire_id, closed):
    """Close or reopen a questionnaire of this evaluation; 404 if the evaluation does not use it."""
    if g.evaluation.read_only:
        abort(403)
    if not drafts.set_closed(get_db(), g.evaluation.id, questionnaire_id, closed):
        abort(404)
    audit.log(get_db(), "questionnaire_closed" if closed else "questionnaire_reopened", questionnaire_id)
    flash(_("已停止收集问卷 %(id)s 的回答。", id=questionnaire_id) if closed
          else _("问卷 %(id)s 重新开始收集回答。", id=questionnaire_id))
    return redirect(url_for("authoring.index"))


# --- downloads -----------------------------------------------------------------------------


def _used_or_404(questionnaire_id):
    """The current version of a questionnaire this evaluation uses, or 404."""
    db = get_db()
    if not evaluations.uses(db, g.evaluation.id, questionnaire_id):
        abort(404)
    try:
        return questionnaires.get(db, questionnaire_id)
    except questionnaires.UnknownQuestionnaire:
        abort(404)


def _attachment(data, mimetype, filename):
    """A download response."""
    return Response(data, mimetype=mimetype, headers={"Content-Disposition": f"attachment; filename={filename}"})


@bp.get("/questionnaires/<questionnaire_id>.xlsx")
@managers_only
def workbook(questionnaire_id):
    """The questionnaire's current version as a workbook (edit it, raise the version, upload it)."""
    found = _used_or_404(questionnaire_id)
    return _attachment(xlsform.write_workbook(found.definition), XLSX_MIME,
                       f"{found.id}-v{found.version}.xlsx")


@bp.get("/questionnaires/<questionnaire_id>/paper.<fmt>")
@managers_only
def paper(questionnaire_id, fmt):
    """A blank paper-entry template (CSV, or XLSX with the codes on a second sheet)."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    found = _used_or_404(questionnaire_id)
    mimetype = "text/csv; charset=utf-8" if fmt == "csv" else XLSX_MIME
    return _attachment(xlsform.paper_template(found.definition, fmt), mimetype,
                       f"{found.id}-v{found.version}-paper.{fmt}")


# --- preview: the real respondent pages, answers in the session only ------------------------


def _preview_url_for(draft_id):
    """A url_for for the respondent templates that sends their links and forms to the preview."""
    def preview_url_for(endpoint, **values):
        """The preview's URL for a respondent endpoint; any other endpoint as usual."""
        if endpoint in PREVIEW_ENDPOINTS:
            for key in ("submission_id", "questionnaire_id", "evaluation"):
                values.pop(key, None)
            return url_for(PREVIEW_ENDPOINTS[endpoint], draft_id=draft_id, **values)
        return url_for(endpoint, **values)
    return preview_url_for


def _preview_answers(draft_id):
    """The preview's answers so far (from the session)."""
    return dict(session.get(PREVIEW_KEY, {}).get(str(draft_id), {}))


def _keep_preview_answers(draft_id, answers):
    """Keep the preview's answers in the session (one preview per draft; nothing in the database)."""
    kept = dict(session.get(PREVIEW_KEY, {}))
    kept[str(draft_id)] = answers
    session[PREVIEW_KEY] = kept


def _drop_preview(draft_id):
    """Forget a preview's answers."""
    kept = dict(session.get(PREVIEW_KEY, {}))
    if kept.pop(str(draft_id), None) is not None:
        session[PREVIEW_KEY] = kept


def _preview_context(draft_id):
    """Template context every preview page adds: its url_for and the draft (for the banner's link)."""
    return {"url_for": _preview_url_for(draft_id), "draft_id": draft_id}


@bp.get("/drafts/<int:draft_id>/preview")
@managers_only
def preview(draft_id):
    """The preview's start page (the real one, with a banner saying nothing is stored)."""
    questionnaire = questionnaires.Questionnaire(_draft_or_404(draft_id)["definition"])
    return render_template("authoring/preview_start.html", q=questionnaire, link=None, evaluation=g.evaluation,
                           **_preview_context(draft_id))


@bp.post("/drafts/<int:draft_id>/preview/start")
@managers_only
def preview_start(draft_id):
    """Start the preview afresh at the first question."""
    questionnaire = questionnaires.Questionnaire(_draft_or_404(draft_id)["definition"])
    _keep_preview_answers(draft_id, {})
    first = questionnaire.visible_questions({})[0]
    return redirect(url_for("authoring.preview_question", draft_id=draft_id, question_id=first["id"]))


@bp.route("/drafts/<int:draft_id>/preview/q/<question_id>", methods=["GET", "POST"])
@managers_only
def preview_question(draft_id, question_id):
    """One question of the preview, checked exactly as the respondent page checks it."""
    questionnaire = questionnaires.Questionnaire(_draft_or_404(draft_id)["definition"])

    def link(kind, **values):
        """The preview's question or summary URL."""
        return url_for(f"authoring.preview_{kind}", draft_id=draft_id, **values)

    return respond.question_page(questionnaire, _preview_answers(draft_id), {"channel": "qr"}, question_id,
                                 lambda kept: _keep_preview_answers(draft_id, kept), link,
                                 template="authoring/preview_question.html", sid=draft_id,
                                 **_preview_context(draft_id))


@bp.get("/drafts/<int:draft_id>/preview/summary")
@managers_only
def preview_summary(draft_id):
    """The preview's summary page."""
    questionnaire = questionnaires.Questionnaire(_draft_or_404(draft_id)["definition"])
    context = respond.summary_context(questionnaire, _preview_answers(draft_id), {"channel": "qr"})
    return render_template("authoring/preview_summary.html", sid=draft_id, **context, **_preview_context(draft_id))


@bp.post("/drafts/<int:draft_id>/preview/submit")
@managers_only
def preview_submit(draft_id):
    """The preview's submit: checks the answers like a real submit, stores nothing, says so."""
    questionnaire = questionnaires.Questionnaire(_draft_or_404(draft_id)["definition"])
    answers = _preview_answers(draft_id)
    missing = [q for q in questionnaire.visible_questions(answers) if q.get("required") and q["id"] not in answers]
    if missing:
        return redirect(url_for("authoring.preview_question", draft_id=draft_id, question_id=missing[0]["id"],
                                **{"return": "summary"}))
    _drop_preview(draft_id)
    return render_template("authoring/preview_done.html", q=questionnaire, **_preview_context(draft_id))


def init_app(app):
    """Register the blueprint and its menu entry (managers)."""
    app.register_blueprint(bp)
    add_nav("authoring.index", "问卷工作簿", ["manage"])
