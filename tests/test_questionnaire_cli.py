"""`flask --app app questionnaires import|export|list|template`, versions, states, and an
imported workbook answered by paper, by the API and measured."""

import copy
import json
import uuid
from pathlib import Path

import pytest
import yaml
from field_helpers import make_roster
from openpyxl import load_workbook
from xlsform_helpers import BASE, build, sheets, with_survey_cell

from survey import exports, questionnaires, xlsform
from survey.storage import evaluations
from survey.storage.measures_store import compute
from survey.web import api_submissions

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path, book=None, name="form.xlsx"):
    """A workbook file built from `book` (default BASE); its path as text."""
    path = tmp_path / name
    path.write_bytes(build(book))
    return str(path)


def stored_rows(db):
    """Rows of the questionnaire tables and their links to evaluations (what an import may add)."""
    return [db.execute(f"select count(*) from {table}").fetchone()[0]
            for table in ("questionnaires", "questionnaire_versions", "evaluation_questionnaires")]


def listed(runner):
    """The JSON list of `questionnaires list --json`, by id."""
    result = runner.invoke(args=["questionnaires", "list", "--json"])
    assert result.exit_code == 0, result.output
    return {row["id"]: row for row in json.loads(result.output)}


def test_import_stores_publishes_and_joins_the_evaluation(runner, db, tmp_path):
    """A new workbook is stored, published, and used by the (only) evaluation."""
    result = runner.invoke(args=["questionnaires", "import", write(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "xl-test v1: loaded" in result.output
    row = listed(runner)["xl-test"]
    assert (row["version"], row["status"], row["responses"]) == (1, "published", 0)
    assert row["title"]["zh"] == "测试问卷"
    assert evaluations.uses(db, 1, "xl-test")


def test_the_same_workbook_twice_is_a_no_op(runner, db, tmp_path):
    """Importing the same content again stores nothing (compared by content sha256)."""
    path = write(tmp_path)
    runner.invoke(args=["questionnaires", "import", path])
    before = stored_rows(db)
    result = runner.invoke(args=["questionnaires", "import", path])
    assert result.exit_code == 0 and "xl-test v1: unchanged" in result.output
    assert stored_rows(db) == before


def test_a_changed_workbook_needs_a_new_version(runner, db, tmp_path):
    """Other content under the same version is refused; with a new version it is stored beside."""
    runner.invoke(args=["questionnaires", "import", write(tmp_path)])
    before = stored_rows(db)
    changed = with_survey_cell(7, "label::zh", "您今年多大年纪？")
    result = runner.invoke(args=["questionnaires", "import", write(tmp_path, changed, "changed.xlsx")])
    assert result.exit_code != 0
    assert "changed: give it a new version number (2)" in result.output and "nothing was stored" in result.output
    assert stored_rows(db) == before
    changed["settings"][1][1] = 2
    result = runner.invoke(args=["questionnaires", "import", write(tmp_path, changed, "v2.xlsx")])
    assert result.exit_code == 0 and "xl-test v2: loaded" in result.output
    assert [v[0] for v in questionnaires.versions(db, "xl-test")] == [1, 2]
    assert questionnaires.get(db, "xl-test").question("age")["text"]["zh"] == "您今年多大年纪？"
    assert questionnaires.get(db, "xl-test", 1).question("age")["text"]["zh"] == "您多大岁数？"


BROKEN = [
    ("geopoint", with_survey_cell(3, "type", "geopoint"), "survey 表第3行“type”列：不支持 geopoint"),
    ("duplicate", with_survey_cell(9, "name", "age"), "survey 表第9行“name”列：题目名 age 重复"),
    ("later", with_survey_cell(4, "relevant", "${age} > 70"), "survey 表第4行“relevant”列"),
    ("missing list", sheets(choices=[r for r in BASE["choices"] if r[0] != "who"]),
     "survey 表第3行“type”列：choices 表中没有列表 who"),
    ("measure", sheets(measures=BASE["measures"] + [["x", "top2", "nobody"]]),
     "measures 表第4行“question”列：没有题目 nobody"),
]


@pytest.mark.parametrize("case, book, line", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_workbooks_are_refused_naming_the_cell_and_store_nothing(runner, db, tmp_path, case, book, line):
    """Exit code != 0, the sheet/row/column line in the output, and no row added anywhere."""
    before = stored_rows(db)
    result = runner.invoke(args=["questionnaires", "import", write(tmp_path, book)])
    assert result.exit_code != 0
    assert line in result.output and "nothing was stored" in result.output
    assert stored_rows(db) == before


def test_not_a_workbook_is_refused(runner, db, tmp_path):
    """A file that is no xlsx is refused in a sentence, nothing stored."""
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"hello")
    before = stored_rows(db)
    result = runner.invoke(args=["questionnaires", "import", str(path)])
    assert result.exit_code != 0 and "文件无法读取" in result.output and stored_rows(db) == before


@pytest.mark.parametrize("qid", ["elder-satisfaction", "public-awareness", "security-feeling"])
def test_standard_questionnaires_export_and_import_unchanged(runner, db, tmp_path, qid):
    """Exported by the CLI and imported again, a standard questionnaire is unchanged (same sha)."""
    out = str(tmp_path / f"{qid}.xlsx")
    result = runner.invoke(args=["questionnaires", "export", qid, "-o", out])
    assert result.exit_code == 0, result.output
    before = stored_rows(db)
    result = runner.invoke(args=["questionnaires", "import", out])
    assert result.exit_code == 0 and "unchanged" in result.output, result.output
    assert stored_rows(db) == before
    yaml_definition = yaml.safe_load((ROOT / "survey" / "definitions" / f"{qid}.yaml").read_text(encoding="utf-8"))
    assert questionnaires.definition_sha256(xlsform.read_workbook(Path(out).read_bytes())) == \
        questionnaires.definition_sha256(yaml_definition)


def test_export_of_an_older_version(runner, db, tmp_path):
    """--version writes that version's workbook."""
    runner.invoke(args=["questionnaires", "import", write(tmp_path)])
    changed = with_survey_cell(7, "label::zh", "新的说法")
    changed["settings"][1][1] = 2
    runner.invoke(args=["questionnaires", "import", write(tmp_path, changed, "v2.xlsx")])
    out = tmp_path / "v1.xlsx"
    result = runner.invoke(args=["questionnaires", "export", "xl-test", "--version", "1", "-o", str(out)])
    assert result.exit_code == 0
    assert xlsform.read_workbook(out.read_bytes()) == questionnaires.get(db, "xl-test", 1).definition
    result = runner.invoke(args=["questionnaires", "export", "xl-test", "--version", "7", "-o", str(out)])
    assert result.exit_code != 0 and "xl-test v7" in result.output


def test_list_has_id_version_title_and_responses(runner):
    """`list --json` lists the standard three with id, version, title and responses."""
    rows = listed(runner)
    assert rows["elder-satisfaction"]["version"] == 3 and rows["public-awareness"]["version"] == 2
    assert set(rows["security-feeling"]) >= {"id", "version", "title", "responses", "status"}
    result = runner.invoke(args=["questionnaires", "list"])
    assert result.exit_code == 0 and "elder-satisfaction\tv3\tpublished" in result.output


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_paper_template_columns_and_codes(runner, tmp_path, fmt):
    """The blank template has site, respondent column or question, every answerable question; the
    xlsx a second sheet with every question's codes and labels."""
    runner.invoke(args=["questionnaires", "import", write(tmp_path)])
    out = tmp_path / f"t.{fmt}"
    result = runner.invoke(args=["questionnaires", "template", "xl-test", "--format", fmt, "-o", str(out)])
    assert result.exit_code == 0, result.output
    expected = ["site", "respondent_type", "respondent", "services", "overall", "knows", "age", "spend", "suggestion"]
    if fmt == "csv":
        assert out.read_bytes().startswith(b"\xef\xbb\xbf")
        assert out.read_text(encoding="utf-8-sig").strip().split(",") == expected
        return
    workbook = load_workbook(out, read_only=True)
    assert workbook.sheetnames == ["answers", "codes"]
    assert [c for c in next(workbook["answers"].iter_rows(values_only=True))] == expected
    codes = [row for row in workbook["codes"].iter_rows(values_only=True)]
    assert ("overall", "总体满意吗？") == codes[[r[0] for r in codes].index("overall")][:2]
    assert {(r[3], r[4]) for r in codes if r[0] == "overall"} == {
        ("5", "非常满意"), ("4", "满意"), ("3", "一般"), ("2", "不满意"), ("1", "非常不满意")}
    assert any(r[0] == "age" and "整数" in r[2] and ". >= 60 and . <= 120" in r[2] for r in codes)


def test_standard_questionnaire_template_has_no_respondent_type_column(runner, tmp_path):
    """A questionnaire that asks who answers (meta: respondent_type) needs no extra column."""
    out = tmp_path / "t.csv"
    runner.invoke(args=["questionnaires", "template", "elder-satisfaction", "--format", "csv", "-o", str(out)])
    header = out.read_text(encoding="utf-8-sig").strip().split(",")
    assert header[:3] == ["site", "respondent", "services"] and "respondent_type" not in header


# --- an imported workbook answered and measured ------------------------------------------------

PAPER = ("site,respondent,services,overall,knows,age,spend,suggestion\n"
         ",本人,助餐;助洁,5,是,80,200,很好\n"
         ",self,cleaning,4,0,66,,\n"
         ",proxy,meals,2,1,90,100.5,太贵\n")


def paper_import(runner, tmp_path, text, name="paper.csv", qid="xl-test"):
    """Run `responses import` on a CSV text."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return runner.invoke(args=["responses", "import", qid, str(path)])


def test_imported_workbook_answered_by_csv_and_measured(runner, db, tmp_path):
    """import -> paper answers by CSV -> the workbook's measures count them."""
    assert runner.invoke(args=["questionnaires", "import", write(tmp_path)]).exit_code == 0
    result = paper_import(runner, tmp_path, PAPER)
    assert result.exit_code == 0, result.output
    assert "Imported 3 responses" in result.output
    satisfaction = compute(db, 1, "xl-test", "satisfaction_rate")
    assert (satisfaction.successes, satisfaction.n) == (2, 3)
    knows = compute(db, 1, "xl-test", "knows_rate")
    assert (knows.successes, knows.n) == (2, 3)
    assert listed(runner)["xl-test"]["responses"] == 3


@pytest.mark.parametrize("row, column, words", [
    (",self,meals,5,1,50,,", "age", "年龄应在60到120岁之间"),
    (",self,meals,5,1,70.5,,", "age", "whole number"),
    (",self,meals,5,1,70,-3,", "spend", "breaks the constraint . >= 0"),
])
def test_paper_answer_breaking_a_constraint_is_refused_naming_the_column(runner, db, tmp_path, row, column, words):
    """A cell against the constraint refuses the whole file, naming line and column; nothing stored."""
    runner.invoke(args=["questionnaires", "import", write(tmp_path)])
    text = PAPER + row + "\n"
    result = paper_import(runner, tmp_path, text)
    assert result.exit_code != 0
    assert f"line 5, column '{column}'" in result.output and words in result.output
    assert db.execute("select count(*) from responses").fetchone()[0] == 0


def test_api_answer_breaking_a_constraint_is_refused_naming_the_question(app, client, runner, db, users, tmp_path):
    """POST /api/submissions with an age below the constraint: 400 naming `age` and its message."""
    runner.invoke(args=["questionnaires", "import", write(tmp_path)])
    households = make_roster(db)
    with app.app_context():
        from survey.storage.db import get_db

        conn = get_db()
        user_id = conn.execute("select id from users where username = 'staff'").fetchone()[0]
        token = api_submissions.issue_token(conn, user_id)
    answers = {"respondent": "self", "services": ["meals"], "overall": "5", "age": "45"}
    payload = {"id": str(uuid.uuid4()), "questionnaire": "xl-test", "answers": answers,
               "meta": {"channel": "door", "consent": 1, "household_id": households["A001"], "source": "field"}}
    headers = {"Authorization": f"Bearer {token}"}
    response = client.post("/api/submissions", json=payload, headers=headers)
    assert response.status_code == 400, response.json
    assert response.json["field"] == "age" and "年龄应在60到120岁之间" in json.dumps(response.json, ensure_ascii=False)
    assert db.execute("select count(*) from responses").fetchone()[0] == 0
    answers["age"] = "75"
    assert client.post("/api/submissions", json=payload, headers=headers).status_code == 201


def test_two_versions_join_by_question_name_in_measures_and_exports(runner, db, tmp_path):
    """Answers keep their version; measures and exports count v1 and v2 answers together by question."""
    runner.invoke(args=["questionnaires", "import", write(tmp_path)])
    assert paper_import(runner, tmp_path, PAPER).exit_code == 0
    v2 = copy.deepcopy(BASE)
    v2["settings"][1][1] = 2
    v2["survey"][4][2] = "总的来说，您满意吗？"  # new words, same question name
    v2["survey"].append(["text", "extra", "新加的问题", "", "", "", "", "", "", ""])
    assert runner.invoke(args=["questionnaires", "import", write(tmp_path, v2, "v2.xlsx")]).exit_code == 0
    result = paper_import(runner, tmp_path, "respondent,services,overall,knows,age,extra\nself,meals,5,1,70,新\n",
                          name="v2.csv")
    assert result.exit_code == 0, result.output
    versions = [r[0] for r in db.execute("select questionnaire_version from responses order by id").fetchall()]
    assert versions == [1, 1, 1, 2]
    satisfaction = compute(db, 1, "xl-test", "satisfaction_rate")
    assert (satisfaction.successes, satisfaction.n) == (3, 4)
    rows = list(exports.response_rows(db, 1, "xl-test"))
    header = rows[0]
    overall = [row[header.index("overall")] for row in rows[1:]]
    assert overall == ["5", "4", "2", "5"]
    assert [row[header.index("questionnaire_version")] for row in rows[1:]] == [1, 1, 1, 2]


# --- drafts, publish, close ----------------------------------------------------------------------

def test_draft_is_answered_nowhere_until_published_then_closed(runner, client, db, tmp_path):
    """--draft stores without joining an evaluation; publish() opens it; close() ends the pages."""
    result = runner.invoke(args=["questionnaires", "import", "--draft", write(tmp_path)])
    assert result.exit_code == 0 and "(draft)" in result.output
    assert questionnaires.status(db, "xl-test") == "draft"
    assert not evaluations.uses(db, 1, "xl-test")
    assert client.get("/q/xl-test").status_code == 404
    assert "xl-test" not in client.get("/").text
    questionnaires.publish(db, "xl-test", 1)
    assert questionnaires.status(db, "xl-test") == "published" and evaluations.uses(db, 1, "xl-test")
    assert client.get("/q/xl-test").status_code == 200
    questionnaires.close(db, "xl-test")
    page = client.get("/q/xl-test")
    assert page.status_code == 200 and "本次调查已结束" in page.text
    questionnaires.publish(db, "xl-test", 1)
    assert "本次调查已结束" not in client.get("/q/xl-test").text


def test_a_draft_version_does_not_replace_the_published_one(runner, db, tmp_path):
    """A new version uploaded as a draft is kept; respondents see the published one until publish()."""
    runner.invoke(args=["questionnaires", "import", write(tmp_path)])
    changed = with_survey_cell(7, "label::zh", "新的说法")
    changed["settings"][1][1] = 2
    runner.invoke(args=["questionnaires", "import", "--draft", write(tmp_path, changed, "v2.xlsx")])
    assert questionnaires.get(db, "xl-test").version == 1
    assert questionnaires.versions(db, "xl-test")[1][:2] == (2, "draft")
    assert questionnaires.get(db, "xl-test", 2).question("age")["text"]["zh"] == "新的说法"  # the preview reads it
    questionnaires.publish(db, "xl-test", 2)
    assert questionnaires.get(db, "xl-test").version == 2
    with pytest.raises(questionnaires.QuestionnaireError, match="older than the published version 2"):
        questionnaires.publish(db, "xl-test", 1)


def test_examples_workbooks_import_unchanged(runner, db):
    """The committed example workbooks import as no-ops on a fresh database (they are the YAML)."""
    for path in sorted((ROOT / "examples" / "questionnaires").glob("*.xlsx")):
        result = runner.invoke(args=["questionnaires", "import", str(path)])
        assert result.exit_code == 0 and "unchanged" in result.output, result.output


def test_workbook_bytes_are_read_through_the_size_guard(runner, tmp_path):
    """A file over the upload limit is refused before it is parsed."""
    path = tmp_path / "big.xlsx"
    path.write_bytes(build() + b"\0" * (3 * 1024 * 1024))
    result = runner.invoke(args=["questionnaires", "import", str(path)])
    assert result.exit_code != 0 and "nothing was stored" in result.output



def test_publish_and_close_commands(runner, client, db, tmp_path):
    """`questionnaires publish ID V` opens a draft; `close ID` ends its pages; errors exit != 0."""
    runner.invoke(args=["questionnaires", "import", "--draft", write(tmp_path)])
    result = runner.invoke(args=["questionnaires", "close", "xl-test"])
    assert result.exit_code != 0 and "never published" in result.output
    result = runner.invoke(args=["questionnaires", "publish", "xl-test", "3"])
    assert result.exit_code != 0 and "xl-test v3" in result.output
    result = runner.invoke(args=["questionnaires", "publish", "xl-test", "1"])
    assert result.exit_code == 0 and listed(runner)["xl-test"]["status"] == "published"
    assert runner.invoke(args=["questionnaires", "close", "xl-test"]).exit_code == 0
    assert listed(runner)["xl-test"]["status"] == "closed"
    assert "本次调查已结束" in client.get("/q/xl-test").text
