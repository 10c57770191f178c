"""Global user administration under /manage/users: create, deactivate, unlock, sign out.

Users exist across evaluations (a staff member may work in two), so this page is not
scoped to one; admins only. Roles inside an evaluation are granted on its members page
(survey.web.admin, /e/<slug>/manage/members).
"""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from survey.storage import audit
from survey.storage.db import get_db, transaction
from survey.web import auth

bp = Blueprint("users", __name__, url_prefix="/manage/users")


@bp.before_request
def admins_only():
    """Refuse everyone but admins (anonymous visitors are sent to login)."""
    if not current_user.is_authenticated:
        return auth.login_manager.unauthorized()
    if current_user.role != "admin":
        abort(403)
    return None


def every_user(db):
    """All users as rows (no password hashes), by username."""
    return list(db.query("select id, username, display_name, role, can_see_personal_data, active, created_at"
                         " from users order by username"))


def username_of(db, user_id):
    """The username of user `user_id`, or None."""
    row = db.execute("select username from users where id = ?", [user_id]).fetchone()
    return row[0] if row else None


def _username_or_404(db, user_id):
    """The username of user `user_id`; 404 when there is no such user."""
    username = username_of(db, user_id)
    if username is None:
        abort(404)
    return username


@bp.route("", methods=["GET", "POST"])
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
        return redirect(url_for("users.users"))
    return render_template("admin/users.html", rows=every_user(db), roles=auth.ROLES)


@bp.post("/<int:user_id>/active")
def set_active(user_id):
    """Deactivate or reactivate a user (never oneself)."""
    db = get_db()
    if user_id == current_user.id:
        flash("不能停用自己的账号。")
        return redirect(url_for("users.users"))
    username = _username_or_404(db, user_id)
    active = 1 if request.form.get("active") == "1" else 0
    with transaction(db):
        db.execute("update users set active = ? where id = ?", [active, user_id])
    if not active:
        # Ended for good: reactivating later must not revive a session or token from before.
        auth.end_sessions(db, user_id)
    audit.log(db, "user_activated" if active else "user_deactivated", username)
    flash(("已启用：" if active else "已停用：") + username)
    return redirect(url_for("users.users"))


@bp.post("/<int:user_id>/sign-out")
def sign_out_everywhere(user_id):
    """End every session and device token of a user (a lost phone, a leaked password)."""
    db = get_db()
    username = _username_or_404(db, user_id)
    auth.end_sessions(db, user_id)
    audit.log(db, "user_signed_out_everywhere", username)
    flash(_("已在所有设备上退出：%(name)s", name=username))
    return redirect(url_for("users.users"))


@bp.post("/<int:user_id>/unlock")
def unlock_login(user_id):
    """Clear a user's recorded login failures, so no address has to wait any more."""
    db = get_db()
    username = _username_or_404(db, user_id)
    cleared = auth.unlock(db, username)
    audit.log(db, "login_unlocked", f"{username} ({cleared})")
    flash(_("已解除登录限制：%(name)s", name=username))
    return redirect(url_for("users.users"))


def init_app(app):
    """Register the blueprint and its menu entry."""
    app.register_blueprint(bp)
    auth.add_nav("users.users", "用户", ["admin"])
