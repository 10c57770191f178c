"""XLSForm-style questionnaire workbooks: every type, expression and refusal; round trips."""

import copy
import io
import re
import zipfile
from pathlib import Path

import pytest
import yaml
from openpyxl import load_workbook
from xlsform_helpers import BASE, build, sheets, with_survey_cell

from survey import questionnaires, xlsform
from survey.questionnaires import AnswerError, Questionnaire

ROOT = Path(__file__).resolve().parent.parent
STANDARD = sorted((ROOT / "survey" / "definitions").glob("*.yaml"))


def read(book=None):
    """The definition read from a workbook built from `book` (default BASE)."""
    return xlsform.read_workbook(build(book))


def problems(book):
    """The (sheet, row, column, message) problems of a workbook that must be refused."""
    with pytest.raises(xlsform.WorkbookError) as caught:
        read(book)
    return caught.value.problems


def question(definition, qid):
    """One question of a definition by id."""
    return next(q for q in definition["questions"] if q["id"] == qid)


# --- every type ----------------------------------------------------------------------------

@pytest.mark.parametrize("qid, expected", [
    ("welcome", {"type": "note", "text": {"zh": "欢迎参加", "en": "Welcome"}}),
    ("respondent", {"type": "single", "required": True,
                    "choices": [{"value": "self", "zh": "本人", "en": "Self"},
                                {"value": "proxy", "zh": "代答", "en": "Proxy"}]}),
    ("services", {"type": "multi", "hint": {"zh": "可以多选"}}),
    ("overall", {"type": "scale5", "required": True}),
    ("knows", {"type": "yesno"}),
    ("age", {"type": "number", "integer": True,
             "constraint": {"all": [{"op": ">=", "value": 60}, {"op": "<=", "value": 120}]},
             "constraint_message": {"zh": "年龄应在60到120岁之间"}}),
    ("spend", {"type": "number", "constraint": {"op": ">=", "value": 0},
               "show_if": {"question": "services", "includes": "meals"}}),
    ("suggestion", {"type": "text", "show_if": {"any": [{"question": "knows", "equals": "1"},
                                                        {"question": "age", "op": ">=", "value": 80}]}}),
])
def test_every_type_maps_onto_the_definition(qid, expected):
    """Each XLSForm type becomes the app's question type with its details."""
    found = question(read(), qid)
    assert {key: found.get(key) for key in expected} == expected
    if qid in ("overall", "knows"):
        assert "labels" not in found and "choices" not in found  # the built-in words, no copy


def test_settings_and_measures_are_read():
    """Settings give id, version, titles, intro and thanks; measures their specs."""
    definition = read()
    assert (definition["id"], definition["version"]) == ("xl-test", 1)
    assert definition["title"] == {"zh": "测试问卷", "en": "Test questionnaire"}
    assert definition["intro"] == {"zh": "您好"} and definition["thanks"] == {"zh": "谢谢"}
    assert definition["measures"] == {"satisfaction_rate": {"kind": "top2", "question": "overall"},
                                      "knows_rate": {"kind": "mean_yes", "questions": ["knows"]}}
    questionnaires.validate_definition(definition)


def test_likert_with_agreement_words_and_other_words():
    """A 1-5 likert list with the agreement words is `scale: agree`; other words are `labels`."""
    book = copy.deepcopy(BASE)
    words = {"5": "非常同意", "4": "同意", "3": "说不清", "2": "不同意", "1": "非常不同意"}
    english = {"5": "Strongly agree", "4": "Agree", "3": "Not sure", "2": "Disagree", "1": "Strongly disagree"}
    for row in book["choices"]:
        if row[0] == "sat":
            row[2], row[3] = words[row[1]], english[row[1]]
    assert question(read(book), "overall")["scale"] == "agree"
    book["choices"][5][2] = "非常好"
    found = question(read(book), "overall")
    assert found["labels"]["5"] == {"zh": "非常好", "en": "Strongly agree"} and "scale" not in found
    assert Questionnaire(read(book)).choices(found)[0]["zh"] == "非常好"


def test_yes_no_list_with_other_words_keeps_codes():
    """A 1/0 list worded 知道/不知道 is a yes/no question with labels (codes stay 1 and 0)."""
    book = copy.deepcopy(BASE)
    book["choices"][10][2:4] = ["知道", "I know"]
    found = question(read(book), "knows")
    assert found["type"] == "yesno" and found["labels"]["1"] == {"zh": "知道", "en": "I know"}


def test_groups_are_dissolved_and_their_relevant_joins_each_question():
    """begin/end group are no-ops except that a group's relevant applies to every question inside."""
    book = copy.deepcopy(BASE)
    rows = book["survey"]
    rows.insert(7, ["begin group", "money", "", "", "", "", "${knows} = '1'", "", "", ""])
    rows.append(["end group", "", "", "", "", "", "", "", "", ""])
    definition = read(book)
    assert question(definition, "spend")["show_if"] == {"all": [
        {"question": "knows", "equals": "1"}, {"question": "services", "includes": "meals"}]}
    assert "money" not in [q["id"] for q in definition["questions"]]


@pytest.mark.parametrize("kind", ["start", "end", "today"])
def test_metadata_types_are_dropped(kind):
    """start/end/today (recorded by every response anyway) are read past."""
    book = copy.deepcopy(BASE)
    book["survey"].insert(1, [kind, kind, "", "", "", "", "", "", "", ""])
    assert kind not in [q["id"] for q in read(book)["questions"]]


def test_xlsform_headers_in_other_spellings():
    """`label` alone is Chinese; `Label::Chinese (zh)` is label::zh; case and spaces are ignored."""
    book = copy.deepcopy(BASE)
    book["survey"][0][2] = "Label::Chinese (zh)"
    book["survey"][0][0] = " Type "
    assert question(read(book), "age")["text"]["zh"] == "您多大岁数？"
    book["survey"][0][2] = "label"
    assert question(read(book), "age")["text"]["zh"] == "您多大岁数？"


# --- relevant and constraint expressions ------------------------------------------------------

@pytest.mark.parametrize("text, tree", [
    ("${a} = 'x'", {"question": "a", "equals": "x"}),
    ('${a} = "x"', {"question": "a", "equals": "x"}),
    ("${a} = 1", {"question": "a", "equals": "1"}),
    ("${a} != 'x'", {"not": {"question": "a", "equals": "x"}}),
    ("selected(${a}, 'x')", {"question": "a", "includes": "x"}),
    ("${a} >= 80", {"question": "a", "op": ">=", "value": 80}),
    ("${a} < 2.5", {"question": "a", "op": "<", "value": 2.5}),
    ("${a} = 'x' and ${b} = 'y'", {"all": [{"question": "a", "equals": "x"}, {"question": "b", "equals": "y"}]}),
    ("${a} = 'x' or ${b} = 'y'", {"any": [{"question": "a", "equals": "x"}, {"question": "b", "equals": "y"}]}),
    ("not(selected(${a}, 'x'))", {"not": {"question": "a", "includes": "x"}}),
    ("${a} = 'x' and (${b} = 'y' or ${b} = 'z')",
     {"all": [{"question": "a", "equals": "x"},
              {"any": [{"question": "b", "equals": "y"}, {"question": "b", "equals": "z"}]}]}),
    ("${a} = 'x' or ${b} = 'y' and ${c} = 'z'",  # and binds tighter than or, as in XPath
     {"any": [{"question": "a", "equals": "x"},
              {"all": [{"question": "b", "equals": "y"}, {"question": "c", "equals": "z"}]}]}),
    ("(${a} = 'x' and ${b} = 'y') and ${c} = 'z'",
     {"all": [{"question": "a", "equals": "x"}, {"question": "b", "equals": "y"},
              {"question": "c", "equals": "z"}]}),
])
def test_relevant_forms(text, tree):
    """Each supported relevant form parses to its tree, and is written back to an equal tree."""
    assert xlsform.parse_relevant(text) == tree
    assert xlsform.parse_relevant(questionnaires.relevant_text(tree)) == tree


@pytest.mark.parametrize("text, tree", [
    (". >= 0", {"op": ">=", "value": 0}),
    (". != 5", {"op": "!=", "value": 5}),
    (". > 0.5", {"op": ">", "value": 0.5}),
    (". = 'x'", {"op": "=", "value": "x"}),
    (". >= 0 and . <= 120", {"all": [{"op": ">=", "value": 0}, {"op": "<=", "value": 120}]}),
    (". < 10 or . > 20", {"any": [{"op": "<", "value": 10}, {"op": ">", "value": 20}]}),
    ("not(. = 5)", {"not": {"op": "=", "value": 5}}),
])
def test_constraint_forms(text, tree):
    """Each supported constraint form parses to its tree and back."""
    assert xlsform.parse_constraint(text) == tree
    assert xlsform.parse_constraint(questionnaires.constraint_text(tree)) == tree


@pytest.mark.parametrize("parse, text, words", [
    (xlsform.parse_relevant, "count-selected(${a}) > 1", "不支持函数 count-selected()"),
    (xlsform.parse_relevant, "${a} = ", "不完整"),
    (xlsform.parse_relevant, "${a} = 'x' and", "不完整"),
    (xlsform.parse_relevant, "(${a} = 'x'", "不完整"),
    (xlsform.parse_relevant, "${a} 'x'", "比较符号"),
    (xlsform.parse_relevant, "${a} > 'x'", "只能和数字比较"),
    (xlsform.parse_relevant, "${a} = 'x' ${b}", "多出了内容"),
    (xlsform.parse_relevant, ". = 'x'", "${题目名}"),
    (xlsform.parse_relevant, "${a} = 'x' + 1", "看不懂“+”"),
    (xlsform.parse_relevant, "", "空的"),
    (xlsform.parse_constraint, "string-length(.) < 5", "不支持函数 string-length()"),
    (xlsform.parse_constraint, "${a} > 1", "只能比较本题的回答"),
    (xlsform.parse_constraint, ". >= ${a}", "带引号的文字或数字"),
])
def test_malformed_expressions_are_refused_in_chinese(parse, text, words):
    """A malformed expression or an unknown function is an ExpressionError saying what is wrong."""
    with pytest.raises(xlsform.ExpressionError, match=None) as caught:
        parse(text)
    assert words in str(caught.value)


@pytest.mark.parametrize("rule, answers, shown", [
    ({"question": "a", "equals": "x"}, {"a": "x"}, True),
    ({"question": "a", "equals": "x"}, {}, False),
    ({"not": {"question": "a", "equals": "x"}}, {}, True),  # ${a} != 'x' while a is empty
    ({"not": {"question": "a", "equals": "x"}}, {"a": "x"}, False),
    ({"question": "a", "includes": "x"}, {"a": ["y", "x"]}, True),
    ({"question": "a", "op": ">=", "value": 80}, {"a": "85"}, True),
    ({"question": "a", "op": ">=", "value": 80}, {"a": "79"}, False),
    ({"question": "a", "op": ">=", "value": 80}, {"a": "abc"}, False),
    ({"all": [{"question": "a", "equals": "x"}, {"question": "b", "equals": "y"}]}, {"a": "x", "b": "y"}, True),
    ({"all": [{"question": "a", "equals": "x"}, {"question": "b", "equals": "y"}]}, {"a": "x"}, False),
    ({"any": [{"question": "a", "equals": "x"}, {"question": "b", "equals": "y"}]}, {"b": "y"}, True),
    ({"any": [{"question": "a", "equals": "x"}, {"question": "b", "equals": "y"}]}, {"a": "z"}, False),
])
def test_compound_show_if_is_evaluated(rule, answers, shown):
    """Questionnaire.is_visible evaluates every leaf and combination of a show-if tree."""
    assert questionnaires.rule_matches(rule, answers) is shown


@pytest.mark.parametrize("qid, raw, refused", [
    ("age", "65", None),
    ("age", "59", "constraint"),
    ("age", "121", "constraint"),
    ("age", "70.5", "not_an_integer"),
    ("age", "abc", "not_a_number"),
    ("spend", "12.5", None),
    ("spend", "-1", "constraint"),
    ("welcome", "hello", "not_answerable"),
])
def test_constraints_and_number_kinds_are_enforced_by_parse(qid, raw, refused):
    """Questionnaire.parse (behind every entry path) enforces integer and the constraint."""
    q = Questionnaire(read())
    if refused is None:
        assert q.parse(q.question(qid), raw) is not None
        return
    with pytest.raises(AnswerError) as caught:
        q.parse(q.question(qid), raw)
    assert caught.value.code == refused and caught.value.question_id == qid
    if refused == "constraint" and qid == "age":
        assert "年龄应在60到120岁之间" in caught.value.message


def test_clean_answers_skips_notes_and_hidden_questions():
    """A note takes no answer; questions a compound show-if hides are dropped."""
    q = Questionnaire(read())
    clean = q.clean_answers({"respondent": "self", "services": ["cleaning"], "overall": "5", "knows": "0",
                             "age": "70", "spend": "5", "suggestion": "好"})
    assert "spend" not in clean and "suggestion" not in clean and "welcome" not in clean
    clean = q.clean_answers({"respondent": "self", "services": ["meals"], "overall": "5", "age": "85",
                             "suggestion": "好"})
    assert clean["suggestion"] == "好" and "spend" not in clean


# --- refusals -------------------------------------------------------------------------------

def _drop_list(name):
    """BASE without the choice list `name`."""
    book = copy.deepcopy(BASE)
    book["choices"] = [row for row in book["choices"] if row[0] != name]
    return book


def _measure(row):
    """BASE with one more measures row."""
    book = copy.deepcopy(BASE)
    book["measures"].append(row)
    return book


REFUSALS = [
    # (case, workbook, sheet, row, column, words in the message)
    ("geopoint", with_survey_cell(3, "type", "geopoint"), "survey", 3, "type", "不支持 geopoint"),
    ("calculate", with_survey_cell(3, "type", "calculate"), "survey", 3, "type", "不支持 calculate"),
    ("begin repeat", with_survey_cell(3, "type", "begin repeat"), "survey", 3, "type", "不支持 begin repeat"),
    ("date", with_survey_cell(9, "type", "date"), "survey", 9, "type", "不支持 date"),
    ("or_other", with_survey_cell(3, "type", "select_one who or_other"), "survey", 3, "type", "or_other"),
    ("unknown function", with_survey_cell(9, "relevant", "count-selected(${services}) > 1"),
     "survey", 9, "relevant", "不支持函数 count-selected()"),
    ("constraint function", with_survey_cell(7, "constraint", "regex(., '[0-9]+')"),
     "survey", 7, "constraint", "不支持函数 regex()"),
    ("duplicate name", with_survey_cell(9, "name", "age"), "survey", 9, "name", "题目名 age 重复（第7行已用过）"),
    ("missing list", _drop_list("who"), "survey", 3, "type", "choices 表中没有列表 who"),
    ("unknown question", with_survey_cell(9, "relevant", "${nobody} = '1'"),
     "survey", 9, "relevant", "引用了不存在的题目 ${nobody}"),
    ("later question", with_survey_cell(4, "relevant", "${age} > 70"),
     "survey", 4, "relevant", "不在本题之前"),
    ("itself", with_survey_cell(7, "relevant", "${age} > 70"), "survey", 7, "relevant", "不在本题之前"),
    ("malformed", with_survey_cell(9, "relevant", "${knows} = '1' and"), "survey", 9, "relevant", "不完整"),
    ("bad constraint", with_survey_cell(7, "constraint", ". >= "), "survey", 7, "constraint", "不完整"),
    ("missing column", sheets(survey=[[c for c in row[:1]] + row[2:] for row in BASE["survey"]]),
     "survey", 1, "name", "缺少必需的列“name”"),
    ("missing sheet", sheets(settings=None), "settings", None, None, "缺少工作表“settings”"),
    ("no Chinese label", with_survey_cell(7, "label::zh", ""), "survey", 7, "label::zh", "缺少中文"),
    ("bad required", with_survey_cell(7, "required", "maybe"), "survey", 7, "required", "yes 或 no"),
    ("bad name", with_survey_cell(7, "name", "年龄"), "survey", 7, "name", "只能用英文字母"),
    ("reserved name", with_survey_cell(7, "name", "site"), "survey", 7, "name", "保留列名"),
    ("likert not 1-5", with_survey_cell(3, "appearance", "likert"), "survey", 3, "appearance", "1 到 5"),
    ("measure unknown question", _measure(["x_rate", "top2", "nobody"]), "measures", 4, "question", "没有题目 nobody"),
    ("measure wrong type", _measure(["x_rate", "mean_yes", "overall"]), "measures", 4, "question", "是/否题"),
    ("measure kind", _measure(["x_rate", "median", "overall"]), "measures", 4, "kind", "不支持 median"),
    ("version", sheets(settings=[BASE["settings"][0], ["xl-test", "v1", "测试问卷", "", "", ""]]),
     "settings", 2, "version", "正整数"),
    ("duplicate choice", sheets(choices=BASE["choices"] + [["who", "self", "又是本人", ""]]),
     "choices", 13, "name", "重复"),
]


@pytest.mark.parametrize("case, book, sheet, row, column, words", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals_name_sheet_row_and_column(case, book, sheet, row, column, words):
    """Every refusal names its sheet, row and column, in Chinese."""
    found = problems(book)
    assert any((p.sheet, p.row, p.column) == (sheet, row, column) and words in p.message for p in found), found
    text = str(xlsform.WorkbookError(found))
    expected = f"{sheet} 表" + (f"第{row}行" if row else "") + (f"“{column}”列" if column else "")
    assert expected in text


def test_every_problem_is_listed_not_only_the_first():
    """Three broken cells give three problems, one line each in the message."""
    book = with_survey_cell(3, "type", "geopoint")
    book = with_survey_cell(9, "name", "age", book)
    book = with_survey_cell(8, "relevant", "${nobody} = '1'", book)
    with pytest.raises(xlsform.WorkbookError) as caught:
        read(book)
    lines = str(caught.value).splitlines()
    assert "survey 表第3行“type”列：不支持 geopoint" in lines
    assert any(line.startswith("survey 表第9行“name”列") for line in lines)
    assert any(line.startswith("survey 表第8行“relevant”列") for line in lines)


@pytest.mark.parametrize("data, words", [
    (b"not a zip at all", "文件无法读取"),
    (b"PK\x03\x04" + b"\0" * 100, "文件无法读取"),
])
def test_unreadable_files_are_refused(data, words):
    """Bytes that are no workbook are refused through the guarded check, not by a traceback."""
    with pytest.raises(xlsform.WorkbookError) as caught:
        xlsform.read_workbook(data)
    assert words in str(caught.value)


def test_a_huge_second_sheet_is_refused_before_openpyxl_reads_it():
    """The guarded check looks at every sheet's declared size, not only the first."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(build())) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet2.xml":
                # openpyxl writes `<dimension ref="A1:D12"/>` or `... />` (lxml or not): match both.
                data = re.sub(rb'<dimension ref="[A-Z0-9:]+"', b'<dimension ref="A1:D900000"', data, count=1)
                assert b"A1:D900000" in data
            target.writestr(info, data)
    with pytest.raises(xlsform.WorkbookError) as caught:
        xlsform.read_workbook(buffer.getvalue())
    assert "900000" in str(caught.value)


# --- round trips ----------------------------------------------------------------------------

@pytest.mark.parametrize("path", STANDARD, ids=[p.stem for p in STANDARD])
def test_standard_questionnaires_round_trip(path):
    """Each standard questionnaire, written as a workbook and read back, is the same definition."""
    definition = questionnaires.validate_definition(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert xlsform.read_workbook(xlsform.write_workbook(definition)) == definition


def test_a_read_workbook_round_trips_through_the_writer():
    """Every type, hint, constraint and compound relevant survives write -> read."""
    definition = read()
    assert xlsform.read_workbook(xlsform.write_workbook(definition)) == definition


@pytest.mark.parametrize("path", STANDARD, ids=[p.stem for p in STANDARD])
def test_committed_example_workbooks_are_a_fresh_export(path):
    """examples/questionnaires/*.xlsx hold what the writer makes of the YAML today (never stale)."""
    example = ROOT / "examples" / "questionnaires" / f"{path.stem}.xlsx"
    definition = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert xlsform.read_workbook(example.read_bytes()) == definition
    assert _cells(example.read_bytes()) == _cells(xlsform.write_workbook(definition))


def _cells(data):
    """{sheet: [row values]} of a workbook, to compare two files by content, not by zip bytes."""
    workbook = load_workbook(io.BytesIO(data), read_only=True)
    try:
        return {sheet.title: [list(row) for row in sheet.iter_rows(values_only=True)]
                for sheet in workbook.worksheets}
    finally:
        workbook.close()


def test_writer_keeps_a_formula_looking_label_as_text():
    """A label starting with = is written as text (the workbook never runs it)."""
    definition = read()
    definition["questions"][1]["text"]["zh"] = "=HYPERLINK(\"http://x\")"
    data = xlsform.write_workbook(definition)
    assert xlsform.read_workbook(data)["questions"][1]["text"]["zh"] == "=HYPERLINK(\"http://x\")"


def test_progress_does_not_count_notes_and_may_follow_sees_comparisons():
    """A note has no number and is not counted; a question a later comparison reads may reveal it."""
    q = Questionnaire(read())
    assert q.progress({}, "welcome")[0] is None
    position, total = q.progress({}, "respondent")
    assert position == 1 and total == 7  # 5 shown + spend and suggestion that may still appear
    answers = {"respondent": "self", "services": ["cleaning"], "overall": "5", "knows": "0"}
    assert q.may_follow(answers, "age")  # ${age} >= 80 may reveal the suggestion
    assert not q.may_follow(dict(answers, age="70"), "suggestion")


@pytest.mark.parametrize("name", [p.stem for p in STANDARD] + ["every-type"])
def test_written_workbooks_are_valid_xlsform(tmp_path, name):
    """pyxform (ODK's XLSForm converter) turns what the writer makes into an XForm: the subset
    overlaps XLSForm as XLSForm means it (extra columns and the measures sheet are ignored)."""
    from pyxform.xls2xform import convert

    if name == "every-type":
        data = xlsform.write_workbook(read())
    else:
        data = (ROOT / "examples" / "questionnaires" / f"{name}.xlsx").read_bytes()
    path = tmp_path / f"{name.replace('-', '_')}.xlsx"
    path.write_bytes(data)
    xform = convert(xlsform=str(path), warnings=[]).xform
    assert "<h:title>" in xform
    if name != "security-feeling":  # the only one without a relevant
        assert 'relevant="' in xform
    if name == "every-type":
        assert 'constraint=". &gt;= 60 and . &lt;= 120"' in xform
