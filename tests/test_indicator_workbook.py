"""Indicator systems as appendix-layout workbooks: round trips, the examples, refusals, CLI, upload."""

import io
import json
from pathlib import Path

import openpyxl
import pytest
from conftest import csrf_token

from scoring import IndicatorSystemError, load_system, score_system
from scoring.workbook import (
    SHEET_ITEMS,
    SHEET_NODES,
    SHEET_SETTINGS,
    IndicatorWorkbookError,
    read_workbook,
    system_data,
    workbook_of_yaml,
    write_workbook,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "examples"
SYSTEMS = sorted(p for p in EXAMPLES.glob("*.yaml") if p.name != "seed-001-as-printed.yaml")
SYSTEMS += sorted(SHARED.glob("*.yaml")) if SHARED.is_dir() else []

SMALL = """
project: 测试项目
period: "2024"
grades: [{label: 优, min: 90}, {label: 良, min: 80}, {label: 中, min: 60}, {label: 差, min: 0}]
indicators:
  - name: 决策
    weight: 40
    children:
      - name: 项目立项
        weight: 20
        rule: checklist_share
        checks:
          - {text: 依据充分, ok: true}
          - {text: 程序规范, ok: false}
      - name: 资金
        weight: 20
        children:
          - name: 预算执行率
            weight: 10
            rule: rate
            numerator: 4
            denominator: 5
            zero_below: 0
          - name: 成本
            weight: 10
            rule: cost_saving
            planned: 100
            actual: 100.5
            steps: started_point
  - name: 效益
    weight: 60
    children:
      - name: 满意度
        weight: 30
        rule: rate
        full_at: 0.9
        source: {survey: elder-satisfaction, measure: satisfaction_rate}
      - name: 覆盖
        weight: 20
        rule: bands
        value: 0.85
        bands: [{min: 0.9, score: 20}, {min: 0.8, score: 15}]
      - name: 评价
        weight: 10
        rule: judged
        score: 8
        reason: "=SUM(A1) 看似公式的理由：也是文字"
"""


def leaf_scores(result):
    """{path: score} of every node of a scored system."""
    return {node.path: node.score for node in result.walk()}


def sheet_values(data):
    """{sheet title: [row values]} of workbook bytes."""
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in workbook}


def edited(data, sheet, cell, value, more=None):
    """Workbook bytes with one cell (and the cells of ``more``, {cell: value}) changed."""
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    for name, new in {cell: value, **(more or {})}.items():
        workbook[sheet][name] = new
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def measures(survey, measure, filters=None):
    """A fixed measured value for survey leaves."""
    return 0.95


@pytest.fixture
def small():
    """The small system and its workbook bytes."""
    system = load_system(SMALL)
    return system, write_workbook(system)


@pytest.mark.parametrize("path", SYSTEMS, ids=lambda p: p.stem)
def test_yaml_and_workbook_give_the_same_totals_grades_and_leaf_scores(path):
    from_yaml = load_system(path)
    from_workbook = read_workbook(write_workbook(from_yaml))
    assert system_data(from_workbook) == system_data(from_yaml)
    expected, got = score_system(from_yaml, measures), score_system(from_workbook, measures)
    assert (got.total, got.grade) == (expected.total, expected.grade)
    assert leaf_scores(got) == leaf_scores(expected)
    assert got.mismatches == expected.mismatches


@pytest.mark.parametrize("path", SYSTEMS, ids=lambda p: p.stem)
def test_read_write_read_gives_the_same_system(path):
    first = read_workbook(write_workbook(load_system(path)))
    again = read_workbook(write_workbook(first))
    assert system_data(again) == system_data(first)


def test_committed_example_workbooks_equal_a_fresh_export():
    yamls = sorted(EXAMPLES.glob("*.yaml"))
    assert sorted(p.stem for p in EXAMPLES.glob("*.xlsx")) == [p.stem for p in yamls]
    for path in yamls:
        assert sheet_values(path.with_suffix(".xlsx").read_bytes()) == sheet_values(workbook_of_yaml(path)), path


def test_the_as_printed_example_workbook_is_refused_naming_the_row_like_its_yaml():
    with pytest.raises(IndicatorSystemError, match="41"):
        load_system(EXAMPLES / "seed-001-as-printed.yaml")
    with pytest.raises(IndicatorWorkbookError) as caught:
        read_workbook((EXAMPLES / "seed-001-as-printed.xlsx").read_bytes())
    error = caught.value
    assert (error.sheet, error.column) == (SHEET_NODES, "分值")
    rows = sheet_values((EXAMPLES / "seed-001-as-printed.xlsx").read_bytes())[SHEET_NODES]
    assert rows[error.row - 1][0] == "产出"
    assert "合计 41" in str(error) and "40" in str(error)


def test_the_workbook_is_laid_out_for_an_evaluator(small):
    _, data = small
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    assert workbook.sheetnames == [SHEET_NODES, SHEET_ITEMS, SHEET_SETTINGS]
    nodes = workbook[SHEET_NODES]
    assert nodes.freeze_panes == "A2"
    assert [c.value for c in nodes[1]][:8] == ["一级指标", "二级指标", "三级指标", "分值", "评分规则", "参数", "输入",
                                                "报告得分"]
    assert nodes.column_dimensions["C"].width >= 20
    rows = [list(r) for r in nodes.iter_rows(min_row=2, values_only=True)]
    assert rows[0][:4] == ["决策", None, None, 40]
    assert rows[3][2:7] == ["预算执行率", 10, "比率", "零分线：0", "分子：4\n分母：5"]
    assert rows[4][5] == "扣分方式：按已开始的百分点"
    satisfaction = rows[6]
    assert satisfaction[8:10] == ["elder-satisfaction", "satisfaction_rate"]
    items = [list(r) for r in workbook[SHEET_ITEMS].iter_rows(min_row=2, values_only=True)]
    assert items[0][:4] == ["决策 / 项目立项", "要素", "依据充分", "是"]
    assert items[1][3] == "否"
    # A text that looks like a formula is a string cell, not a formula.
    judged = nodes.cell(row=10, column=7)
    assert judged.data_type == "s" and judged.value.startswith("评分：8")


def test_formula_looking_text_round_trips_as_text(small):
    system, data = small
    assert system_data(read_workbook(data)) == system_data(system)
    reasons = [n for n in read_workbook(data).indicators[1].children if n.name == "评价"]
    assert reasons[0].params["reason"].startswith("=SUM(A1)")


def test_percent_and_rule_names_are_accepted_as_an_evaluator_writes_them(small):
    _, data = small
    data = edited(data, SHEET_NODES, "F5", "零分线：0%")
    data = edited(data, SHEET_NODES, "E5", "rate")
    system = read_workbook(data)
    leaf = system.indicators[0].children[1].children[0]
    assert (leaf.rule, leaf.params["zero_below"]) == ("rate", 0)


REFUSALS = [
    pytest.param(SHEET_NODES, "D5", None, "指标 表第5行“分值”列：缺少分值", id="missing-weight"),
    pytest.param(SHEET_NODES, "D5", "十", "指标 表第5行“分值”列：不是数字：十", id="weight-not-a-number"),
    pytest.param(SHEET_NODES, "G5", "分子：四\n分母：5", "指标 表第5行“输入”列：分子 不是数字：四",
                 id="input-not-a-number"),
    pytest.param(SHEET_NODES, "E5", "打分", "指标 表第5行“评分规则”列：未知的评分规则“打分”", id="unknown-rule"),
    pytest.param(SHEET_NODES, "F5", "满分：1", "指标 表第5行“参数”列：无法识别“满分：1”", id="unknown-parameter"),
    pytest.param(SHEET_NODES, "A8", "效益", "指标 表第8行“二级指标”列：一行只写一个指标", id="two-levels-in-a-row"),
    pytest.param(SHEET_NODES, {"A2": None, "B2": "决策"}, None,
                 "指标 表第2行“二级指标”列：二级指标“决策”上面没有它的一级指标", id="unknown-level"),
    pytest.param(SHEET_NODES, "D5", 11, "指标 表第4行“分值”列：决策 / 资金 的下级指标分值合计 21，与它的分值 20 不符",
                 id="weights-not-summing"),
    pytest.param(SHEET_NODES, "C6", "预算执行率", "指标 表第6行“三级指标”列：与第5行重名：预算执行率",
                 id="duplicate-name"),
    pytest.param(SHEET_NODES, "L1", "评分标准", "指标 表第1行“L”列：未知的列名“评分标准”", id="unknown-header"),
    pytest.param(SHEET_NODES, "G5", "分子：6\n分母：5\n数值：1", "指标 表第5行“输入”列：",
                 id="rate-with-two-inputs"),
    pytest.param(SHEET_ITEMS, "D2", "也许", "评分要素 表第2行“是否符合”列：只能填“是”或“否”", id="bad-yes-no"),
    pytest.param(SHEET_ITEMS, "A2", "决策 / 不存在", "评分要素 表第2行“指标”列：“指标”表里没有这个指标",
                 id="unknown-item-node"),
    pytest.param(SHEET_SETTINGS, "B4", 90, "设置 表第4行“值”列：一级指标分值合计 100，与总分值 90 不符",
                 id="level1-not-total"),
    pytest.param(SHEET_SETTINGS, "C5", "九十", "设置 表第5行“最低分”列：不是数字：九十", id="grade-not-a-number"),
]


@pytest.mark.parametrize(("sheet", "cell", "value", "message"), REFUSALS)
def test_refusals_name_sheet_row_and_column(small, sheet, cell, value, message):
    _, data = small
    changes = cell if isinstance(cell, dict) else {cell: value}
    with pytest.raises(IndicatorWorkbookError) as caught:
        read_workbook(edited(data, sheet, *changes.popitem(), changes))
    assert str(caught.value).startswith(message), str(caught.value)
    assert caught.value.sheet == sheet


def test_a_missing_sheet_and_a_non_workbook_are_refused(small):
    _, data = small
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    del workbook[SHEET_SETTINGS]
    out = io.BytesIO()
    workbook.save(out)
    with pytest.raises(IndicatorWorkbookError, match="缺少“设置”表"):
        read_workbook(out.getvalue())
    with pytest.raises(IndicatorWorkbookError, match="not a readable .xlsx"):
        read_workbook(b"PK\x03\x04 but not a zip")


def test_a_system_deeper_than_three_levels_cannot_be_written():
    deep = load_system("indicators:\n  - name: a\n    weight: 100\n    children:\n"
                       "      - name: b\n        weight: 100\n"
                       "        children:\n          - name: c\n            weight: 100\n            children:\n"
                       "              - {name: d, weight: 100, rule: judged, score: 1, reason: r}\n")
    with pytest.raises(IndicatorWorkbookError, match="层级超过三级"):
        write_workbook(deep)


# --- the score command -----------------------------------------------------------------


def test_score_writes_a_workbook_and_reads_it_back_with_the_same_result(runner, tmp_path):
    source = EXAMPLES / "seed-001-community-care.yaml"
    out = tmp_path / "system.xlsx"
    first = runner.invoke(args=["score", str(source), "--json", "--xlsx", str(out)])
    assert first.exit_code == 0, first.output
    assert out.read_bytes()[:4] == b"PK\x03\x04"
    again = runner.invoke(args=["score", str(out), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == json.loads(first.stdout)
    assert json.loads(again.stdout)["total"] == 86.5
    # Dispatch on the magic bytes too: a workbook saved without its suffix.
    renamed = tmp_path / "system.bin"
    renamed.write_bytes(out.read_bytes())
    assert json.loads(runner.invoke(args=["score", str(renamed), "--json"]).stdout)["total"] == 86.5


def test_score_of_a_broken_workbook_names_the_cell(runner, tmp_path, small):
    path = tmp_path / "broken.xlsx"
    path.write_bytes(edited(small[1], SHEET_NODES, "D5", "十"))
    result = runner.invoke(args=["score", str(path)])
    assert result.exit_code != 0
    assert "指标 表第5行“分值”列：不是数字" in result.stderr


# --- the upload page ---------------------------------------------------------------------


def upload(client, name, data):
    """Upload bytes as a file on the scores page."""
    page = client.get("/e/default/scores/")
    return client.post("/e/default/scores/upload", content_type="multipart/form-data",
                       data={"csrf_token": csrf_token(page.text), "name": "",
                             "file": (io.BytesIO(data), name)})


def stored(app):
    """The stored systems' (filename, yaml) rows."""
    from survey.storage.db import get_db

    with app.app_context():
        return [tuple(r) for r in get_db().execute("select filename, yaml from indicator_systems")]


def test_upload_page_takes_a_workbook_and_stores_its_yaml(app, login):
    evaluator = login("evaluator")
    path = EXAMPLES / "seed-004-home-care-beds.xlsx"
    response = upload(evaluator, path.name, path.read_bytes())
    assert response.status_code == 302, response.text
    table = evaluator.get(response.location)
    assert "88.00" in table.text and "良" in table.text
    [(filename, text)] = stored(app)
    assert filename == path.name
    assert system_data(load_system(text)) == system_data(load_system(EXAMPLES / "seed-004-home-care-beds.yaml"))
    # The stored system downloads as a workbook that reads back the same.
    download = evaluator.get(response.location + "/system.xlsx")
    assert download.status_code == 200
    assert system_data(read_workbook(download.data)) == system_data(load_system(text))


def test_upload_of_a_broken_workbook_names_the_cell_and_stores_nothing(app, login, small):
    evaluator = login("evaluator")
    bad = edited(write_workbook(load_system(EXAMPLES / "seed-000-hotline-12349.yaml")), SHEET_NODES, "D3", "abc")
    response = upload(evaluator, "hotline.xlsx", bad)
    assert response.status_code == 422
    assert "指标 表第3行“分值”列：不是数字：abc" in response.text
    assert "未保存任何内容" in response.text
    assert stored(app) == []


def test_upload_of_a_workbook_with_an_unknown_survey_measure_stores_nothing(app, login, small):
    evaluator = login("evaluator")
    response = upload(evaluator, "small.xlsx", edited(small[1], SHEET_NODES, "J8", "happiness"))
    assert response.status_code == 422
    assert "unknown survey measure elder-satisfaction/happiness" in response.text
    assert stored(app) == []
