"""Calm error pages (Chinese first) and JSON errors, instead of Flask's English defaults.

A database that cannot be written for a while (read-only files, a lock held too long,
a disk error, a replaced file) answers 503 and drops the connections of this process,
so the next request opens fresh ones and the server heals without a restart.
"""

import logging
import sqlite3

from flask import jsonify, render_template, request
from flask_babel import gettext as _

from survey.storage import db

log = logging.getLogger(__name__)

# Codes with a page of their own; any other HTTP error keeps its current handling.
HANDLED = (404, 413, 429, 500, 503)

# Seconds a client should wait before trying again after a 429 or a 503.
RETRY_AFTER = {429: 60, 503: 15}


def _texts(code):
    """(title, explanation) for `code`, in the request's language."""
    return {
        404: (_("找不到这个页面"),
              _("链接可能已经失效或输入有误。请检查链接，或联系发给您链接的工作人员。")),
        413: (_("提交的内容太大"),
              _("上传的文件或填写的内容超过了允许的大小，请缩小后再试。")),
        429: (_("请求太频繁了"), _("请稍等一分钟再试。")),
        500: (_("系统出了点问题"), _("请稍后再试。如果一直这样，请联系工作人员。")),
        503: (_("系统正忙"), _("请稍后再试。")),
    }[code]


def _answers_kept():
    """True where a failed request loses no answer, so the page may say so.

    A respondent's answers are saved page by page in a server-side draft, and the
    staff app's offline queue keeps a submission until the server acknowledges it.
    """
    return request.path.startswith("/r/") or request.path == "/api/submissions"


def _wants_json():
    """API paths answer JSON; pages answer HTML."""
    return request.path.startswith("/api/")


def _back_link():
    """Where a respondent picks up again: the question or summary page of the draft."""
    if not request.path.startswith("/r/"):
        return None
    if request.path.endswith("/submit"):
        return request.path[: -len("/submit")] + "/summary"
    return request.path


def error_response(code):
    """The response for HTTP status `code`: a calm page, or JSON on API paths."""
    title, explanation = _texts(code)
    kept = code >= 500 and _answers_kept()
    if kept:
        explanation = _("请稍后再试，您的回答不会丢失。")
    headers = {}
    if code in RETRY_AFTER:
        headers["Retry-After"] = str(RETRY_AFTER[code])
    if _wants_json():
        body = {"error": f"{title}：{explanation}", "field": None, "retry": code in (429, 500, 503)}
        return jsonify(body), code, headers
    page = render_template("errors/error.html", code=code, title=title,
                           explanation=explanation, back=_back_link() if kept else None)
    return page, code, headers


def _http_error(error):
    """errorhandler for the HANDLED HTTP codes."""
    return error_response(error.code)


def _database_error(error):
    """errorhandler for SQLite errors: transient ones are a 503 that heals, others a 500."""
    if db.is_transient(error):
        log.warning("database unavailable on %s %s: %s (%s); reopening connections",
                    request.method, request.path, error, getattr(error, "sqlite_errorname", ""))
        db.discard_connections()
        return error_response(503)
    log.exception("database error on %s %s", request.method, request.path, exc_info=error)
    return error_response(500)


def _unhandled(error):
    """errorhandler for 500 (Flask has already logged the original exception)."""
    return error_response(500)


def init_app(app):
    """Register the handlers (429 included: the rate limiter in survey.web.security raises it)."""
    for code in HANDLED:
        app.register_error_handler(code, _unhandled if code == 500 else _http_error)
    app.register_error_handler(sqlite3.Error, _database_error)

