"""Back-office accounts: login with Flask-Login, roles, throttling, sessions, and the users CLI.

Default deny: every endpoint not listed in PUBLIC_ENDPOINTS needs a logged-in user,
so a new back-office page cannot be left open by forgetting a decorator.

Sessions are controlled on the server although the cookie is client-side: every user
has a `session_version`, copied into the session at login and compared on each
request (in the user loader). Logout, a password change, deactivation and an admin's
"sign out everywhere" bump it, which ends every session and staff submit token of
that user at once, including cookies copied before (reactivation does not revive
them). A session also ends SESSION_ABSOLUTE_SECONDS after login (8 hours) and after
SESSION_IDLE_SECONDS without a request (2 hours).

Login throttling counts failures per (username, client address), so an anonymous
client can slow down only itself, never lock the real user out from their own
address: from the fifth failure in 15 minutes each further try waits 30 s, 60 s,
120 s ... (at most 15 minutes). An admin can clear them (unlock). Unknown usernames
cost the same password-hash work as known ones, so timing does not tell them apart.
"""

import functools
import sys
import time
import unicodedata
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import click
from flask import Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request, session, url_for
from flask.cli import AppGroup
from flask_babel import gettext as _
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from werkzeug.security import check_password_hash, generate_password_hash

from survey.storage import audit, evaluations
from survey.storage.db import get_db, transaction
from survey.web import evaluations_web

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
# The role a user is created with: `admin` is global; the others are the user's role in
# an evaluation (survey.storage.evaluations.ROLES), granted at creation in the evaluation named
# or, when the database holds exactly one, in that one.
ROLES = ("admin", "manager", "staff", "evaluator", "viewer")
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)  # the window failures are counted in, and the longest wait
FIRST_DELAY = 30  # seconds to wait after the MAX_FAILURES-th failure; doubles with each further one
SESSION_ABSOLUTE_SECONDS = 8 * 3600
SESSION_IDLE_SECONDS = 2 * 3600
# The same hash method as real passwords, so checking an unknown user costs the same.
_DUMMY_HASH = generate_password_hash("not-a-password-" + str(time.time()))

# Endpoints anyone may reach: the respondent side, QR codes, static files, login, health.
PUBLIC_ENDPOINTS = {
    "static", "auth.login", "health", "respond.index",
    "respond.start_generic", "respond.start_tracked", "respond.start", "respond.question",
    "respond.summary", "respond.submit", "respond.done",
    "links.generic_qr", "links.tracked_qr", "links.poster",
    "api.openapi", "api_submissions.schema_document",
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
    """Load the user of a session, or None when the session was ended on the server or timed out."""
    rows = list(get_db().query("select * from users where id = ?", [user_id]))
    if not rows or not session_alive(rows[0]):
        session.clear()
        return None
    return User(rows[0])


def session_alive(row):
    """Whether this request's session still stands for the users row `row` (and note the visit)."""
    config = current_app.config
    now = time.time()
    login_at, seen = session.get("_login_at"), session.get("_seen")
    if session.get("_sv") != row["session_version"] or not isinstance(login_at, (int, float)) \
            or not isinstance(seen, (int, float)):
        return False
    if now - login_at > config["SESSION_ABSOLUTE_SECONDS"] or now - seen > config["SESSION_IDLE_SECONDS"]:
        return False
    if now - seen > 60:  # rewriting the cookie on every request would be needless churn
        session["_seen"] = now
    return True


def end_sessions(db, user_id):
    """End every session and device token of a user: bump the session version, revoke API tokens."""
    with transaction(db):
        db.execute("update users set session_version = session_version + 1 where id = ?", [user_id])
        db.execute("update api_tokens set revoked = 1 where revoked = 0 and user_id = ?", [user_id])


def set_password(db, user_id, password):
    """Change a user's password and end all their sessions. Raises ValueError when too short."""
    if len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    with transaction(db):
        db.execute("update users set password_hash = ? where id = ?", [generate_password_hash(password), user_id])
    end_sessions(db, user_id)


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


def create_user(db, username, password, role, display_name=None, can_see_personal_data=False,
                evaluation_id=None):
    """Create a user with a hashed password; return its id. Raises ValueError when taken.

    A non-admin gets `role` in the evaluation `evaluation_id` (default: the only one, if
    the database holds exactly one; otherwise no role until `users grant`).
    """
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
    user_id = cursor.lastrowid
    if role != "admin":
        if evaluation_id is None:
            only = db.execute("select id from evaluations limit 2").fetchall()
            evaluation_id = only[0][0] if len(only) == 1 else None
        if evaluation_id is not None:
            evaluations.grant(db, user_id, evaluation_id, role, granted_by="created with the user")
    return user_id


def _now():
    """The current UTC time."""
    return datetime.now(timezone.utc)


def wait_seconds(db, username, ip):
    """Seconds this address must still wait before trying this username again (0: may try)."""
    since = (_now() - LOCKOUT).isoformat(timespec="seconds")
    count, last = db.execute(
        "select count(*), max(at) from login_failures where username = ? and ip is ? and at >= ?",
        [username, ip, since]).fetchone()
    if count < MAX_FAILURES:
        return 0
    delay = min(FIRST_DELAY * 2 ** (count - MAX_FAILURES), LOCKOUT.total_seconds())
    elapsed = (_now() - datetime.fromisoformat(last)).total_seconds()
    return max(0, int(delay - elapsed + 0.999))


def unlock(db, username):
    """Forget every recorded login failure of a username (an admin's unlock); return how many."""
    with transaction(db):
        return db.execute("delete from login_failures where username = ?", [username]).rowcount


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in; repeated failures from one address make that address wait longer and longer."""
    error, wait = None, 0
    if request.method == "POST":
        db = get_db()
        username = request.form.get("username", "").strip()[:150]
        password = request.form.get("password", "")
        rows = list(db.query("select * from users where username = ?", [username]))
        # Always one hash check, against a dummy for unknown users: equal work, equal time.
        matches = check_password_hash(rows[0]["password_hash"] if rows else _DUMMY_HASH, password)
        wait = wait_seconds(db, username, request.remote_addr)
        if wait:
            error = "locked"
        elif rows and rows[0]["active"] and matches:
            with transaction(db):
                db.execute("delete from login_failures where username = ? and ip is ?",
                           [username, request.remote_addr])
            session.clear()
            session.permanent = True
            now = time.time()
            session.update(_sv=rows[0]["session_version"], _login_at=now, _seen=now)
            login_user(User(rows[0]))
            audit.log(db, "login", username)
            return redirect(safe_next(request.args.get("next")) or url_for("auth.home"))
        else:
            with transaction(db):
                db.execute("insert into login_failures (username, at, ip) values (?, ?, ?)",
                           [username, _now().isoformat(timespec="microseconds"), request.remote_addr])
            audit.log(db, "login_failed", username)
            error = "invalid"
    headers = {"Retry-After": str(wait)} if wait else {}
    return render_template("auth/login.html", error=error, wait=wait), (401 if error else 200), headers


def safe_next(target):
    """A `next` target only when it is a path on this site, control characters removed first.

    Browsers drop tabs and newlines inside URLs, so "/<TAB>/evil.example" would become
    "//evil.example" (another host) in the browser; they also read a backslash as a slash.
    """
    if not target:
        return None
    target = "".join(ch for ch in target if unicodedata.category(ch)[0] != "C")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@bp.post("/logout")
def logout():
    """Log out: end this user's sessions and submit tokens everywhere, and forget this one."""
    if current_user.is_authenticated:
        db = get_db()
        end_sessions(db, current_user.id)
        audit.log(db, "logout", current_user.username)
    logout_user()
    session.clear()
    flash("已退出登录。")
    return redirect(url_for("auth.login"))


@bp.get("/admin/")
def home():
    """The back-office home: the user's evaluations, each with the pages their role there may open."""
    db = get_db()
    admin = current_user.role == "admin"
    entries = []
    for evaluation in evaluations.for_user(db, current_user.id, admin):
        role = evaluations.role_of(db, current_user.id, evaluation.id, admin)
        pages = [{"url": url_for("evaluations.overview", evaluation=evaluation.slug), "label": _("概览与设置")},
                 *scoped_nav(evaluation, role)]
        entries.append({"evaluation": evaluation, "role_word": evaluations_web.ROLE_WORDS.get(role, role),
                        "status_word": evaluations_web.status_word(evaluation), "pages": pages})
    return render_template("auth/home.html", entries=entries, unscoped=unscoped_nav())


users_cli = AppGroup("users", help="Back-office users.")


@users_cli.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", "display_name", help="Name shown in the back office.")
@click.option("--personal-data", is_flag=True, help="Grant sight of names, phones and addresses.")
@click.option("--evaluation", "slug", metavar="SLUG",
              help="The evaluation the role is in (may be left out when there is only one).")
def create_user_command(username, role, display_name, personal_data, slug):
    """Create a user. The password is prompted, or read from stdin when piped."""
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        evaluation = evaluations.choose(get_db(), slug) if slug or role != "admin" else None
        user_id = create_user(get_db(), username, password, role, display_name, personal_data,
                              evaluation.id if evaluation else None)
    except (ValueError, evaluations.EvaluationChoiceError) as exc:
        raise click.ClickException(str(exc)) from None
    audit.log(get_db(), "user_created", f"{username} ({role})", user="cli")
    click.echo(f"Created {role} '{username}' (id {user_id}).")


@users_cli.command("set-password")
@click.argument("username")
def set_password_command(username):
    """Change USERNAME's password (prompted, or read from stdin) and end all their sessions."""
    db = get_db()
    row = db.execute("select id from users where username = ?", [username]).fetchone()
    if row is None:
        raise click.ClickException(f"no user '{username}'")
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        set_password(db, row[0], password)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    audit.log(db, "password_changed", username, user="cli")
    click.echo(f"Password of '{username}' changed; every session of theirs has ended.")


# Back-office menu entries: (endpoint, label, roles), added with add_nav(). `roles` may
# name roles (manager, staff, evaluator, viewer) or capabilities (manage, field, results,
# statistics: survey.storage.evaluations.CAPABILITIES). An entry whose endpoint lives under
# /e/<evaluation>/ is shown by the user's role in that evaluation; any other by users.role.
NAV = []


def add_nav(endpoint, label, roles):
    """Add a back-office menu entry once (create_app may run many times in tests)."""
    entry = (endpoint, label, tuple(roles))
    if entry not in NAV:
        NAV.append(entry)


def _allowed(role, roles):
    """Whether `role` (admin or an evaluation role) opens an entry listing `roles`."""
    if role == "admin":
        return True
    return any(role == wanted or (wanted in evaluations.CAPABILITIES and evaluations.may(role, wanted))
               for wanted in roles)


def _scoped(endpoint):
    """Whether an endpoint lives under /e/<evaluation>/."""
    return current_app.url_map.is_endpoint_expecting(endpoint, "evaluation")


def scoped_nav(evaluation, role):
    """The menu entries of one evaluation that `role` (the user's role there) may open."""
    return [{"url": url_for(endpoint, evaluation=evaluation.slug), "label": label}
            for endpoint, label, roles in NAV if _scoped(endpoint) and _allowed(role, roles)]


def unscoped_nav():
    """The menu entries outside any evaluation that the user's global role may open."""
    return [{"url": url_for(endpoint), "label": label}
            for endpoint, label, roles in NAV if not _scoped(endpoint) and _allowed(current_user.role, roles)]


def nav_items():
    """The menu: in an evaluation's page its entries (by the user's role there), then the global ones."""
    evaluation = g.get("evaluation")
    scoped = scoped_nav(evaluation, g.evaluation_role) if evaluation is not None else []
    return scoped + unscoped_nav()


def create_schema(db):
    """The login-failures table used for the lockout."""
    db["login_failures"].create({"id": int, "username": str, "at": str, "ip": str}, pk="id",
                                not_null={"username", "at"}, if_not_exists=True)
    db["login_failures"].create_index(["username", "at"], if_not_exists=True)


def init_app(app):
    """Set up Flask-Login, the default-deny hook, the blueprint and the CLI."""
    app.config.setdefault("SESSION_ABSOLUTE_SECONDS", SESSION_ABSOLUTE_SECONDS)
    app.config.setdefault("SESSION_IDLE_SECONDS", SESSION_IDLE_SECONDS)
    # Not setdefault: Flask always sets this key (31 days), so setdefault did nothing.
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=int(app.config["SESSION_ABSOLUTE_SECONDS"]))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录。"
    app.before_request(require_login_by_default)
    app.register_blueprint(bp)
    app.cli.add_command(users_cli)
    app.jinja_env.globals["nav_items"] = nav_items
