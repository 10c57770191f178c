"""The `score` and `measures` commands: every example file scored through the CLI."""

import json
from pathlib import Path

import pytest
from test_measures import record_elder, record_public

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
HOTLINE = Path(__file__).resolve().parents[2] / "shared" / "examples" / "hotline-2024.yaml"

CASES = [
    pytest.param(HOTLINE, 94.80, "优", {"决策": 17, "过程": 19, "产出": 36.80, "效益": 22},
                 id="hotline-2024",
                 marks=pytest.mark.skipif(not HOTLINE.is_file(), reason="shared example missing")),
    pytest.param(EXAMPLES / "seed-000-hotline-12349.yaml", 91.99, "优",
                 {"资金执行": 3.33, "投入和管理目标": 8.66, "产出指标": 40, "效益指标": 30, "满意度指标": 10},
                 id="seed-000"),
    pytest.param(EXAMPLES / "seed-004-home-care-beds.yaml", 88, "良",
                 {"决策": 11, "过程": 12, "产出": 30, "效益": 35}, id="seed-004"),
    pytest.param(EXAMPLES / "seed-001-community-care.yaml", 86.5, "良",
                 {"决策": 7, "过程": 15, "产出": 36.5, "效果": 28}, id="seed-001"),
]


def score_json(runner, path):
    """Run `score PATH --json` and return the parsed object."""
    result = runner.invoke(args=["score", str(path), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(("path", "total", "grade", "level1"), CASES)
def test_examples_score_as_printed_through_the_cli(runner, path, total, grade, level1):
    data = score_json(runner, path)
    assert data["total"] == total
    assert data["grade"] == grade
    assert {item["name"]: item["score"] for item in data["level1"]} == level1
    assert [node["name"] for node in data["indicators"]] == list(level1)
    for node in data["indicators"]:
        assert {"name", "weight", "score", "children"} <= set(node)
        assert node["score"] == pytest.approx(sum(child["score"] for child in node["children"]))
    for item in data["level1"]:
        assert item["score_rate"] == pytest.approx(item["score"] / item["weight"], abs=5e-5)
        assert item["grade"] in {"优", "良", "中", "差"}


def test_clean_examples_have_no_mismatches(runner):
    assert score_json(runner, EXAMPLES / "seed-000-hotline-12349.yaml")["mismatches"] == []


def test_seed_001_lists_its_printed_slips(runner):
    data = score_json(runner, EXAMPLES / "seed-001-community-care.yaml")
    assert data["mismatches"] == [
        {"path": "效果", "reported": 30.0, "computed": 28.0},
        {"path": "总分", "reported": 88.5, "computed": 86.5},
    ]


def test_table_output_by_default(runner):
    result = runner.invoke(args=["score", str(EXAMPLES / "seed-001-community-care.yaml")])
    assert result.exit_code == 0
    assert "总分 86.50  等级 良" in result.stdout
    assert "效果: 报告 30，计算 28.00" in result.stdout


def test_invalid_file_exits_non_zero_naming_the_node_on_stderr(runner):
    result = runner.invoke(args=["score", str(EXAMPLES / "seed-001-as-printed.yaml"), "--json"])
    assert result.exit_code != 0
    assert "产出" in result.stderr
    assert "41" in result.stderr
    assert result.stdout == ""


def test_missing_file_is_an_error(runner, tmp_path):
    result = runner.invoke(args=["score", str(tmp_path / "nope.yaml")])
    assert result.exit_code != 0
    assert "nope.yaml" in result.stderr


def test_survey_leaf_without_responses_is_refused_by_name(runner, tmp_path):
    path = tmp_path / "survey.yaml"
    path.write_text(SURVEY_SYSTEM, encoding="utf-8")
    result = runner.invoke(args=["score", str(path)])
    assert result.exit_code != 0
    assert "满意度" in result.stderr and "no valid responses" in result.stderr


def test_survey_leaf_reads_the_database_with_filters(runner, db, tmp_path):
    for index in range(10):
        record_elder(db, 5 if index < 9 else 2, submitted_at=f"2024-0{1 + index % 2}-15T10:00:00")
    path = tmp_path / "survey.yaml"
    path.write_text(SURVEY_SYSTEM, encoding="utf-8")
    data = score_json(runner, path)
    leaf = data["indicators"][1]["children"][0]
    assert leaf["value"] == 0.9 and leaf["score"] == 10
    assert data["measured"]["效益 / 满意度"]["n"] == 10
    january = runner.invoke(args=["score", str(path), "--json", "--period-to", "2024-01"])
    assert json.loads(january.stdout)["measured"]["效益 / 满意度"]["n"] == 5


SURVEY_SYSTEM = """\
project: 测试项目
period: "2024"
indicators:
  - name: 决策
    weight: 90
    rule: judged
    score: 90
    reason: 全部符合
  - name: 效益
    weight: 10
    children:
      - name: 满意度
        weight: 10
        rule: rate
        full_at: 0.9
        zero_below: 0.6
        source: {survey: elder-satisfaction, measure: satisfaction_rate}
"""


def test_measures_json_shape(runner, db):
    for index in range(30):
        record_elder(db, 4 if index < 27 else 3)
    result = runner.invoke(args=["measures", "elder-satisfaction", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rate = data["satisfaction_rate"]
    assert (rate["value"], rate["n"], rate["ci95"]) == (0.9, 30, [0.7438, 0.9654])
    assert data["responses"]["n"] == 30
    assert "item_satisfaction:item_attitude" in data


def test_measures_json_by_breakdown_and_filters(runner, db):
    record_public(db, 1, 0, channel="door")
    record_public(db, 1, 1, channel="qr")
    record_public(db, 0, 1, channel="qr")
    result = runner.invoke(args=["measures", "public-awareness", "--json", "--by", "channel"])
    data = json.loads(result.stdout)
    assert data["awareness_rate"]["door"]["value"] == 0.5
    assert data["awareness_rate"]["qr"]["n"] == 4
    filtered = runner.invoke(args=["measures", "public-awareness", "--json", "--channel", "qr"])
    awareness = json.loads(filtered.stdout)["awareness_rate"]
    assert awareness["value"] == 0.75
    assert awareness["items"]["knows_hotline"]["value"] == 0.5


def test_measures_table_and_unknown_questionnaire(runner, db):
    record_elder(db, 5)
    table = runner.invoke(args=["measures", "elder-satisfaction"])
    assert table.exit_code == 0
    assert "值 %" in table.stdout and "95% 区间" in table.stdout
    line = next(x for x in table.stdout.splitlines() if x.startswith("satisfaction_rate"))
    assert line.split()[1:3] == ["100.00", "1"]
    unknown = runner.invoke(args=["measures", "no-such-survey"])
    assert unknown.exit_code != 0
    assert "no-such-survey" in unknown.stderr
