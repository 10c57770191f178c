"""Evaluations in the browser: creating one (admin, two steps), its overview with the
set-up checklist, and its status.

Step 1 (`/admin/evaluations/new`, unscoped: the evaluation does not exist yet) asks
for the name, slug, project, unit, year, period and target population and creates the
evaluation as 准备中 (preparing) using no questionnaire yet; step 2
(`/e/<slug>/questionnaires`) chooses the library questionnaires it uses. Then the
overview (`/e/<slug>/`) lists what is still to set up, each item linking to the scoped
page another area built, with counts from the database. Plain forms: no JavaScript.
"""

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as N_  # N_: a keyword pybabel extracts; lazy: translated when shown
from flask_login import current_user

from survey import questionnaires
from survey.storage import audit, evaluations
from survey.storage.db import get_db, transaction
from survey.web import scope

bp = Blueprint("evaluations", __name__, url_prefix="/e/<evaluation>")
new_bp = Blueprint("evaluation_new", __name__, url_prefix="/admin/evaluations")
scope.scope_blueprint(bp)

STATUS_WORDS = {"preparing": N_("准备中"), "collecting": N_("采集中"), "closed": N_("已结束"),
                "archived": N_("已归档")}
ROLE_WORDS = {"admin": N_("系统管理员"), "manager": N_("项目管理员"), "staff": N_("调查员"),
              "evaluator": N_("评价人员"), "viewer": N_("查看人员")}
# The fields of step 1, in the order of the form (the error summary links to each by id).
FIELDS = ("name", "slug", "project", "unit", "year", "period_from", "period_to", "population")
FIELD_WORDS = {"name": N_("评价项目名称"), "slug": N_("简称（网址用）"), "project": N_("被评价项目"),
               "unit": N_("项目单位"), "year": N_("年度"), "period_from": N_("评价期间起"),
               "period_to": N_("评价期间止"), "population": N_("目标人群数量"),
               "questionnaires": N_("问卷")}
# What to say when a field is wrong, in the words of the form (EvaluationError names the field).
FIELD_HINTS = {
    "name": N_("请填写评价项目名称。"),
    "slug": N_("简称只能用小写字母、数字和“-”，以字母或数字开头，最多48个字符。"),
    "slug_taken": N_("这个简称已经被另一个评价项目使用，请换一个。"),
    "year": N_("年度请填写2000到2100之间的四位数字。"),
    "period_from": N_("评价期间起请按 2025-01-31 的格式填写日期。"),
    "period_to": N_("评价期间止请按 2025-12-31 的格式填写日期，且不能早于起始日期。"),
    "population": N_("目标人群数量请填写大于0的整数。"),
    "status": N_("未知的状态。"),
}


class SetupError(ValueError):
    """A set-up form is wrong; `field` names the input, the message says what to do."""

    def __init__(self, field, message):
        """Keep the field apart from the message."""
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def setup_counts(db, evaluation_id):
    """How much of an evaluation is set up: questionnaires, sites, households, indicator
    systems, links, members and responses (each a count of its own rows)."""
    counts = {}
    for key, sql in (
            ("questionnaires", "select count(*) from evaluation_questionnaires where evaluation_id = ?"),
            ("sites", "select count(*) from sites where evaluation_id = ?"),
            ("households", "select count(*) from households where evaluation_id = ?"),
            ("systems", "select count(*) from indicator_systems where evaluation_id = ?"),
            ("links", "select count(*) from links where evaluation_id = ?"),
            ("members", "select count(*) from evaluation_members where evaluation_id = ?"),
            ("responses", "select count(*) from responses where evaluation_id = ?")):
        counts[key] = db.execute(sql, [evaluation_id]).fetchone()[0]
    return counts


def answered_questionnaires(db, evaluation_id):
    """The questionnaires that already have responses or links in an evaluation (they stay used)."""
    return {row[0] for row in db.execute(
        "select questionnaire_id from responses where evaluation_id = ?"
        " union select questionnaire_id from links where evaluation_id = ?", [evaluation_id, evaluation_id])}


def set_questionnaires(db, evaluation_id, chosen):
    """Make an evaluation use exactly `chosen` library questionnaires.

    Raises SetupError naming a questionnaire that is not in the library, or one that
    would be dropped although it has responses or links there (its data must stay reachable).
    """
    library = {row["id"] for row in questionnaires.list_current(db)}
    unknown = sorted(set(chosen) - library)
    if unknown:
        raise SetupError("questionnaires", _("问卷库里没有：%(ids)s", ids=", ".join(unknown)))
    current = set(evaluations.questionnaire_ids(db, evaluation_id))
    dropped = current - set(chosen)
    kept = sorted(dropped & answered_questionnaires(db, evaluation_id))
    if kept:
        raise SetupError("questionnaires", _("问卷 %(ids)s 已有答卷或链接，不能取消。", ids=", ".join(kept)))
    with transaction(db):
        for questionnaire_id in dropped:
            db.execute("delete from evaluation_questionnaires where evaluation_id = ? and questionnaire_id = ?",
                       [evaluation_id, questionnaire_id])
    for questionnaire_id in sorted(set(chosen) - current):
        evaluations.use_questionnaire(db, evaluation_id, questionnaire_id)


def _int_or_none(form, field):
    """An optional whole number from the form; SetupError naming the field otherwise."""
    value = (form.get(field) or "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise SetupError(field, FIELD_HINTS[field])
    return int(value)


def _text_or_none(form, field):
    """An optional text from the form, stripped."""
    return (form.get(field) or "").strip() or None


def checklist(evaluation, counts):
    """The overview's set-up items: label, where to do it (a scoped URL), done or not, count."""
    base = url_for("evaluations.overview", evaluation=evaluation.slug)
    return [
        {"key": "questionnaires", "label": _("问卷"), "url": url_for("evaluations.choose_questionnaires"),
         "done": counts["questionnaires"] > 0, "count": _("%(n)d 份", n=counts["questionnaires"])},
        {"key": "sites", "label": _("站点与名册"), "url": f"{base}manage/sites",
         "done": counts["sites"] > 0,
         "count": _("%(sites)d 个站点，%(households)d 户", sites=counts["sites"], households=counts["households"])},
        {"key": "systems", "label": _("指标体系（示例或上传）"), "url": f"{base}scores/",
         "done": counts["systems"] > 0, "count": _("%(n)d 套", n=counts["systems"])},
        {"key": "links", "label": _("链接与海报"), "url": f"{base}manage/links",
         "done": counts["links"] > 0, "count": _("%(n)d 个", n=counts["links"])},
        {"key": "members", "label": _("成员"), "url": f"{base}manage/members",
         "done": counts["members"] > 0, "count": _("%(n)d 人", n=counts["members"])},
    ]


@new_bp.route("/new", methods=["GET", "POST"])
def new():
    """Step 1: the evaluation's name, slug, project, unit, year, period and population (admin only)."""
    if current_user.role != "admin":
        abort(403)
    errors, values = [], {field: "" for field in FIELDS}
    if request.method == "POST":
        values = {field: (request.form.get(field) or "").strip() for field in FIELDS}
        try:
            year = _int_or_none(request.form, "year")
            population = _int_or_none(request.form, "population")
            if population == 0:
                raise SetupError("population", FIELD_HINTS["population"])
            evaluation = evaluations.create(
                get_db(), values["slug"], values["name"], project=_text_or_none(request.form, "project"),
                unit=_text_or_none(request.form, "unit"), year=year,
                period_from=values["period_from"] or None, period_to=values["period_to"] or None,
                population=population, status="preparing", questionnaires=[])
        except (SetupError, evaluations.EvaluationError) as exc:
            hint = "slug_taken" if exc.field == "slug" and evaluations.get(get_db(), values["slug"]) else exc.field
            errors = [{"field": exc.field, "label": FIELD_WORDS.get(exc.field, exc.field),
                       "message": FIELD_HINTS.get(hint, exc.message)}]
        else:
            audit.log(get_db(), "evaluation_created", f"{evaluation.slug} ({evaluation.name})",
                      evaluation_id=evaluation.id)
            return redirect(url_for("evaluations.choose_questionnaires", evaluation=evaluation.slug, new=1))
    return render_template("evaluations/new.html", errors=errors, values=values, field_words=FIELD_WORDS), \
        (400 if errors else 200)


@bp.route("/questionnaires", methods=["GET", "POST"])
@scope.requires("manage")
def choose_questionnaires():
    """Step 2: which library questionnaires the evaluation uses."""
    db = get_db()
    evaluation = g.evaluation
    chosen = set(evaluations.questionnaire_ids(db, evaluation.id))
    errors = []
    if request.method == "POST":
        if evaluation.read_only:
            abort(403)
        picked = request.form.getlist("questionnaire")
        try:
            if not picked:
                raise SetupError("questionnaires", _("请至少选择一份问卷。"))
            set_questionnaires(db, evaluation.id, picked)
        except SetupError as exc:
            errors = [{"field": exc.field, "label": FIELD_WORDS[exc.field], "message": exc.message}]
            chosen = set(picked)
        else:
            audit.log(db, "evaluation_questionnaires", ", ".join(sorted(picked)))
            flash(_("已保存评价项目使用的问卷。"))
            return redirect(url_for("evaluations.overview"))
    library = questionnaires.list_current(db)
    return render_template("evaluations/questionnaires.html", library=library, chosen=chosen, errors=errors,
                           locked=answered_questionnaires(db, evaluation.id),
                           new=request.args.get("new") == "1"), (400 if errors else 200)


@bp.get("/")
def overview():
    """The evaluation's overview: its facts, the set-up checklist and the status form."""
    db = get_db()
    counts = setup_counts(db, g.evaluation.id)
    return render_template("evaluations/overview.html", evaluation=g.evaluation, counts=counts,
                           items=checklist(g.evaluation, counts), statuses=evaluations.STATUSES,
                           status_words=STATUS_WORDS, may_manage=scope.may("manage"))


@bp.post("/status")
@scope.requires("manage")
def change_status():
    """Move the evaluation to another status (admin or its manager)."""
    status = request.form.get("status", "")
    if status not in evaluations.STATUSES:
        flash(_("未知的状态：%(status)s", status=status[:40]))
        return redirect(url_for("evaluations.overview")), 303
    evaluations.set_status(get_db(), g.evaluation, status)
    audit.log(get_db(), "evaluation_status", f"{g.evaluation.slug}: {status}")
    flash(_("评价项目状态已改为“%(status)s”。", status=STATUS_WORDS[status]))
    return redirect(url_for("evaluations.overview"))


def status_word(evaluation):
    """The status of an evaluation in the UI's words (templates use it in the header)."""
    return STATUS_WORDS.get(evaluation.status, evaluation.status)


def init_app(app):
    """Register both blueprints and the template helper."""
    app.register_blueprint(bp)
    app.register_blueprint(new_bp)
    app.jinja_env.globals["evaluation_status_word"] = status_word
