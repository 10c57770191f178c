"""Paper questionnaires: CSV import (all or nothing, errors naming line and column) and
the export CLI."""

import csv
import sqlite3

import pytest
from openpyxl import load_workbook

from survey.importer import FileImportError, import_csv
from survey.web import links

GOOD = """site,channel,respondent_type,submitted_at,knows_hotline,knows_services,heard_from,satisfaction,suggestion
xh,paper,public,2024-10-01T09:00:00,1,是,海报、宣传单;community,满意,
xh,,,2024-10-02,0,0,,3,希望多宣传
,door,,,是,否,,非常满意,
"""


def count(db):
    """How many responses are stored."""
    return db.execute("select count(*) from responses").fetchone()[0]


@pytest.fixture
def site(db):
    """A site with code xh."""
    return links.create_site(db, "xh", "新华社区")


def test_import_accepts_codes_and_labels(db, site):
    """Codes or Chinese labels, multi-choice separated by ;, blank = unanswered."""
    assert import_csv(db, "public-awareness", GOOD) == 3
    rows = list(db.query("select * from responses order by id"))
    assert [r["channel"] for r in rows] == ["paper", "paper", "door"]
    assert rows[0]["site_id"] == site and rows[0]["source"] == "import"
    assert rows[0]["submitted_at"].startswith("2024-10-01T09:00:00")
    heard = [a["value"] for a in db.query("select value from answers where response_id = ? and"
                                           " question_id = 'heard_from' order by value", [rows[0]["id"]])]
    assert heard == ["community", "poster"]
    satisfaction = db.execute("select value from answers where response_id = ? and question_id = 'satisfaction'",
                              [rows[2]["id"]]).fetchone()[0]
    assert satisfaction == "5"


@pytest.mark.parametrize("bad_line, message", [
    ("xh,paper,public,,1,1,,6,", "line 3, column 'satisfaction'"),
    ("xh,paper,public,,maybe,1,,5,", "line 3, column 'knows_hotline'"),
    ("nowhere,paper,public,,1,1,,5,", "line 3, column 'site'"),
    ("xh,pigeon,public,,1,1,,5,", "line 3, column 'channel'"),
    ("xh,paper,public,yesterday,1,1,,5,", "line 3, column 'submitted_at'"),
    ("xh,paper,public,,1,,,5,", "line 3, column 'knows_services'"),
    ("xh,paper,public,,1,1,karaoke,5,", "line 3, column 'heard_from'"),
])
def test_a_bad_cell_refuses_the_whole_file(db, site, bad_line, message):
    """One bad cell names its line and column, and nothing at all is imported."""
    header, first = GOOD.splitlines()[:2]
    text = "\n".join([header, first, bad_line, first]) + "\n"
    with pytest.raises(FileImportError, match=message.replace("(", r"\(")):
        import_csv(db, "public-awareness", text)
    assert count(db) == 0


def test_unknown_column_is_refused(db, site):
    """A column that is neither a question id nor a meta column is named."""
    with pytest.raises(FileImportError, match="line 1, column 'favourite_colour'"):
        import_csv(db, "public-awareness", "knows_hotline,favourite_colour\n1,red\n")
    assert count(db) == 0


def test_same_file_twice_is_refused(db, site):
    """Importing a file again does not double the responses."""
    import_csv(db, "public-awareness", GOOD)
    with pytest.raises(FileImportError, match="already imported"):
        import_csv(db, "public-awareness", GOOD)
    assert count(db) == 3


def test_cli_import_error_exits_non_zero(runner, app, tmp_path):
    """The CLI names the row and column and says nothing was imported."""
    path = tmp_path / "bad.csv"
    path.write_text("knows_hotline,knows_services,satisfaction\n1,1,5\n1,1,9\n", encoding="utf-8")
    result = runner.invoke(args=["responses", "import", "public-awareness", str(path)])
    assert result.exit_code != 0
    assert "line 3, column 'satisfaction'" in result.output and "nothing was imported" in result.output


def test_cli_import_then_export_csv_and_xlsx(runner, app, db, site, tmp_path):
    """Import through the CLI, then export both formats with code and label columns."""
    source = tmp_path / "paper.csv"
    source.write_text("\ufeff" + GOOD, encoding="utf-8")
    result = runner.invoke(args=["responses", "import", "public-awareness", str(source)])
    assert result.exit_code == 0 and "Imported 3" in result.output
    out_csv = tmp_path / "out.csv"
    result = runner.invoke(args=["responses", "export", "public-awareness", "--format", "csv", "-o", str(out_csv)])
    assert result.exit_code == 0
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8-sig")))
    assert len(rows) == 3
    assert rows[0]["satisfaction"] == "4" and rows[0]["satisfaction_label"] == "满意"
    assert rows[0]["site"] == "新华社区"
    out_xlsx = tmp_path / "out.xlsx"
    result = runner.invoke(args=["responses", "export", "public-awareness", "--format", "xlsx", "-o", str(out_xlsx)])
    assert result.exit_code == 0
    sheet = load_workbook(out_xlsx).active
    header = [cell.value for cell in sheet[1]]
    assert "knows_hotline_label" in header and sheet.max_row == 4


def test_export_unknown_questionnaire(runner, tmp_path):
    """Exporting an unknown questionnaire is a clear error."""
    result = runner.invoke(args=["responses", "export", "nope", "-o", str(tmp_path / "x.csv")])
    assert result.exit_code != 0 and "no questionnaire 'nope'" in result.output


@pytest.mark.parametrize("text, message", [
    ("knows_hotline,knows_services,satisfaction\n1,1,5,extra\n", "line 2: more cells"),
    ("knows_hotline,knows_services,satisfaction\n1,1," + "x" * 200_000 + "\n", "line 2: not readable as CSV"),
])
def test_malformed_csv_names_the_line(db, text, message):
    """Broken CSV records are refused naming their line, never with a crash."""
    with pytest.raises(FileImportError, match=message):
        import_csv(db, "public-awareness", text)
    assert count(db) == 0


# --- files as Chinese Excel saves them (issue 11) ---------------------------------------

PAPER = [["site", "channel", "respondent_type", "knows_hotline", "knows_services", "satisfaction"],
         ["新华社区", "入户", "本人", "知道", "不知道", "满意"],
         ["xh", "电话回访", "代答", "是", "否", "5"]]


def write_paper(path, encoding):
    """Write PAPER as a CSV (tab-separated for UTF-16, like Excel's 'Unicode text') or XLSX."""
    if encoding == "xlsx":
        from openpyxl import Workbook

        workbook = Workbook()
        for row in PAPER:
            workbook.active.append(row)
        workbook.save(path)
        return
    separator = "\t" if encoding == "utf-16" else ","
    path.write_bytes(("\r\n".join(separator.join(r) for r in PAPER) + "\r\n").encode(encoding))


@pytest.mark.parametrize("encoding", ["gb18030", "gbk", "utf-16", "utf-8-sig", "xlsx"])
def test_cli_imports_files_saved_by_chinese_excel(runner, db, site, tmp_path, encoding):
    """GB18030/GBK and UTF-16 CSV and .xlsx import through the CLI (a traceback before)."""
    path = tmp_path / ("paper.xlsx" if encoding == "xlsx" else "paper.csv")
    write_paper(path, encoding)
    result = runner.invoke(args=["responses", "import", "public-awareness", str(path)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    rows = list(db.query("select channel, respondent_type from responses order by id"))
    assert [(r["channel"], r["respondent_type"]) for r in rows] == [("door", "self"), ("phone", "proxy")]
    answers = [r[0] for r in db.execute("select value from answers where question_id in"
                                        " ('knows_hotline', 'knows_services') order by rowid")]
    assert answers == ["1", "0", "1", "0"]


@pytest.mark.parametrize("name, data, words", [
    ("big5.csv", "site,knows_hotline\n陳大文,是\n".encode("big5"), "Big5"),
    ("nul.csv", b"knows_hotline,knows_services\n1,\x001\n", "NUL"),
    ("old.xls", b"\xd0\xcf\x11\xe0", ".xls"),
])
def test_cli_refuses_unreadable_files_in_a_sentence(runner, db, tmp_path, name, data, words):
    """Files it cannot read are refused in a sentence, never a traceback."""
    path = tmp_path / name
    path.write_bytes(data)
    result = runner.invoke(args=["responses", "import", "public-awareness", str(path)])
    assert result.exit_code == 1
    assert words in result.output and "Traceback" not in result.output
    assert count(db) == 0


@pytest.mark.parametrize("cells, message", [
    ("xh,paper,本人啊,1,1,5", "'本人啊' is not one of: self (老人本人), proxy"),
    ("xh,paper,self,也许,1,5", "'也许' is not one of: 1 (知道), 0 (不知道)"),
    ("xh,paper,self,1,1,很好", "'很好' is not one of: 5 (非常满意), 4 (满意)"),
])
def test_refusals_list_labels_next_to_codes(db, site, cells, message):
    """A refused cell lists the accepted codes with their labels."""
    text = ",".join(PAPER[0]) + "\n" + cells + "\n"
    with pytest.raises(FileImportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        import_csv(db, "public-awareness", text)
    assert count(db) == 0


def _paper_with_ids(ids):
    """A public-awareness CSV whose rows carry the given submission ids."""
    lines = ["submission_id,site,knows_hotline,knows_services,satisfaction"]
    lines += [f"{sid},xh,1,0,满意" for sid in ids]
    return "\n".join(lines) + "\n"


def test_a_file_longer_than_sqlites_variable_limit_imports_and_names_the_first_stored_line(db, site):
    """The already-imported check binds ids in chunks: with SQLite's bound-variable limit set
    to 600, a 700-row file imports, and a later file names its first stored row's line."""
    db.conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 600)
    first = [f"paper-a-{n:05d}" for n in range(700)]
    assert import_csv(db, "public-awareness", _paper_with_ids(first)) == 700
    second = [f"paper-b-{n:05d}" for n in range(700)] + [first[650], first[3]]
    with pytest.raises(FileImportError, match=r"line 702, column 'submission_id': already imported \(paper-a-00650\)"):
        import_csv(db, "public-awareness", _paper_with_ids(second))
    assert count(db) == 700
