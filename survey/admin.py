"""The admin back office under /manage: sites, links, rosters, users and the audit log.

Admins only. Every change to rosters and users, every import and export is audited.
"""

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from survey import audit, auth, links, questionnaires, roster
from survey.db import get_db, transaction
from survey.responses import now_iso

bp = Blueprint("admin", __name__, url_prefix="/manage")


@bp.before_request
def admins_only():
    """Refuse everyone but admins (anonymous visitors are already sent to login)."""
    if not current_user.is_authenticated:
        return auth.login_manager.unauthorized()
    if current_user.role != "admin":
        abort(403)
    return None


@bp.get("/")
def index():
    """The admin home: counts and the sections."""
    db = get_db()
    counts = {name: db.execute(f"select count(*) from {name}").fetchone()[0]
              for name in ("sites", "links", "households", "users")}
    return render_template("admin/index.html", counts=counts)


@bp.route("/sites", methods=["GET", "POST"])
def sites():
    """List and add sites (社区/街道/乡镇)."""
    db = get_db()
    if request.method == "POST":
        code = request.form.get("code", "").strip()
        name = request.form.get("name", "").strip()
        existing = db.execute("select name from sites where code = ?", [code]).fetchone()
        if not code or not name:
            flash("站点代码和名称都要填写。")
        elif existing:
            # Adding again would change nothing: say so instead of a false 已添加.
            flash(f"没有添加：站点代码“{code}”已经存在（{existing[0]}）。要用新站点，请换一个代码。")
        else:
            links.create_site(db, code, name, request.form.get("kind", "社区").strip() or "社区")
            audit.log(db, "site_added", f"{code} {name}")
            flash(f"已添加站点：{name}")
        return redirect(url_for("admin.sites"))
    rows = list(db.query("select s.*, (select count(*) from households h where h.site_id = s.id) as households"
                         " from sites s order by s.name"))
    return render_template("admin/sites.html", rows=rows)


@bp.route("/links", methods=["GET", "POST"])
def links_page():
    """List tracked links and create one for a site and channel."""
    db = get_db()
    if request.method == "POST":
        try:
            contact = links.check_contact(*(request.form.get(f) for f in links.CONTACT_FIELDS))
            code = links.create_link(db, request.form.get("questionnaire", ""), request.form.get("channel", ""),
                                     site_id=request.form.get("site_id", type=int) or None,
                                     label=request.form.get("label", "").strip() or None)
            links.set_contact(db, [code], *contact)
        except (links.LinkError, questionnaires.UnknownQuestionnaire) as exc:
            flash(f"未能创建链接：{exc}")
        else:
            audit.log(db, "link_created", code)
            flash(f"已创建链接 /s/{code}")
        return redirect(url_for("admin.links_page"))
    rows = list(db.query("select l.*, s.name as site_name from links l left join sites s on s.id = l.site_id"
                         " where l.household_id is null order by l.created_at desc"))
    return render_template("admin/links.html", rows=rows, channels=links.CHANNEL_LABELS,
                           questionnaire_list=db.execute("select id, title_zh from questionnaires").fetchall(),
                           sites=db.execute("select id, name from sites order by name").fetchall())


@bp.route("/rosters", methods=["GET", "POST"])
def rosters():
    """Import a roster file (all-or-nothing) and list the households, masked unless granted."""
    db = get_db()
    error = None
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            error = roster.RosterError("请选择要导入的文件")
        else:
            try:
                added, updated = roster.import_roster(db, upload.filename, upload.read())
            except roster.RosterError as exc:
                error = exc
                audit.log(db, "roster_import_refused", f"{upload.filename}: {exc}")
            else:
                audit.log(db, "roster_imported", f"{upload.filename}: {added} added, {updated} updated")
                flash(f"导入完成：新增 {added} 户，更新 {updated} 户。")
                return redirect(url_for("admin.rosters"))
    site_id = request.args.get("site", type=int)
    rows = [roster.for_display(r, current_user.can_see_personal_data) for r in roster.households(db, site_id)]
    return render_template("admin/rosters.html", rows=rows, error=error, site_id=site_id,
                           sites=db.execute("select id, name from sites order by name").fetchall(),
                           questionnaire_list=db.execute("select id, title_zh from questionnaires").fetchall()), \
        (400 if error else 200)


@bp.get("/rosters/export.csv")
def roster_export():
    """The roster as CSV (masked unless the user may see personal data); no answers in it."""
    db = get_db()
    site_id = request.args.get("site", type=int)
    audit.log(db, "roster_exported", f"site={site_id or 'all'} masked={not current_user.can_see_personal_data}")
    return Response(roster.export_csv(db, current_user.can_see_personal_data, site_id),
                    mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=roster.csv"})


@bp.route("/rosters/cards", methods=["GET", "POST"])
def cards():
    """Printable cards: each household's one-time link and QR code (created on first use)."""
    db = get_db()
    questionnaire_id = request.values.get("q", "")
    site_id = request.values.get("site", type=int)
    try:
        questionnaire = questionnaires.get(db, questionnaire_id)
    except questionnaires.UnknownQuestionnaire:
        abort(404)
    codes = roster.household_links(db, questionnaire.id, site_id)
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
    contacts = {row["code"]: links.contact_for(row) for row in db.query(
        "select * from links where questionnaire_id = ? and household_id is not null", [questionnaire.id])}
    rows = []
    for household in roster.households(db, site_id):
        shown = roster.for_display(household, False)  # a card lies on a table: never a full name
        code = codes[household["id"]]
        rows.append({"household": shown, "code": code, "contact": contacts.get(code, {}),
                     "url": links.absolute_url("respond.start_tracked", code=code)})
    first = rows[0]["contact"] if rows else {}
    return render_template("admin/cards.html", rows=rows, q=questionnaire, site_id=site_id, contact=first)


@bp.route("/assignments", methods=["GET", "POST"])
def assignments():
    """Assign households to staff for follow-up (a whole site or one household); remove them.

    Assigned staff see the household's full phone number and can call it (tel:); each
    reveal and call is audited (survey/fieldwork.py).
    """
    db = get_db()
    if request.method == "POST":
        if request.form.get("remove"):
            with transaction(db):
                db.execute("delete from assignments where id = ?", [request.form.get("remove", type=int)])
            audit.log(db, "assignment_removed", request.form.get("remove"))
            flash("已取消分配。")
            return redirect(url_for("admin.assignments"))
        user_id = request.form.get("user_id", type=int)
        site_id = request.form.get("site_id", type=int) or None
        household_no = request.form.get("household_no", "").strip()
        staff = db.execute("select username from users where id = ? and role in ('staff', 'admin')"
                           " and active = 1", [user_id]).fetchone()
        household = None
        if household_no:
            household = db.execute("select id, site_id from households where household_no = ?"
                                   + (" and site_id = ?" if site_id else ""),
                                   [household_no] + ([site_id] if site_id else [])).fetchall()
        if staff is None:
            flash("没有分配：请选择一位在用的调查员。")
        elif household_no and len(household or []) != 1:
            hint = "（几个站点都有这个户号，请同时选站点）" if household else ""
            flash(f"没有分配：找不到户号“{household_no}”{hint}。")
        elif not household_no and not site_id:
            flash("没有分配：请选一个站点（整站分配），或填写一个户号（单户分配）。")
        else:
            target = ("household_id", household[0][0]) if household_no else ("site_id", site_id)
            with transaction(db):
                db.execute(f"insert into assignments (user_id, {target[0]}, assigned_at, assigned_by)"
                           " values (?, ?, ?, ?) on conflict do nothing",
                           [user_id, target[1], now_iso(), current_user.username])
            audit.log(db, "assignment_added", f"{staff[0]} {target[0]}={target[1]}")
            flash(f"已分配给 {staff[0]}。")
        return redirect(url_for("admin.assignments"))
    rows = list(db.query(
        "select a.id, u.username, u.display_name, s.name as site_name, h.household_no,"
        " hs.name as household_site, a.assigned_at from assignments a join users u on u.id = a.user_id"
        " left join sites s on s.id = a.site_id left join households h on h.id = a.household_id"
        " left join sites hs on hs.id = h.site_id order by u.username, s.name, h.household_no"))
    return render_template("admin/assignments.html", rows=rows,
                           staff=db.execute("select id, username, display_name from users where role in"
                                            " ('staff', 'admin') and active = 1 order by username").fetchall(),
                           sites=db.execute("select id, name from sites order by name").fetchall())


@bp.route("/users", methods=["GET", "POST"])
def users():
    """List users; create one (hashed password) with a role and the personal-data grant."""
    db = get_db()
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        role = request.form.get("role", "")
        try:
            auth.create_user(db, username, request.form.get("password", ""), role,
                             request.form.get("display_name", "").strip() or None,
                             request.form.get("personal_data") == "1")
        except ValueError as exc:
            flash(f"未能创建用户：{exc}")
        else:
            audit.log(db, "user_created", f"{username} ({role})")
            flash(f"已创建用户：{username}")
        return redirect(url_for("admin.users"))
    rows = list(db.query("select id, username, display_name, role, can_see_personal_data, active, created_at"
                         " from users order by username"))
    return render_template("admin/users.html", rows=rows, roles=auth.ROLES)


def _username_or_404(db, user_id):
    """The username of user `user_id`; 404 when there is no such user."""
    row = db.execute("select username from users where id = ?", [user_id]).fetchone()
    if row is None:
        abort(404)
    return row[0]


@bp.post("/users/<int:user_id>/active")
def set_active(user_id):
    """Deactivate or reactivate a user (never oneself)."""
    db = get_db()
    if user_id == current_user.id:
        flash("不能停用自己的账号。")
        return redirect(url_for("admin.users"))
    username = _username_or_404(db, user_id)
    active = 1 if request.form.get("active") == "1" else 0
    with transaction(db):
        db.execute("update users set active = ? where id = ?", [active, user_id])
    if not active:
        # Ended for good: reactivating later must not revive a session or token from before.
        auth.end_sessions(db, user_id)
    audit.log(db, "user_activated" if active else "user_deactivated", username)
    flash(("已启用：" if active else "已停用：") + username)
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/sign-out")
def sign_out_everywhere(user_id):
    """End every session and device token of a user (a lost phone, a leaked password)."""
    db = get_db()
    username = _username_or_404(db, user_id)
    auth.end_sessions(db, user_id)
    audit.log(db, "user_signed_out_everywhere", username)
    flash(_("已在所有设备上退出：%(name)s", name=username))
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/unlock")
def unlock_login(user_id):
    """Clear a user's recorded login failures, so no address has to wait any more."""
    db = get_db()
    username = _username_or_404(db, user_id)
    cleared = auth.unlock(db, username)
    audit.log(db, "login_unlocked", f"{username} ({cleared})")
    flash(_("已解除登录限制：%(name)s", name=username))
    return redirect(url_for("admin.users"))


@bp.get("/audit")
def audit_page():
    """The audit log, newest first (500 entries, optionally filtered by action)."""
    db = get_db()
    action = request.args.get("action", "").strip()
    sql, params = "select * from audit_log", []
    if action:
        sql += " where action = ?"
        params.append(action)
    rows = list(db.query(sql + " order by id desc limit 500", params))
    return render_template("admin/audit.html", rows=rows, action=action)


def base_url_warning():
    """Whether the back office must warn that BASE_URL is unset (links and QR codes would
    then carry whatever host the page was opened with, e.g. http://127.0.0.1:5000)."""
    from flask import current_app

    return {"base_url_missing": not current_app.config.get("BASE_URL")}


def init_app(app):
    """Register the admin blueprint and its menu entries."""
    app.register_blueprint(bp)
    app.context_processor(base_url_warning)
    for endpoint, label in (("admin.sites", "站点"), ("admin.links", "链接与二维码"),
                            ("admin.rosters", "名册"), ("admin.assignments", "调查分配"), ("admin.users", "用户"),
                            ("admin.audit_page", "审计日志")):
        auth.add_nav(endpoint if endpoint != "admin.links" else "admin.links_page", label, ["admin"])
