"""Serving safely: security headers, cookie flags, and rate limits shared by all workers.

Headers (on every response): a strict Content-Security-Policy (no inline script or
style anywhere: the templates load /static files only), frame denial, a same-origin
referrer policy, nosniff, a Permissions-Policy that turns off the powerful features
the survey never uses, and HSTS when the site is served over HTTPS.

Cookies: the session and remember-me cookies are HttpOnly and SameSite=Lax always, and
Secure when `BASE_URL` (env FLASK_BASE_URL) starts with https:// or `PRODUCTION` is on
(gunicorn.conf.py turns it on). In production the development SECRET_KEY is refused.

Hosts and absolute links: links never come from the request's Host header. Absolute
URLs (QR codes, the printable report, the OpenAPI document) are built from `BASE_URL`
(env FLASK_BASE_URL), which PRODUCTION requires at start-up; Flask's TRUSTED_HOSTS
defaults to BASE_URL's host plus the loopback names (a monitor probing 127.0.0.1), so
any other Host header gets 400. Behind TRUSTED_PROXIES, X-Forwarded-For and
X-Forwarded-Proto are honoured, X-Forwarded-Host only with FORWARDED_HOST on.

Caching: every response but static files carries `Cache-Control: no-store`, so no
shared or browser cache keeps a page or export with personal data or answers.

Rate limits (Flask-Limiter) cap the public submission endpoints and the login per
client address. They are abuse ceilings, not throttles: many elders at one community
centre share one address behind the centre's router, so the defaults are generous.
Each is a config key holding a Flask-Limiter limit string (env FLASK_RATELIMIT_...):

    RATELIMIT_START   respond.start (open a form)            default 60/minute
    RATELIMIT_ANSWER  respond.question, POST only            default 600/minute
    RATELIMIT_SUBMIT  respond.submit and POST /api/submissions  default 120/minute
    RATELIMIT_LOGIN   auth.login, POST only                  default 10/minute

RATELIMIT_ENABLED turns them all off or on; it defaults to off under TESTING (tests
that check the limits turn it on) and on otherwise. Behind a reverse proxy set
TRUSTED_PROXIES to the number of proxies in front so the client address comes from
X-Forwarded-For (werkzeug's ProxyFix); without it every client looks like 127.0.0.1.

Why a SQLite storage. gunicorn runs several worker processes; a limit counted in each
worker's memory would let a client through N times the limit, and would forget
everything at every restart. The `limits` library ships Redis, Memcached and MongoDB
storages, and this project runs none of them (one SQLite file is the whole back end).
So `SQLiteStorage` below registers the `sqlite://` scheme: fixed-window counters in a
table `rate_limits` of a SQLite file, updated with one atomic UPSERT ... RETURNING per
hit, so every process and thread sees the same counts. The file is by default a
sibling of the survey database (`<database>.ratelimits`), not the survey database
itself, on purpose: counters are disposable, so that file runs with synchronous=OFF
(no fsync per hit), its writes never queue behind a response's commit for SQLite's
single write lock, and backups of the survey data do not carry them. Set
RATELIMIT_STORAGE_URI to `sqlite:///<the survey database path>` to keep the table in
the survey file instead, or to `memory://` for a single-process setup. Only the
fixed-window strategy is supported (the default).
"""

import os
import sqlite3
import threading
import time
from urllib.parse import urlsplit

from flask import current_app, g, request
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits.storage import Storage
from werkzeug.middleware.proxy_fix import ProxyFix

DEV_SECRET_KEY = "dev-only-change-me"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=(), interest-cohort=()"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Permissions-Policy": PERMISSIONS_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
}

DEFAULT_LIMITS = {
    "RATELIMIT_START": "60/minute",
    "RATELIMIT_ANSWER": "600/minute",
    "RATELIMIT_SUBMIT": "120/minute",
    "RATELIMIT_LOGIN": "10/minute",
}
# (endpoint or URL rule, methods limited, config key of the limit)
LIMITED = (
    ("respond.start", ["POST"], "RATELIMIT_START"),
    ("respond.question", ["POST"], "RATELIMIT_ANSWER"),
    ("respond.submit", ["POST"], "RATELIMIT_SUBMIT"),
    ("/api/submissions", ["POST"], "RATELIMIT_SUBMIT"),
    ("auth.login", ["POST"], "RATELIMIT_LOGIN"),
)


class InsecureConfigError(RuntimeError):
    """The app is configured for production with a development setting."""


class SQLiteStorage(Storage):
    """`limits` storage keeping fixed-window counters in a SQLite table shared by processes.

    URI: ``sqlite:///absolute/path/to/file``. One connection per thread (gthread
    workers serve requests on several threads).
    """

    STORAGE_SCHEME = ["sqlite"]
    CLEANUP_EVERY = 1000  # hits between purges of expired counters

    def __init__(self, uri=None, wrap_exceptions=False, **options):
        """Remember the file and create the table if needed."""
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.path = uri.split("://", 1)[1] if uri and "://" in uri else uri
        if not self.path:
            raise ValueError("sqlite rate-limit storage needs a path: sqlite:///path/to/file")
        self._local = threading.local()
        self._hits = 0
        self._conn().execute(
            "create table if not exists rate_limits"
            " (key text primary key, count integer not null, expires_at real not null)"
        )

    @property
    def base_exceptions(self):
        """Errors of the storage itself (Flask-Limiter may wrap them)."""
        return sqlite3.Error

    def _conn(self):
        """This thread's connection (autocommit, WAL, no fsync: counters are disposable)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute("PRAGMA busy_timeout=10000")
            self._local.conn = conn
        return conn

    def incr(self, key, expiry, amount=1):
        """Add `amount` to the key's counter (a fresh window if expired); return the new count."""
        now = time.time()
        row = self._conn().execute(
            "insert into rate_limits (key, count, expires_at) values (?, ?, ?)"
            " on conflict(key) do update set"
            "  count = case when expires_at <= ? then excluded.count else count + excluded.count end,"
            "  expires_at = case when expires_at <= ? then excluded.expires_at else expires_at end"
            " returning count",
            [key, amount, now + expiry, now, now],
        ).fetchone()
        self._hits += 1
        if self._hits % self.CLEANUP_EVERY == 0:
            self._conn().execute("delete from rate_limits where expires_at <= ?", [now])
        return row[0]

    def get(self, key):
        """The key's current count (0 when absent or expired)."""
        row = self._conn().execute(
            "select count from rate_limits where key = ? and expires_at > ?", [key, time.time()]
        ).fetchone()
        return row[0] if row else 0

    def get_expiry(self, key):
        """When the key's window ends (now when absent)."""
        row = self._conn().execute("select expires_at from rate_limits where key = ?", [key]).fetchone()
        return row[0] if row else time.time()

    def check(self):
        """Whether the file answers."""
        try:
            self._conn().execute("select 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def reset(self):
        """Forget every counter; return how many there were."""
        return self._conn().execute("delete from rate_limits").rowcount

    def clear(self, key):
        """Forget one key's counter."""
        self._conn().execute("delete from rate_limits where key = ?", [key])


def _secure_cookies_wanted(config):
    """Secure cookies behind HTTPS: BASE_URL is https://... or the app runs in production."""
    return str(config.get("BASE_URL") or "").startswith("https://") or bool(config.get("PRODUCTION"))


def _configure(app):
    """Fill in cookie, limiter and proxy settings that were not set explicitly."""
    config = app.config
    if config.get("PRODUCTION") and config.get("SECRET_KEY") in (None, "", DEV_SECRET_KEY):
        raise InsecureConfigError("PRODUCTION is on but SECRET_KEY is the development key: "
                                  "set FLASK_SECRET_KEY to a long random value")
    if config.get("PRODUCTION") and not config.get("BASE_URL"):
        raise InsecureConfigError("PRODUCTION is on but BASE_URL is not set: set FLASK_BASE_URL to the"
                                  " public address (e.g. https://survey.example.cn); links are built from it")
    base = urlsplit(str(config.get("BASE_URL") or ""))
    if config.get("BASE_URL") and (base.scheme not in ("http", "https") or not base.hostname):
        raise InsecureConfigError(f"BASE_URL '{config['BASE_URL']}' is not an http(s)://host address")
    if config.get("TRUSTED_HOSTS") is None and base.hostname:
        config["TRUSTED_HOSTS"] = [base.hostname, "localhost", "127.0.0.1", "::1"]
    secure = _secure_cookies_wanted(config)
    for prefix in ("SESSION_COOKIE_", "REMEMBER_COOKIE_"):
        # Flask's defaults are Secure off and SameSite None: only ever tighten them.
        config[prefix + "SECURE"] = bool(config.get(prefix + "SECURE")) or secure
        config[prefix + "HTTPONLY"] = True
        config[prefix + "SAMESITE"] = config.get(prefix + "SAMESITE") or "Lax"
    for key, value in DEFAULT_LIMITS.items():
        config.setdefault(key, value)
    config.setdefault("RATELIMIT_ENABLED", not app.testing)
    config.setdefault("RATELIMIT_STRATEGY", "fixed-window")
    config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    if not config.get("RATELIMIT_STORAGE_URI"):
        config["RATELIMIT_STORAGE_URI"] = "sqlite:///" + os.path.abspath(config["DATABASE"]) + ".ratelimits"
    config.setdefault("TRUSTED_PROXIES", 0)
    config.setdefault("FORWARDED_HOST", False)


def _add_headers(response):
    """after_request: the security headers, on every response."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    if request.is_secure or current_app.config.get("PRODUCTION"):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def _endpoint_for(app, target):
    """The endpoint of `target`: itself if an endpoint, else the endpoint of that URL rule."""
    if target in app.view_functions:
        return target
    for rule in app.url_map.iter_rules():
        if rule.rule == target:
            return rule.endpoint
    return None


def _signed_in_staff():
    """True for a submission carrying a valid staff submit token (survey.web.api_submissions).

    The per-address limits keep anonymous floods off the public forms. A field team
    syncing its offline queues from one office network shares one address, and one
    phone back from a day of door-to-door work may send a few hundred interviews at
    once; those are staff, known by a signed, revocable token, so they are not
    counted against the address.
    """
    return getattr(g, "submit_user", None) is not None


class CookieLessSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without building the signer for a request that
    sent no session cookie (the field app's token submissions, monitors, first visits):
    there is nothing to verify, and building it cost 3-6% of a submission under load."""

    def open_session(self, app, request):
        """An empty session when no session cookie came; Flask's own otherwise."""
        if app.secret_key and self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)


class _Limiter(Limiter):
    """Flask-Limiter, skipped outright for signed-in staff submissions.

    Its request_filter hook exempts a request from the limits but still resolves and
    evaluates them, twice (the before_request pass and the view's decorator): measured
    under load, 10-15% of a staff submission's time went to the limiter even so.
    """

    def _check_request_limit(self, callable_name=None, in_middleware=True):
        """The limiter's check, unless the request carries a valid staff submit token."""
        if _signed_in_staff():
            return None
        return super()._check_request_limit(callable_name=callable_name, in_middleware=in_middleware)


def apply_limits(app):
    """Wrap the limited views with their limits (idempotent; picks up views added later)."""
    limiter = app.extensions["survey_limiter"]
    done = app.extensions["survey_limited"]
    for target, methods, key in LIMITED:
        endpoint = _endpoint_for(app, target)
        if endpoint is None or endpoint in done:
            continue
        view = app.view_functions[endpoint]
        app.view_functions[endpoint] = limiter.limit(
            lambda key=key: current_app.config[key], methods=methods,
            scope=endpoint,
        )(view)
        done.add(endpoint)


def init_app(app):
    """Install headers, cookie flags and rate limits. Call after every blueprint is registered."""
    _configure(app)
    if app.config["TRUSTED_PROXIES"]:
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops,
                                x_host=hops if app.config["FORWARDED_HOST"] else 0)
    app.after_request(_add_headers)
    app.session_interface = CookieLessSessions()
    limiter = _Limiter(key_func=get_remote_address, app=app)
    app.extensions["survey_limiter"] = limiter
    app.extensions["survey_limited"] = set()
    apply_limits(app)
    pending = [True]
    lock = threading.Lock()

    @app.before_request
    def _late_limits():
        """Once, at the first request: a view registered after init_app still gets its limit."""
        if pending:
            with lock:
                if pending:
                    apply_limits(app)
                    pending.clear()
