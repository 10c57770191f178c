"""Locale choice (Simplified Chinese by default, English on request) and catalogs."""

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import request

from survey import localtime

LOCALES = {"zh": "zh_Hans_CN", "en": "en"}


def select_locale():
    """`?lang=en` or the `lang` cookie picks English; everything else is Chinese."""
    wanted = request.args.get("lang") or request.cookies.get("lang") or "zh"
    return LOCALES.get(wanted, LOCALES["zh"])


def remember_locale(response):
    """after_request: keep a `?lang=` choice in a cookie for the following pages."""
    wanted = request.args.get("lang")
    if wanted in LOCALES and wanted != request.cookies.get("lang"):
        response.set_cookie("lang", wanted, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response


def short_locale():
    """'zh' or 'en', the key used in questionnaire definitions."""
    from flask_babel import get_locale

    return "en" if str(get_locale()).startswith("en") else "zh"


def html_lang():
    """The value of the `lang` attribute of <html>."""
    return "en" if short_locale() == "en" else "zh-CN"


def compile_catalogs(directory):
    """Compile each messages.po to messages.mo when the .mo is missing or older.

    The .po files are the source of truth in the repo; compiling here means a
    fresh clone shows Chinese without a separate `pybabel compile` step.
    """
    for po_path in Path(directory).glob("*/LC_MESSAGES/messages.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file)
        with mo_path.open("wb") as mo_file:
            write_mo(mo_file, catalog)


# ---------------------------------------------------------------- local time

def timezone_name():
    """The zone times are shown in: TIMEZONE (FLASK_TIMEZONE), Asia/Shanghai by default."""
    from flask import current_app

    return current_app.config.get("TIMEZONE") or localtime.DEFAULT_ZONE


def local_time(value, fmt=localtime.DEFAULT_FORMAT):
    """Template filter: a stored UTC time as the configured zone's wall-clock time ('' for none)."""
    return localtime.format_local(value, timezone_name(), fmt)


def local_date(value):
    """Template filter: the local date of a stored UTC time (a time at 20:00Z is the next day in Beijing)."""
    return localtime.format_local(value, timezone_name(), "%Y-%m-%d")


def init_timezone(app):
    """Check the configured zone at startup (refused with its name if unknown) and register
    the time filters for every template."""
    app.config.setdefault("TIMEZONE", localtime.DEFAULT_ZONE)
    localtime.zone(app.config["TIMEZONE"])  # raises UnknownTimeZone naming FLASK_TIMEZONE
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", app.config["TIMEZONE"])
    app.add_template_filter(local_time)
    app.add_template_filter(local_date)
    app.add_template_global(localtime.zone_label, "zone_label")
    app.add_template_global(timezone_name, "timezone_name")
