"""Managing one evaluation under /e/<slug>/manage: sites, links, rosters, assignments, cards,
members (roles in this evaluation) and its audit log.

Managers of the evaluation and admins only. Every change to rosters, members and
assignments, every import and export is audited. The global user list stays unscoped
at /manage/users (survey.web.users).
"""

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from survey import questionnaires, roster
from survey.storage import audit, evaluations, field_storage
from survey.storage.db import get_db
from survey.web import auth, links, scope

bp = Blueprint("admin", __name__, url_prefix="/e/<evaluation>/manage")
# The words of the members page for the roles of evaluations.ROLES (msgids of the catalogue).
ROLE_NAMES = {"manager": "项目管理员", "staff": "调查员", "evaluator": "评价人员", "viewer": "只看统计"}
scope.scope_blueprint(bp)


@bp.before_request
def managers_only():
    """Only the evaluation's managers and admins (after scope put the role on g)."""
    if not evaluations.may(g.evaluation_role, "manage"):
        abort(403)


def _evaluation_id():
    """The id of this request's evaluation."""
    return scope.current().id


@bp.get("/")
def index():
    """The evaluation's management home: counts and the sections."""
    db = get_db()
    counts = field_storage.counts(db, _evaluation_id())
    return render_template("admin/index.html", counts=counts)


@bp.route("/sites", methods=["GET", "POST"])
def sites():
    """List and add the evaluation's sites (社区/街道/乡镇); codes are unique per evaluation."""
    db = get_db()
    evaluation_id = _evaluation_id()
    if request.method == "POST":
        code = request.form.get("code", "").strip()
        name = request.form.get("name", "").strip()
        existing = field_storage.site_name(db, evaluation_id, code)
        if not code or not name:
            flash("站点代码和名称都要填写。")
        elif existing:
            # Adding again would change nothing: say so instead of a false 已添加.
            flash(f"没有添加：站点代码“{code}”已经存在（{existing}）。要用新站点，请换一个代码。")
        else:
            links.create_site(db, code, name, request.form.get("kind", "社区").strip() or "社区",
                              evaluation_id=evaluation_id)
            audit.log(db, "site_added", f"{code} {name}")
            flash(f"已添加站点：{name}")
        return redirect(url_for("admin.sites"))
    return render_template("admin/sites.html", rows=field_storage.sites_with_households(db, evaluation_id))


@bp.route("/links", methods=["GET", "POST"])
def links_page():
    """List the evaluation's tracked links and create one for a site and channel."""
    db = get_db()
    evaluation_id = _evaluation_id()
    if request.method == "POST":
        questionnaire_id = request.form.get("questionnaire", "")
        site_id = request.form.get("site_id", type=int) or None
        try:
            if not evaluations.uses(db, evaluation_id, questionnaire_id):
                raise links.LinkError(f"this evaluation does not use the questionnaire '{questionnaire_id}'")
            if site_id is not None and not field_storage.site_belongs(db, evaluation_id, site_id):
                raise links.LinkError(f"site {site_id} is not one of this evaluation's")
            contact = links.check_contact(*(request.form.get(f) for f in links.CONTACT_FIELDS))
            code = links.create_link(db, questionnaire_id, request.form.get("channel", ""), site_id=site_id,
                                     label=request.form.get("label", "").strip() or None,
                                     evaluation_id=evaluation_id)
            links.set_contact(db, [code], *contact)
        except (links.LinkError, questionnaires.UnknownQuestionnaire) as exc:
            flash(f"未能创建链接：{exc}")
        else:
            audit.log(db, "link_created", code)
            flash(f"已创建链接 /s/{code}")
        return redirect(url_for("admin.links_page"))
    return render_template("admin/links.html", rows=field_storage.tracked_links(db, evaluation_id),
                           channels=links.CHANNEL_LABELS,
                           questionnaire_list=field_storage.questionnaire_list(db, evaluation_id),
                           sites=field_storage.sites(db, evaluation_id))


@bp.route("/rosters", methods=["GET", "POST"])
def rosters():
    """Import a roster file (all-or-nothing) and list the households, masked unless granted."""
    db = get_db()
    evaluation_id = _evaluation_id()
    error = None
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            error = roster.RosterError("请选择要导入的文件")
        else:
            try:
                added, updated = roster.import_roster(db, upload.filename, upload.read(), evaluation_id)
            except roster.RosterError as exc:
                error = exc
                audit.log(db, "roster_import_refused", f"{upload.filename}: {exc}")
            else:
                audit.log(db, "roster_imported", f"{upload.filename}: {added} added, {updated} updated")
                flash(f"导入完成：新增 {added} 户，更新 {updated} 户。")
                return redirect(url_for("admin.rosters"))
    site_id = request.args.get("site", type=int)
    rows = [roster.for_display(r, current_user.can_see_personal_data)
            for r in roster.households(db, site_id, evaluation_id)]
    return render_template("admin/rosters.html", rows=rows, error=error, site_id=site_id,
                           sites=field_storage.sites(db, evaluation_id),
                           questionnaire_list=field_storage.questionnaire_list(db, evaluation_id)), \
        (400 if error else 200)


@bp.get("/rosters/export.csv")
def roster_export():
    """The roster as CSV (masked unless the user may see personal data); no answers in it."""
    db = get_db()
    site_id = request.args.get("site", type=int)
    audit.log(db, "roster_exported", f"site={site_id or 'all'} masked={not current_user.can_see_personal_data}")
    return Response(roster.export_csv(db, current_user.can_see_personal_data, site_id, _evaluation_id()),
                    mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=roster.csv"})


@bp.route("/rosters/cards", methods=["GET", "POST"])
def cards():
    """Printable cards: each household's one-time link and QR code (created on first use)."""
    db = get_db()
    evaluation_id = _evaluation_id()
    questionnaire_id = request.values.get("q", "")
    site_id = request.values.get("site", type=int)
    if not evaluations.uses(db, evaluation_id, questionnaire_id):
        abort(404)
    try:
        questionnaire = questionnaires.get(db, questionnaire_id)
    except questionnaires.UnknownQuestionnaire:
        abort(404)
    codes = roster.household_links(db, questionnaire.id, site_id, evaluation_id)
    if request.method == "POST":
        # Organiser, contact phone and closing date printed on this batch of cards.
        try:
            contact = links.check_contact(*(request.form.get(f) for f in links.CONTACT_FIELDS))
        except links.LinkError as exc:
            flash(f"没有保存卡片信息：{exc}")
        else:
            links.set_contact(db, codes.values(), *contact)
            flash("已保存卡片上的组织单位、咨询电话和截止日期。")
    audit.log(db, "household_cards", f"{questionnaire.id} site={site_id or 'all'}: {len(codes)} cards")
    contacts = {row["code"]: links.contact_for(row)
                for row in field_storage.household_links_rows(db, evaluation_id, questionnaire.id)}
    rows = []
    for household in roster.households(db, site_id, evaluation_id):
        shown = roster.for_display(household, False)  # a card lies on a table: never a full name
        code = codes[household["id"]]
        rows.append({"household": shown, "code": code, "contact": contacts.get(code, {}),
                     "url": links.absolute_url("respond.start_tracked", code=code)})
    first = rows[0]["contact"] if rows else {}
    return render_template("admin/cards.html", rows=rows, q=questionnaire, site_id=site_id, contact=first)


@bp.route("/assignments", methods=["GET", "POST"])
def assignments():
    """Assign the evaluation's households to its field staff (a whole site or one household).

    Assigned staff see the household's full phone number and can call it (tel:); each
    reveal and call is audited (survey/web/fieldwork.py).
    """
    db = get_db()
    evaluation_id = _evaluation_id()
    if request.method == "POST":
        if request.form.get("remove"):
            removed = field_storage.remove_assignment(db, evaluation_id, request.form.get("remove", type=int))
            if removed:
                audit.log(db, "assignment_removed", request.form.get("remove"))
            flash("已取消分配。" if removed else "没有取消：找不到这条分配。")
            return redirect(url_for("admin.assignments"))
        user_id = request.form.get("user_id", type=int)
        site_id = request.form.get("site_id", type=int) or None
        household_no = request.form.get("household_no", "").strip()
        staff = {uid: username for uid, username, _display in field_storage.field_staff(db, evaluation_id)}
        household = field_storage.households_numbered(db, evaluation_id, household_no, site_id) \
            if household_no else None
        if user_id not in staff:
            flash("没有分配：请选择一位在用的调查员。")
        elif site_id is not None and not field_storage.site_belongs(db, evaluation_id, site_id):
            flash("没有分配：这个站点不属于本评价项目。")
        elif household_no and len(household or []) != 1:
            hint = "（几个站点都有这个户号，请同时选站点）" if household else ""
            flash(f"没有分配：找不到户号“{household_no}”{hint}。")
        elif not household_no and not site_id:
            flash("没有分配：请选一个站点（整站分配），或填写一个户号（单户分配）。")
        else:
            target = {"household_id": household[0]["id"]} if household_no else {"site_id": site_id}
            field_storage.add_assignment(db, evaluation_id, user_id, by=current_user.username, **target)
            (column, value), = target.items()
            audit.log(db, "assignment_added", f"{staff[user_id]} {column}={value}")
            flash(f"已分配给 {staff[user_id]}。")
        return redirect(url_for("admin.assignments"))
    return render_template("admin/assignments.html", rows=field_storage.assignments(db, evaluation_id),
                           staff=field_storage.field_staff(db, evaluation_id),
                           sites=field_storage.sites(db, evaluation_id))


@bp.route("/members", methods=["GET", "POST"])
def members():
    """Who holds which role in this evaluation; grant (or change) and revoke roles of existing users."""
    db = get_db()
    evaluation = scope.current()
    if request.method == "POST":
        user_id = request.form.get("user_id", type=int)
        username = field_storage.user_exists(db, user_id) if user_id else None
        role = request.form.get("role", "")
        if username is None:
            flash(_("没有修改：请选择一个已有的用户。"))
        elif request.form.get("revoke") == "1":
            if user_id == current_user.id and current_user.role != "admin":
                flash(_("不能取消自己在本评价项目中的角色。"))
            elif evaluations.revoke(db, user_id, evaluation.id):
                audit.log(db, "member_revoked", username)
                flash(_("已取消 %(name)s 在本评价项目中的角色。", name=username))
        elif role not in evaluations.ROLES:
            flash(_("没有修改：角色只能是 %(roles)s。", roles=", ".join(evaluations.ROLES)))
        else:
            evaluations.grant(db, user_id, evaluation.id, role, granted_by=current_user.username)
            audit.log(db, "member_granted", f"{username} {role}")
            flash(_("已授予 %(name)s 角色：%(role)s", name=username, role=_(ROLE_NAMES[role])))
        return redirect(url_for("admin.members"))
    return render_template("admin/members.html", rows=evaluations.members(db, evaluation.id),
                           candidates=field_storage.users_without_role(db, evaluation.id),
                           roles=evaluations.ROLES)


@bp.get("/audit")
def audit_page():
    """The evaluation's audit log, newest first (500 entries, optionally filtered by action)."""
    action = request.args.get("action", "").strip()
    rows = field_storage.audit_entries(get_db(), _evaluation_id(), action)
    return render_template("admin/audit.html", rows=rows, action=action)


def base_url_warning():
    """Whether the back office must warn that BASE_URL is unset (links and QR codes would
    then carry whatever host the page was opened with, e.g. http://127.0.0.1:5000)."""
    return {"base_url_missing": not current_app.config.get("BASE_URL")}


def init_app(app):
    """Register the manage blueprint and its menu entries."""
    app.register_blueprint(bp)
    app.context_processor(base_url_warning)
    for endpoint, label in (("admin.sites", "站点"), ("admin.links_page", "链接与二维码"),
                            ("admin.rosters", "名册"), ("admin.assignments", "调查分配"),
                            ("admin.members", "成员与角色"), ("admin.audit_page", "审计日志")):
        auth.add_nav(endpoint, label, ["manage"])
