"""Locale choice (Simplified Chinese by default, English on request) and catalogs."""

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import request

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
