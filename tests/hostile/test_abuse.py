"""Abuse: forged or missing CSRF tokens, oversized bodies, script in open text, SQL
metacharacters, and path tricks in URLs and file names."""

import csv
import io
import re

import pytest
from openpyxl import load_workbook

from survey import importer
from tests.conftest import ELDER_ANSWERS, csrf_token

XSS = '<script>alert("xss")</script><img src=x onerror=alert(1)>'
SQL_TEXT = "Robert'); DROP TABLE answers;-- \" or 1=1 --"
FORMULA = '=HYPERLINK("http://evil.example","点我")'


def _counts(db):
    """(drafts, responses, answers) row counts."""
    return tuple(db.execute(f"select count(*) from {t}").fetchone()[0] for t in ("drafts", "responses", "answers"))


# --- CSRF -----------------------------------------------------------------------------

@pytest.mark.parametrize("token", [None, "", "forged-token", "IjEyMyI.aaaa.bbbb"])
def test_missing_or_wrong_csrf_is_400_and_stores_nothing(client, respondent, db, token):
    """Every public POST refuses a missing or wrong token and writes nothing."""
    form = respondent("/q/public-awareness")
    before = _counts(db)
    data = {} if token is None else {"csrf_token": token}
    posts = [
        ("/q/public-awareness/start", data),
        (f"/r/{form.submission_id}/knows_hotline", {**data, "answer": "1", "action": "next"}),
        (f"/r/{form.submission_id}/submit", data),
        ("/login", {**data, "username": "admin", "password": "x"}),
    ]
    for path, body in posts:
        assert client.post(path, data=body).status_code == 400, path
    assert _counts(db) == before
    draft = db.execute("select answers from drafts where submission_id = ?", [form.submission_id]).fetchone()
    assert draft[0] == "{}"


def test_csrf_token_of_another_session_is_refused(app, respondent):
    """A token lifted from someone else's page does not work in this session.

    (No `db` fixture here: its open app context would share `g`, and so one cached
    token, between the two clients.)"""
    other = app.test_client()
    stolen = csrf_token(other.get("/q/public-awareness").text)
    form = respondent("/q/public-awareness")
    response = form.client.post(f"/r/{form.submission_id}/knows_hotline",
                                data={"csrf_token": stolen, "answer": "1", "action": "next"})
    assert response.status_code == 400


# --- Oversized bodies ------------------------------------------------------------------

@pytest.mark.parametrize("size", [3 * 1024 * 1024, 20 * 1024 * 1024])
def test_oversized_bodies_are_413_and_store_nothing(client, respondent, db, size):
    """Bodies over MAX_CONTENT_LENGTH are refused before any parsing or writing."""
    form = respondent("/q/elder-satisfaction")
    token = csrf_token(form.page().text)
    before = _counts(db)
    big = "长" * (size // 3)
    for path in (f"/r/{form.submission_id}/suggestion", f"/r/{form.submission_id}/submit",
                 "/q/elder-satisfaction/start", "/login"):
        response = client.post(path, data={"csrf_token": token, "answer": big, "action": "next"})
        assert response.status_code == 413, path
    assert client.post("/api/submissions", data="x" * size, content_type="application/json").status_code in (
        401, 403, 413)
    assert _counts(db) == before


def test_over_long_open_text_is_refused_with_a_message(respondent, db):
    """Under the body cap but over the question's max_length: 400, draft unchanged."""
    form = respondent("/q/elder-satisfaction")
    response = form.client.post(f"/r/{form.submission_id}/suggestion",
                                data={"csrf_token": csrf_token(form.page().text), "answer": "字" * 5000})
    assert response.status_code == 400
    assert db.execute("select answers from drafts where submission_id = ?", [form.submission_id]).fetchone()[0] == "{}"


# --- Script in open text ----------------------------------------------------------------

def _fill_route(rule, values):
    """A concrete path for a URL rule, or None when an argument cannot be filled."""
    path = rule.rule
    for argument in rule.arguments:
        if argument not in values:
            return None
        path = re.sub(rf"<(?:[a-z]+:)?{argument}>", str(values[argument]), path)
    return path


def test_script_in_open_text_is_inert_in_every_page_and_export(app, respondent, db, login, tmp_path):
    """The payload is escaped on the respondent pages and on every back-office GET page,
    and is plain text (never a formula) in CSV and XLSX exports."""
    form = respondent("/q/elder-satisfaction")
    form.answer_all({**ELDER_ANSWERS, "suggestion": XSS + FORMULA})
    summary = form.client.get(f"/r/{form.submission_id}/summary").text
    assert XSS not in summary and "&lt;script&gt;alert(" in summary
    question = form.client.get(f"/r/{form.submission_id}/suggestion").text
    assert XSS not in question and "&lt;script&gt;" in question
    assert form.submit().status_code == 302
    response_id = db.execute("select id from responses").fetchone()[0]
    stored = db.execute("select value from answers where question_id = 'suggestion'").fetchone()[0]
    assert stored == XSS + FORMULA, "stored verbatim: escaping is the templates' job"

    client = login("admin")
    values = {"questionnaire_id": "elder-satisfaction", "submission_id": form.submission_id,
              "response_id": response_id, "survey": "elder-satisfaction", "qid": "elder-satisfaction"}
    checked = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        path = _fill_route(rule, values)
        if path is None:
            continue
        page = client.get(path)
        assert page.status_code < 500, path
        if page.mimetype == "text/html":
            checked += 1
            assert "<script>alert(" not in page.text and "onerror=alert" not in page.text.replace(
                "onerror=alert(1)&gt;", ""), f"{path} shows the payload raw"
    assert checked >= 5

    rows = list(importer.export_rows(db, 1, "elder-satisfaction"))
    buffer = io.StringIO()
    importer.write_csv(iter(rows), buffer)
    cells = [cell for row in csv.reader(io.StringIO(buffer.getvalue().lstrip("\ufeff"))) for cell in row]
    assert XSS + FORMULA in cells, "the text is exported as text"
    assert not [c for c in cells if c.startswith(("=", "+", "@"))], "no cell may start a formula"
    xlsx = tmp_path / "export.xlsx"
    importer.write_xlsx(iter(rows), xlsx)
    sheet = load_workbook(xlsx).active
    values_xlsx = [cell for row in sheet.iter_rows() for cell in row]
    assert all(cell.data_type != "f" for cell in values_xlsx)
    assert any(cell.value == XSS + FORMULA for cell in values_xlsx)


def test_formula_at_the_start_of_open_text_is_neutralised_in_exports(respondent, db, tmp_path):
    """A suggestion starting with = is exported with a leading quote in CSV and XLSX."""
    form = respondent("/q/elder-satisfaction")
    form.answer_all({**ELDER_ANSWERS, "suggestion": FORMULA})
    assert form.submit().status_code == 302
    rows = list(importer.export_rows(db, 1, "elder-satisfaction"))
    index = rows[0].index("suggestion")
    assert rows[1][index] == "'" + FORMULA
    xlsx = tmp_path / "f.xlsx"
    importer.write_xlsx(iter(rows), xlsx)
    cell = load_workbook(xlsx).active.cell(row=2, column=index + 1)
    assert cell.data_type == "s" and cell.value == "'" + FORMULA


# --- SQL metacharacters -----------------------------------------------------------------

def test_sql_metacharacters_in_answers_are_stored_verbatim(respondent, db):
    """Quotes, semicolons and comments in open text are data, never SQL."""
    form = respondent("/q/elder-satisfaction")
    form.answer_all({**ELDER_ANSWERS, "suggestion": SQL_TEXT})
    assert form.submit().status_code == 302
    assert db.execute("select value from answers where question_id = 'suggestion'").fetchone()[0] == SQL_TEXT
    assert db.execute("select count(*) from answers").fetchone()[0] > 1
    assert {"answers", "responses"} <= set(db.table_names())


@pytest.mark.parametrize("evil", ["' or '1'='1", "1; drop table responses", "x' union select * from users--",
                                  "%27%20or%201=1--"])
def test_sql_metacharacters_in_ids_are_404_or_refused(client, respondent, db, evil):
    """Submission and question ids from the URL never reach SQL as code."""
    form = respondent("/q/elder-satisfaction")
    for path in (f"/r/{evil}/summary", f"/r/{evil}/overall", f"/r/{form.submission_id}/{evil}",
                 f"/q/{evil}", f"/s/{evil}", f"/r/{evil}/done"):
        assert client.get(path).status_code in (302, 404), path
    assert client.post(f"/r/{evil}/submit", data={"csrf_token": csrf_token(form.page().text)}).status_code == 404
    assert {"answers", "responses", "users"} <= set(db.table_names())
    assert db.execute("select count(*) from responses").fetchone()[0] == 0


def test_sql_metacharacters_in_api_ids_are_refused(app, client, db):
    """The JSON API refuses ids outside its pattern with 400 and stores nothing."""
    from survey.web.auth import create_user
    from tests.hostile.conftest import api_token

    with app.app_context():  # the token is signed with the app's secret key
        token = api_token(db, create_user(db, "apistaff", "correct-horse-battery", "staff"))
    for evil in ("'; drop table responses;--", "a' or '1'='1", "../../etc/passwd"):
        response = client.post("/api/submissions", headers={"Authorization": f"Bearer {token}"},
                               json={"id": evil, "questionnaire": "public-awareness",
                                     "answers": {"knows_hotline": "1"}, "meta": {}})
        assert response.status_code == 400, evil
    assert db.execute("select count(*) from responses").fetchone()[0] == 0


# --- Path tricks ------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/q/..%2F..%2Fetc%2Fpasswd", "/q/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/q/....//....//etc/passwd",
    "/s/..%2F..%2Fetc%2Fpasswd", "/r/..%2F..%2Fetc/passwd", "/static/..%2F..%2Fapp.py",
    "/static/../app.py", "/q/elder-satisfaction%00.yaml", "/q/%2Fetc%2Fpasswd",
])
def test_path_tricks_in_urls_are_404(client, path):
    """Traversal in questionnaire ids, link codes and static names finds nothing."""
    response = client.get(path)
    assert response.status_code in (404, 308, 400), path
    assert "root:" not in response.text and "create_app" not in response.text


def test_cli_import_with_path_tricks_imports_nothing(runner, db, tmp_path):
    """A traversal path to a non-CSV file and a missing file are refused cleanly."""
    result = runner.invoke(args=["responses", "import", "elder-satisfaction", "../../../../etc/passwd"])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    missing = runner.invoke(args=["responses", "import", "elder-satisfaction", str(tmp_path / "../nope.csv")])
    assert missing.exit_code != 0
    evil_id = runner.invoke(args=["responses", "import", "../../etc/passwd", "/etc/hostname"])
    assert evil_id.exit_code != 0 and "no questionnaire" in evil_id.output
    assert db.execute("select count(*) from responses").fetchone()[0] == 0


def test_cli_export_of_unknown_questionnaire_writes_nothing(runner, tmp_path):
    """An id like ../../etc/passwd is an unknown questionnaire, not a file to read."""
    target = tmp_path / "out.csv"
    result = runner.invoke(args=["responses", "export", "../../etc/passwd", "-o", str(target)])
    assert result.exit_code != 0 and "no questionnaire" in result.output
    assert not target.exists()
