"""Back-office accounts: login with Flask-Login, roles, lockout, and the users CLI.

Default deny: every endpoint not listed in PUBLIC_ENDPOINTS needs a logged-in user,
so a new back-office page cannot be left open by forgetting a decorator.
"""

import functools
import sys
from datetime import datetime, timedelta, timezone

import click
from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, session, url_for
from flask.cli import AppGroup
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from werkzeug.security import check_password_hash, generate_password_hash

from survey import audit
from survey.db import get_db, transaction

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
ROLES = ("admin", "staff", "evaluator")
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)

# Endpoints anyone may reach: the respondent side, QR codes, static files, login, health.
PUBLIC_ENDPOINTS = {
    "static", "auth.login", "health", "respond.index",
    "respond.start_generic", "respond.start_tracked", "respond.start", "respond.question",
    "respond.summary", "respond.submit", "respond.done",
    "links.generic_qr", "links.tracked_qr", "links.poster",
    "api.openapi",
}


class User(UserMixin):
    """A back-office user loaded from the users table."""

    def __init__(self, row):
        """Wrap a users row."""
        self.row = row
        self.id = row["id"]
        self.username = row["username"]
        self.role = row["role"]
        self.display_name = row["display_name"] or row["username"]
        self.can_see_personal_data = bool(row["can_see_personal_data"]) or row["role"] == "admin"

    @property
    def is_active(self):
        """A deactivated user cannot log in or keep a session."""
        return bool(self.row["active"])


@login_manager.user_loader
def load_user(user_id):
    """Load the user of a session, or None."""
    rows = list(get_db().query("select * from users where id = ?", [user_id]))
    return User(rows[0]) if rows else None


def role_required(*roles):
    """Decorate a view so only the given roles (admin always) may use it; others get 403."""
    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role != "admin" and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator


def require_login_by_default():
    """before_request: refuse anonymous visitors everywhere but the public endpoints."""
    if request.endpoint is None or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if getattr(g, "api_user", None) is not None or current_user.is_authenticated:
        return None
    if request.path.startswith("/api/"):
        return jsonify(error="login required"), 401
    return login_manager.unauthorized()


def create_user(db, username, password, role, display_name=None, can_see_personal_data=False):
    """Create a user with a hashed password; return its id. Raises ValueError when taken."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    if db.execute("select 1 from users where username = ?", [username]).fetchone():
        raise ValueError(f"user '{username}' exists")
    with transaction(db):
        cursor = db.execute(
            "insert into users (username, password_hash, role, display_name, can_see_personal_data,"
            " active, created_at) values (?, ?, ?, ?, ?, 1, ?)",
            [username, generate_password_hash(password), role, display_name,
             int(can_see_personal_data), _now().isoformat(timespec="seconds")])
    return cursor.lastrowid


def _now():
    """The current UTC time."""
    return datetime.now(timezone.utc)


def _locked(db, username):
    """Whether too many recent failures lock this username out."""
    since = (_now() - LOCKOUT).isoformat(timespec="seconds")
    count = db.execute("select count(*) from login_failures where username = ? and at >= ?",
                       [username, since]).fetchone()[0]
    return count >= MAX_FAILURES


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in; five failures in 15 minutes lock the username for 15 minutes."""
    error = None
    if request.method == "POST":
        db = get_db()
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        rows = list(db.query("select * from users where username = ?", [username]))
        if _locked(db, username):
            error = "locked"
        elif rows and rows[0]["active"] and check_password_hash(rows[0]["password_hash"], password):
            with transaction(db):
                db.execute("delete from login_failures where username = ?", [username])
            session.clear()
            session.permanent = True
            login_user(User(rows[0]))
            audit.log(db, "login", username)
            return redirect(_safe_next(request.args.get("next")) or url_for("auth.home"))
        else:
            with transaction(db):
                db.execute("insert into login_failures (username, at, ip) values (?, ?, ?)",
                           [username, _now().isoformat(timespec="seconds"), request.remote_addr])
            audit.log(db, "login_failed", username)
            error = "invalid"
    return render_template("auth/login.html", error=error), (401 if error else 200)


def _safe_next(target):
    """Only follow a `next` that stays on this site."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return None


@bp.post("/logout")
def logout():
    """Log out and forget the session."""
    logout_user()
    session.clear()
    flash("已退出登录。")
    return redirect(url_for("auth.login"))


@bp.get("/admin/")
def home():
    """The back-office home: what this role can do."""
    return render_template("auth/home.html")


users_cli = AppGroup("users", help="Back-office users.")


@users_cli.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", "display_name", help="Name shown in the back office.")
@click.option("--personal-data", is_flag=True, help="Grant sight of names, phones and addresses.")
def create_user_command(username, role, display_name, personal_data):
    """Create a user. The password is prompted, or read from stdin when piped."""
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        user_id = create_user(get_db(), username, password, role, display_name, personal_data)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    audit.log(get_db(), "user_created", f"{username} ({role})", user="cli")
    click.echo(f"Created {role} '{username}' (id {user_id}).")


# Back-office menu entries: (endpoint, label, roles), added with add_nav().
NAV = []


def add_nav(endpoint, label, roles):
    """Add a back-office menu entry once (create_app may run many times in tests)."""
    entry = (endpoint, label, tuple(roles))
    if entry not in NAV:
        NAV.append(entry)


def nav_items():
    """The menu entries the current user's role may open."""
    items = []
    for endpoint, label, roles in NAV:
        if current_user.role == "admin" or current_user.role in roles:
            items.append({"url": url_for(endpoint), "label": label})
    return items


def create_schema(db):
    """The login-failures table used for the lockout."""
    db["login_failures"].create({"id": int, "username": str, "at": str, "ip": str}, pk="id",
                                not_null={"username", "at"}, if_not_exists=True)
    db["login_failures"].create_index(["username", "at"], if_not_exists=True)


def init_app(app):
    """Set up Flask-Login, the default-deny hook, the blueprint and the CLI."""
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", timedelta(hours=8))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录。"
    app.before_request(require_login_by_default)
    app.register_blueprint(bp)
    app.cli.add_command(users_cli)
    app.jinja_env.globals["nav_items"] = nav_items
