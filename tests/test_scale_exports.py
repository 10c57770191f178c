"""Issue 15, exports: streamed CSV and XLSX with the same cells, valid whatever the text."""

import csv
import io
import zipfile

import openpyxl
import pytest
from evaluate_helpers import Maker, elder

from survey import exports

ODD = ["=1+1", " leading and trailing ", "bell\x07 and nul\x00 inside", "a _x0041_ literal", "<b>&amp;</b>",
       "多行\n意见", "tab\there"]


@pytest.fixture
def odd(db):
    """Responses with awkward open text, multi-valued services and a timed duration."""
    make = Maker(db)
    site = make.site("xh", "=新华社区")
    for text in ODD:
        make.add(elder(suggestion=text.replace("\x00", ""), services=["meals", "hotline", "emergency_call"]),
                 site_id=site, duration=125.5)
    # Control characters an older import could have stored (the pages strip them).
    rid = make.add(elder())
    db.execute("insert into answers (response_id, question_id, value) values (?, 'suggestion', ?)",
               [rid, "nul\x00 and esc\x1b"])
    spaced = make.add(elder())
    db.execute("insert into answers (response_id, question_id, value) values (?, 'suggestion', ?)",
               [spaced, " spaced "])
    db.conn.commit()
    return db


def csv_rows(body):
    """Rows of an exported CSV body."""
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def xlsx_rows(data):
    """Rows of an exported XLSX as strings ('' for empty cells), and the typed first data row."""
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    rows = [["" if c.value is None else c.value for c in row] for row in sheet.iter_rows()]
    width = max(len(r) for r in rows)
    return [r + [""] * (width - len(r)) for r in rows]


def test_csv_and_xlsx_carry_the_same_cells(odd, login):
    client = login("evaluator")
    by_csv = csv_rows(client.get("/e/default/evaluate/elder-satisfaction/export/responses.csv").get_data(as_text=True))
    response = client.get("/e/default/evaluate/elder-satisfaction/export/responses.xlsx")
    assert response.status_code == 200 and response.is_streamed
    by_xlsx = xlsx_rows(response.get_data())
    assert len(by_csv) == len(by_xlsx) == len(ODD) + 3
    header = by_csv[0]
    assert by_xlsx[0][:len(header)] == header
    for line, row in zip(by_csv[1:], by_xlsx[1:], strict=True):
        for name, text, cell in zip(header, line, row, strict=False):
            if name in ("duration_s", "questionnaire_version", "excluded"):
                assert cell == "" or float(cell) == float(text), name  # numbers stay numbers
            elif "\x1b" in text or "\x00" in text or "\x07" in text:
                # XML cannot hold these: written as Excel's _xHHHH_ escapes, never a broken file.
                assert "_x00" in cell
            elif "_x0041_" in text:
                # Escaped so Excel shows the literal text, not "A" (openpyxl does not decode it).
                assert cell == text.replace("_x0041_", "_x005F_x0041_")
            else:
                assert cell == text, (name, text, cell)
    suggestions = [row[header.index("suggestion")] for row in by_csv[1:]]
    assert suggestions[0] == "'=1+1" and suggestions[1] == "leading and trailing"
    assert suggestions[-1] == " spaced "
    site = {row[header.index("site")] for row in by_csv[1:]}
    assert site == {"'=新华社区", ""}  # the last two have no site


def test_multi_valued_answers_keep_codes_and_labels_in_step(odd):
    from survey import questionnaires

    questionnaire = questionnaires.get(odd, "elder-satisfaction")
    services = next(q for q in questionnaire.questions if q["id"] == "services")
    words = {str(c["value"]): c["zh"] for c in questionnaire.choices(services)}
    rows = list(exports.response_rows(odd, 1, "elder-satisfaction"))
    header = rows[0]
    codes = rows[1][header.index("services")].split(";")
    labels = rows[1][header.index("services_label")].split("；")
    assert sorted(codes) == ["emergency_call", "hotline", "meals"]
    assert labels == [words[c] for c in codes]


def test_xlsx_is_a_valid_package_with_inline_strings_only(odd, tmp_path):
    path = tmp_path / "out.xlsx"
    exports.write_xlsx(exports.response_rows(odd, 1, "elder-satisfaction"), str(path))
    with zipfile.ZipFile(path) as package:
        assert package.testzip() is None
        sheet = package.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "sharedStrings" not in sheet  # no formula cell can exist
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames == ["responses"]


def test_csv_chunks_stream_in_pieces():
    rows = ([str(i), "x"] for i in range(1201))
    pieces = list(exports.csv_chunks(rows, chunk_rows=500))
    assert pieces[0] == "\ufeff" and len(pieces) == 4
    assert "".join(pieces[1:]).count("\r\n") == 1201


def test_xlsx_chunks_are_bounded_pieces():
    rows = ([i, f"文本{i}", None, 1.5] for i in range(3000))
    pieces = list(exports.xlsx_chunks(rows, chunk=4096))
    assert all(len(p) <= 4096 for p in pieces) and len(pieces) > 1
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(pieces))).active
    assert sheet.max_row == 3000 and sheet["A3000"].value == 2999 and sheet["B2"].value == "文本1"
    assert sheet["C2"].value is None and sheet["D2"].value == 1.5
