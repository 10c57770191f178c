"""The English catalog: complete, placeholders intact, and used by the pages on request."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask import render_template_string

ROOT = Path(__file__).resolve().parent.parent
EN_PO = ROOT / "translations" / "en" / "LC_MESSAGES" / "messages.po"
# %(name)s placeholders and literal %% (the templates' gettext always %-formats).
FORMAT_TOKEN = re.compile(r"%\(\w+\)[sd]|%%")


def read_catalog(path):
    """The catalog at `path`."""
    with open(path, "rb") as po_file:
        return read_po(po_file)


def strings(message):
    """A message's msgid and msgstr forms, plural forms included."""
    ids = message.id if isinstance(message.id, (list, tuple)) else (message.id,)
    strs = message.string if isinstance(message.string, (list, tuple)) else (message.string,)
    return ids, strs


@pytest.fixture(scope="module")
def english():
    """The English catalog as committed."""
    return read_catalog(EN_PO)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """A fresh extraction of the code and templates, as `pybabel extract` makes it."""
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "-q", "extract",
         "-F", "babel.cfg", "-k", "lazy_gettext", "--ignore-dirs=.* ._ .venv node_modules",
         "-o", str(pot), "."],
        cwd=ROOT, check=True, capture_output=True, timeout=120,
    )
    return read_catalog(pot)


def test_every_extracted_message_is_translated(english, extracted):
    untranslated = []
    for message in extracted:
        if not message.id:
            continue
        translated = english.get(message.id)
        if translated is None or not all(translated.string if isinstance(translated.string, tuple)
                                         else [translated.string]):
            untranslated.append(message.id)
    assert not untranslated, f"run pybabel update and translate: {untranslated}"


def test_no_fuzzy_or_empty_entries(english):
    assert not english.fuzzy
    for message in english:
        if not message.id:
            continue
        assert not message.fuzzy, message.id
        _ids, strs = strings(message)
        assert all(s.strip() for s in strs), message.id


def test_placeholders_match(english):
    for message in english:
        if not message.id:
            continue
        ids, strs = strings(message)
        wanted = sorted(FORMAT_TOKEN.findall(ids[-1]))
        for translated in strs:
            assert sorted(FORMAT_TOKEN.findall(translated)) == wanted, message.id
    assert [error for _message, errors in english.check() for error in errors] == []


def test_respondent_start_page_in_english(client):
    page = client.get("/q/elder-satisfaction?lang=en")
    assert page.status_code == 200
    assert "Start" in page.text
    assert "开始答题" not in page.text
    assert '<html lang="en">' in page.text


def test_login_page_in_english(client):
    page = client.get("/login?lang=en")
    assert page.status_code == 200
    assert "Log in" in page.text
    assert "Password" in page.text


def test_chinese_by_default(client):
    page = client.get("/q/elder-satisfaction")
    assert page.status_code == 200
    assert "开始答题" in page.text
    assert '<html lang="zh-CN">' in page.text
    assert "登录" in client.get("/login").text


def test_english_choice_is_remembered(client):
    client.get("/login?lang=en")
    assert "Log in" in client.get("/login").text
    assert "登录" in client.get("/login?lang=zh").text


def test_percent_and_placeholders_render(app):
    with app.test_request_context("/?lang=en"):
        assert render_template_string("{{ _('95%%区间') }}") == "95% interval"
        assert render_template_string("{{ _('第 %(n)s 题，共 %(total)s 题', n=2, total=9) }}") == \
            "Question 2 of 9"
