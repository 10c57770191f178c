"""The respondent side: one question per page, a summary, then a calm thank-you.

Works without JavaScript: each answer is a plain form POST that saves the draft on
the server and redirects (post/redirect/get), so Back and refresh are safe.
"""

import hashlib
import hmac
from datetime import date

from flask import Blueprint, abort, current_app, make_response, redirect, render_template, request, url_for
from flask_babel import gettext

from survey import questionnaires
from survey.storage import drafts, evaluations, responses
from survey.storage.db import get_db
from survey.web import links
from survey.web.i18n import short_locale

bp = Blueprint("respond", __name__)


def _questionnaire_or_404(questionnaire_id, version=None):
    """Load a questionnaire or answer 404."""
    try:
        return questionnaires.get(get_db(), questionnaire_id, version)
    except questionnaires.UnknownQuestionnaire:
        abort(404)


def _open(evaluation, questionnaire_id):
    """Whether an evaluation takes answers to a questionnaire: it is collecting, the library has
    not closed the questionnaire (`questionnaires close`, every evaluation), and the evaluation
    has not closed it (its manager, in the back office, for this evaluation only)."""
    db = get_db()
    return (evaluation.collecting and not questionnaires.is_closed(db, questionnaire_id)
            and not drafts.is_closed(db, evaluation.id, questionnaire_id))


def _ended(questionnaire=None):
    """The calm page of an evaluation that no longer collects answers (200: nothing went wrong)."""
    return make_response(render_template("respond/ended.html", q=questionnaire), 200)


@bp.get("/")
def index():
    """The public front page: the questionnaires open to answer (at their unscoped generic links,
    which answer for the oldest evaluation using them), and the staff login."""
    db = get_db()
    open_now = []
    for item in questionnaires.list_current(db):
        evaluation = evaluations.for_legacy_link(db, item["id"])
        if evaluation is not None and _open(evaluation, item["id"]):
            open_now.append(item)
    return render_template("respond/index.html", questionnaires=open_now)


# Two addresses, one endpoint: /e/<slug>/q/<id> is an evaluation's generic link; /q/<id>,
# printed on QR codes before evaluations existed, answers for evaluations.for_legacy_link.
@bp.get("/e/<evaluation>/q/<questionnaire_id>")
@bp.get("/q/<questionnaire_id>", defaults={"evaluation": None})
def start_generic(questionnaire_id, evaluation):
    """The public generic link of a questionnaire in an evaluation: its start page."""
    found = links.generic_evaluation_or_404(evaluation, questionnaire_id)
    questionnaire = _questionnaire_or_404(questionnaire_id)
    if not _open(found, questionnaire.id):
        return _ended(questionnaire)
    return render_template("respond/start.html", q=questionnaire, link=None, evaluation=found)


@bp.get("/s/<code>")
def start_tracked(code):
    """A tracked link (site + channel, or one household): its start page."""
    db = get_db()
    link = links.get_link(db, code)
    if link is None or link["disabled"]:
        abort(404)
    questionnaire = _questionnaire_or_404(link["questionnaire_id"])
    evaluation = evaluations.by_id(db, link["evaluation_id"])
    if not _open(evaluation, questionnaire.id):
        return _ended(questionnaire)
    if link["single_use"] and links.link_used(db, code):
        return render_template("respond/already.html", q=questionnaire), 200
    return render_template("respond/start.html", q=questionnaire, link=link, evaluation=evaluation)


@bp.post("/e/<evaluation>/q/<questionnaire_id>/start")
@bp.post("/q/<questionnaire_id>/start", defaults={"evaluation": None})
def start(questionnaire_id, evaluation):
    """Open a draft under a new submission id and go to the first question.

    A tracked link's code in the form decides the evaluation (the link row carries it);
    otherwise the generic link's does.
    """
    db = get_db()
    questionnaire = _questionnaire_or_404(questionnaire_id)
    meta = {"channel": "qr"}
    code = request.form.get("link")
    if code:
        link = links.get_link(db, code)
        if link is None or link["disabled"] or link["questionnaire_id"] != questionnaire.id:
            abort(404)
        found = evaluations.by_id(db, link["evaluation_id"])
        if evaluation is not None and evaluation != found.slug:
            abort(404)
        meta = links.meta_for(link)
        meta.pop("evaluation_id")  # a column of the draft, not part of its meta
    else:
        found = links.generic_evaluation_or_404(evaluation, questionnaire.id)
    if not _open(found, questionnaire.id):
        return _ended(questionnaire)
    submission_id = responses.new_submission_id()
    meta["started_at"] = responses.now_iso()
    meta["device_hash"] = _device_hash()
    responses.open_draft(db, found.id, questionnaire, submission_id, meta)
    first = questionnaire.visible_questions({})[0]
    return redirect(url_for("respond.question", submission_id=submission_id, question_id=first["id"]))


def _device_hash():
    """A daily pseudonym of the device (IP + user agent, keyed by the secret and the date).

    Lets the quality rules spot bursts from one device within a day, without storing
    the address and without linking the same device across days.
    """
    key = f"{current_app.config['SECRET_KEY']}:{date.today().isoformat()}".encode()
    seen = f"{request.remote_addr}|{request.headers.get('User-Agent', '')}".encode()
    return hmac.new(key, seen, hashlib.sha256).hexdigest()[:16]


def _load_draft(submission_id):
    """Return (questionnaire, answers, meta with evaluation_id) of a draft; a finished form goes
    to thank-you, and a draft of an evaluation that stopped collecting (or closed this
    questionnaire) gets the ended page."""
    db = get_db()
    draft = responses.get_draft(db, submission_id)
    if draft is None:
        if responses.find(db, submission_id) is not None:
            abort(redirect(url_for("respond.done", submission_id=submission_id)))
        abort(404)
    questionnaire = _questionnaire_or_404(draft.questionnaire_id, draft.questionnaire_version)
    if not _open(evaluations.by_id(db, draft.evaluation_id), questionnaire.id):
        abort(_ended(questionnaire))
    return questionnaire, dict(draft.answers), {**draft.meta, "evaluation_id": draft.evaluation_id}


def _save_answers(submission_id, answers):
    """Write the draft's answers back (one small transaction)."""
    responses.save_draft_answers(get_db(), submission_id, answers)


def neighbours(visible, question_id):
    """The previous and next question ids around `question_id` (None at the ends)."""
    ids = [q["id"] for q in visible]
    index = ids.index(question_id)
    previous = ids[index - 1] if index > 0 else None
    following = ids[index + 1] if index + 1 < len(ids) else None
    return previous, following


@bp.route("/r/<submission_id>/<question_id>", methods=["GET", "POST"])
def question(submission_id, question_id):
    """Show one question; on POST check and keep the answer, then go on."""
    questionnaire, answers, meta = _load_draft(submission_id)

    def link(kind, **values):
        """The URL of this form's question or summary page."""
        return url_for(f"respond.{kind}", submission_id=submission_id, **values)

    return question_page(questionnaire, answers, meta, question_id,
                         lambda kept: _save_answers(submission_id, kept), link, sid=submission_id)


def question_page(questionnaire, answers, meta, question_id, save, link, template="respond/question.html",
                  **context):
    """One question of a form in progress: GET shows it, POST checks the answer, keeps it
    with `save(answers)` and redirects to `link("question", question_id=...)` or
    `link("summary")`. Shared by the respondent pages and the back office's preview of an
    unpublished questionnaire (whose answers are never stored), so both behave the same.
    """
    current = questionnaire.question(question_id)
    if current is None:
        abort(404)
    visible = questionnaire.visible_questions(answers)
    if current not in visible:
        return redirect(link("summary"))
    error = error_text = None
    if request.method == "POST":
        raw = request.form.getlist("answer") if current["type"] == "multi" else request.form.get("answer")
        if request.form.get("action") == "skip" and not current.get("required"):
            raw = None
        try:
            value = questionnaire.parse(current, raw)
        except questionnaires.AnswerError as exc:
            error, error_text = exc.code, answer_error_text(exc)
            answers[current["id"]] = raw  # show what was typed, not an empty box
        else:
            answers.pop(current["id"], None)
            if value is not None:
                answers[current["id"]] = value
            # A changed answer may hide later questions: keep only what stays visible.
            answers = questionnaire.clean_answers(answers, partial=True)
            save(answers)
            visible = questionnaire.visible_questions(answers)
            _previous, following = neighbours(visible, current["id"])
            back_to_summary = "summary" in (request.form.get("return"), request.args.get("return"))
            if back_to_summary:
                # Back to the review page at the row just changed, not at its top.
                return redirect(link("summary", _anchor=f"row-{current['id']}"))
            if following is None:
                return redirect(link("summary"))
            return redirect(link("question", question_id=following))
    previous, following = neighbours(visible, current["id"])
    position, count = questionnaire.progress(answers, current["id"])
    return render_template(
        template, q=questionnaire, question=current,
        position=position, count=count, previous=previous, error=error, error_text=error_text,
        value=answers.get(current["id"]), choices=questionnaire.choices(current),
        last=following is None and not questionnaire.may_follow(answers, current["id"]),
        qtext=questionnaire.question_text(current, short_locale(), questionnaire.respondent_type(answers, meta)),
        hint=_localised(current.get("hint"), short_locale()),
        from_summary="summary" in (request.args.get("return"), request.form.get("return")), **context,
    ), (400 if error else 200)


def _localised(words, lang):
    """The words of a {zh, en} mapping in `lang` (Chinese when missing), or None."""
    return (words.get(lang) or words.get("zh")) if words else None


def answer_error_text(exc):
    """What went wrong with an answer, in the respondent's language and plain words."""
    messages = {
        "required": lambda: gettext("请选择或填写后，再点“下一题”。"),
        "too_many": lambda: gettext("这道题只能选一项。"),
        "exclusive": lambda: gettext("选了“%(choice)s”，就不能再选别的。", choice=(
            exc.params["choice"].get(short_locale()) or exc.params["choice"]["zh"])),
        "too_long": lambda: gettext("字数太多了，请不要超过 %(max)s 个字。", max=exc.params.get("max")),
        "not_a_number": lambda: gettext("请填一个数字，比如 3。"),
        "out_of_range": lambda: gettext("请填 %(low)s 到 %(high)s 之间的数字。",
                                        low=exc.params.get("low"), high=exc.params.get("high")),
        "not_an_integer": lambda: gettext("请填一个整数，比如 3。"),
        # The questionnaire's own words (constraint_message), else a plain sentence.
        "constraint": lambda: (_localised(exc.params.get("words"), short_locale())
                               or gettext("这个回答不符合本题的要求，请再看看。")),
    }
    return messages.get(exc.code, lambda: gettext("请从下面的选项中选择。"))()


@bp.get("/r/<submission_id>/summary")
def summary(submission_id):
    """Every answer on one page, each with a change link, before sending."""
    questionnaire, answers, meta = _load_draft(submission_id)
    return render_template("respond/summary.html", sid=submission_id, **summary_context(questionnaire, answers, meta))


def summary_context(questionnaire, answers, meta):
    """What the summary page shows: the visible questions with their answers in words, and the
    required ones still missing (shared with the back office's preview)."""
    visible = questionnaire.visible_questions(answers)
    missing = [q for q in visible if q.get("required") and q["id"] not in answers]
    who = questionnaire.respondent_type(answers, meta)
    rows = [(q, questionnaire.question_text(q, short_locale(), who),
             answer_label(questionnaire, q, answers.get(q["id"]))) for q in visible if q["type"] != "note"]
    return {"q": questionnaire, "rows": rows, "missing": missing}


def answer_label(questionnaire, question, value):
    """The words of an answer as the respondent saw them, in the current locale."""
    if value is None:
        return None
    lang = short_locale()
    labels = {str(c["value"]): c.get(lang) or c["zh"] for c in questionnaire.choices(question)}
    values = value if isinstance(value, list) else [value]
    return "、".join(labels.get(str(v), str(v)) for v in values)


@bp.post("/r/<submission_id>/submit")
def submit(submission_id):
    """Store the response exactly once and show the thank-you page."""
    db = get_db()
    if responses.find(db, submission_id) is not None:
        return redirect(url_for("respond.done", submission_id=submission_id))
    questionnaire, answers, meta = _load_draft(submission_id)
    meta["submitted_at"] = responses.now_iso()
    try:
        responses.record(db, questionnaire, submission_id, answers, meta)
    except responses.HouseholdAnswered:
        return render_template("respond/already.html", q=questionnaire), 409
    except responses.SubmissionError as exc:
        first_missing = questionnaire.question(exc.field)
        if first_missing is not None:
            return redirect(url_for("respond.question", submission_id=submission_id,
                                    question_id=exc.field, **{"return": "summary"}))
        abort(400)
    return redirect(url_for("respond.done", submission_id=submission_id))


@bp.get("/r/<submission_id>/done")
def done(submission_id):
    """The calm thank-you page."""
    stored = responses.stored(get_db(), submission_id)
    if stored is None:
        abort(404)
    return render_template("respond/done.html",
                           q=_questionnaire_or_404(stored.questionnaire_id, stored.questionnaire_version))
