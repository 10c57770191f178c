"""Whole-system tests: the seed-003 example, validation errors, mismatches, sources."""

import copy
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from scoring import (
    IndicatorSystemError,
    UnknownMeasureError,
    format_table,
    load_system,
    score_system,
)

HOTLINE = Path(__file__).parents[2] / "shared" / "examples" / "hotline-2024.yaml"


@pytest.fixture(scope="module")
def hotline_text():
    """The seed-003 example file as text."""
    return HOTLINE.read_text(encoding="utf-8")


@pytest.fixture
def hotline_dict(hotline_text):
    """A fresh parsed copy of the seed-003 example."""
    return yaml.safe_load(hotline_text)


def leaf(name="指标", weight=10, **params):
    """A judged-by-default leaf mapping."""
    params = params or {"rule": "judged", "score": weight, "reason": "ok"}
    return {"name": name, "weight": weight, **params}


def system(*level1, **top):
    """A system mapping from level-1 node mappings."""
    return {"project": "p", "period": "2024", "total": 100, "indicators": list(level1), **top}


def simple(leaf_params, weight=10):
    """A two-level system: 产出 (weight) > 满意度 leaf, plus a judged filler to 100."""
    return system(
        {"name": "产出", "weight": weight,
         "children": [{"name": "满意度", "weight": weight, **leaf_params}]},
        leaf("效益", 100 - weight))


def find(result, name):
    """The scored node with this name."""
    return next(n for n in result.walk() if n.name == name)


# --- the seed-003 example ------------------------------------------------------------


@pytest.mark.parametrize("form", ["path", "str_path", "text", "dict"])
def test_hotline_scores_94_80(form, hotline_text, hotline_dict):
    """Seed 003 scores 94.80, 优, from every kind of source."""
    source = {"path": HOTLINE, "str_path": str(HOTLINE), "text": hotline_text,
              "dict": hotline_dict}[form]
    result = score_system(load_system(source))
    assert result.total == Decimal("94.80")
    assert str(result.total) == "94.80"
    assert result.grade == "优"
    assert result.mismatches == []


def test_hotline_level1_scores(hotline_dict):
    """决策 17, 过程 19, 产出 36.80, 效益 22."""
    result = score_system(load_system(hotline_dict))
    scores = {n.name: n.score for n in result.indicators}
    assert scores == {"决策": Decimal(17), "过程": Decimal(19),
                      "产出": Decimal("36.80"), "效益": Decimal(22)}
    assert {n.name: n.grade for n in result.indicators}["过程"] == "良"


def test_hotline_leaf_evidence(hotline_dict):
    """Leaves carry a rule, an evidence string and, for rates, the value used."""
    result = score_system(load_system(hotline_dict))
    node = find(result, "服务项目验收合格率")
    assert (node.score, node.value) == (Decimal("4.80"), Decimal("0.8"))
    assert node.evidence == "4/5 = 80.00% × 6 = 4.80"
    assert find(result, "享受服务的老年人满意度").evidence == "27/30 = 90.00% ≥ 90%，得满分"
    assert find(result, "资金使用合规性").evidence.startswith("6 项中 1 项不符，扣 2 分")


def test_hotline_node_paths(hotline_dict):
    """Nodes know their level and their path from level 1."""
    system_ = load_system(hotline_dict)
    quality = system_.indicators[2].children[1].children[1]
    assert quality.path == "产出 / 产出质量 / 服务项目验收合格率"
    assert quality.level == 3
    assert quality.rule == "rate" and quality.params["numerator"] == 4
    assert [g.label for g in system_.grades] == ["优", "良", "中", "差"]


def test_to_dict_shape(hotline_dict):
    """to_dict is JSON-ready with floats, level1 summaries and nested children."""
    data = score_system(load_system(hotline_dict)).to_dict()
    assert {"project", "period", "total", "grade", "indicators", "level1",
            "mismatches"} <= set(data)
    assert data["total"] == 94.8 and data["grade"] == "优"
    assert data["level1"][2] == {"name": "产出", "weight": 38.0, "score": 36.8,
                                 "score_rate": 0.9684, "grade": "优"}
    node = data["indicators"][2]["children"][1]["children"][1]
    assert {"name", "level", "weight", "score", "rule", "evidence", "reported",
            "score_rate", "grade", "children"} <= set(node)
    assert node["score"] == 4.8 and node["score_rate"] == 0.8 and node["children"] == []
    assert all(isinstance(v, float) for v in (node["weight"], node["score"]))


def test_format_table(hotline_dict):
    """The text table lists every node, the total and the grade."""
    text = format_table(score_system(load_system(hotline_dict)))
    assert "服务项目验收合格率" in text and "checklist_deduct" in text
    assert "总分 94.80" in text and "等级 优" in text


# --- mismatches ------------------------------------------------------------------


def test_reported_mismatches_are_listed(hotline_dict):
    """Every node whose reported score differs is listed, and the total as 总分."""
    hotline_dict["reported"] = 97
    hotline_dict["indicators"][1]["reported"] = 19
    hotline_dict["indicators"][2]["reported"] = 38
    result = score_system(load_system(hotline_dict))
    assert result.mismatches == [
        {"path": "产出", "reported": Decimal(38), "computed": Decimal("36.80")},
        {"path": "总分", "reported": Decimal(97), "computed": Decimal("94.80")},
    ]
    assert result.to_dict()["mismatches"][1] == {"path": "总分", "reported": 97.0,
                                                 "computed": 94.8}
    assert "总分: 报告 97，计算 94.80" in format_table(result)


def test_reported_equal_is_no_mismatch(hotline_dict):
    """A reported score equal to the computed one is not a mismatch."""
    hotline_dict["reported"] = 94.8
    hotline_dict["indicators"][2]["reported"] = 36.80
    assert score_system(load_system(hotline_dict)).mismatches == []


# --- validation errors ---------------------------------------------------------------


def break_hotline(data, edit):
    """Return a copy of the example with ``edit`` applied to it."""
    data = copy.deepcopy(data)
    edit(data)
    return data


def node_at(data, *indexes):
    """The raw node at the given child indexes."""
    node = {"children": data["indicators"]}
    for index in indexes:
        node = node["children"][index]
    return node


EDITS = {
    "children sum": (lambda d: node_at(d, 0, 0).update(weight=5), "项目立项",
                     "add up to 4, but the weight of 项目立项 is 5"),
    "leaf without rule": (lambda d: node_at(d, 0, 0, 0).pop("rule"), "立项依据充分性",
                          "needs a rule"),
    "parent with rule": (lambda d: node_at(d, 0, 0).update(rule="judged"), "项目立项",
                         "cannot have a rule"),
    "unknown rule": (lambda d: node_at(d, 0, 0, 0).update(rule="magic"), "立项依据充分性",
                     "unknown rule"),
    "rate without input": (lambda d: [node_at(d, 2, 1, 1).pop(k) for k in
                                      ("numerator", "denominator")],
                           "服务项目验收合格率", "numerator/denominator, value or source"),
    "denominator 0": (lambda d: node_at(d, 2, 1, 1).update(denominator=0),
                      "服务项目验收合格率", "denominator must be positive"),
    "judged too high": (lambda d: node_at(d, 3, 0, 0).update(score=13),
                        "独居老人安全感提升度", "outside 0..12"),
    "judged negative": (lambda d: node_at(d, 3, 0, 0).update(score=-1),
                        "独居老人安全感提升度", "outside 0..12"),
    "judged no reason": (lambda d: node_at(d, 3, 0, 0).pop("reason"),
                         "独居老人安全感提升度", "reason"),
    "judged empty reason": (lambda d: node_at(d, 3, 0, 0).update(reason=""),
                            "独居老人安全感提升度", "reason"),
    "shares not 1": (lambda d: node_at(d, 1, 1, 0)["checks"][0].update(share=0.4),
                     "管理制度健全性", "shares add up to 0.9, not 1"),
    "negative weight": (lambda d: node_at(d, 0, 0, 0).update(weight=-2), "立项依据充分性",
                        "weight must be a positive number"),
    "empty children": (lambda d: node_at(d, 0, 0).update(children=[]), "项目立项",
                       "non-empty list"),
    "duplicate names": (lambda d: node_at(d, 0, 0, 1).update(name="立项依据充分性"),
                        "项目立项", "two indicators are named"),
    "source and numbers": (lambda d: node_at(d, 3, 1, 0).update(
        source={"survey": "s", "measure": "m"}), "享受服务的老年人满意度",
        "rate takes one input"),
}


@pytest.mark.parametrize("case", sorted(EDITS))
def test_invalid_node_is_refused_naming_it(case, hotline_dict):
    """Each invalid node raises IndicatorSystemError naming the node and the problem."""
    edit, name, message = EDITS[case]
    with pytest.raises(IndicatorSystemError) as info:
        load_system(break_hotline(hotline_dict, edit))
    assert name in str(info.value)
    assert name in info.value.path
    assert message in str(info.value)


def test_bands_errors_name_the_node():
    """Missing and repeated bands are refused with the node's path."""
    for bands in (None, [{"min": 0.9, "score": 4}, {"min": 0.9, "score": 2}]):
        data = simple({"rule": "bands", "value": 0.8, "bands": bands}, weight=4)
        with pytest.raises(IndicatorSystemError, match="产出 / 满意度"):
            load_system(data)


@pytest.mark.parametrize(("source", "message"), [
    ({"survey": "s"}, "needs a `measure` name"),
    ("s/m", "must be a mapping"),
    ({"survey": "s", "measure": "m", "filters": [1]}, "filters must be a mapping"),
])
def test_malformed_source_is_refused(source, message):
    """A source needs survey and measure names and mapping filters."""
    with pytest.raises(IndicatorSystemError, match=message) as info:
        load_system(simple({"rule": "rate", "source": source}))
    assert info.value.path == "产出 / 满意度"


def test_source_on_checklist_is_refused():
    """Only rules that take a measured value may have a source."""
    params = {"rule": "judged", "score": 1, "reason": "x",
              "source": {"survey": "s", "measure": "m"}}
    with pytest.raises(IndicatorSystemError, match="满意度.*cannot take its value"):
        load_system(simple(params))


def test_level1_weights_must_add_up_to_total(hotline_dict):
    """Level-1 weights adding to 99 (or a total of 90) are refused with both sums."""
    node_at(hotline_dict, 0).update(weight=16)
    node_at(hotline_dict, 0, 2).update(weight=6)
    node_at(hotline_dict, 0, 2, 3).update(weight=1)
    with pytest.raises(IndicatorSystemError, match="level-1 weights add up to 99, but total"):
        load_system(hotline_dict)


def test_custom_total():
    """A system may declare another total, and its level-1 weights must match it."""
    data = system(leaf("a", 30), leaf("b", 20), total=50)
    assert score_system(load_system(data)).total == Decimal(50)
    data["total"] = 60
    with pytest.raises(IndicatorSystemError, match="add up to 50, but total is 60"):
        load_system(data)


@pytest.mark.parametrize(("grades", "message"), [
    ([{"label": "良", "min": 80}, {"label": "优", "min": 90}, {"label": "差", "min": 0}],
     "descending"),
    ([{"label": "优", "min": 90}, {"label": "良", "min": 80}], "must start at 0"),
    ([{"label": "优"}, {"label": "差", "min": 0}], "must be a number"),
    ([{"min": 90}, {"label": "差", "min": 0}], "has no label"),
    ("优", "list of"),
    ([], "must not be empty"),
])
def test_malformed_grades_are_refused(grades, message):
    """Grades must be a non-empty list of {label, min}, descending, ending at 0."""
    with pytest.raises(IndicatorSystemError, match=message):
        load_system(system(leaf("a", 100), grades=grades))


def test_custom_grade_labels():
    """Labels and bounds come from the file's grades table."""
    grades = [{"label": "优秀", "min": 85}, {"label": "良好", "min": 70},
              {"label": "尚可", "min": 60}, {"label": "有待加强", "min": 0}]
    data = system(leaf("a", 100, rule="judged", score=86, reason="x"), grades=grades)
    result = score_system(load_system(data))
    assert result.grade == "优秀" and result.indicators[0].grade == "优秀"


@pytest.mark.parametrize("bad", ["not: [valid", "- just\n- a list\n", 42])
def test_unreadable_input_is_refused(bad):
    """Invalid YAML, a non-mapping or a wrong type raise IndicatorSystemError."""
    with pytest.raises(IndicatorSystemError):
        load_system(bad if bad != "not: [valid" else bad + "\n")


def test_missing_file_is_refused(tmp_path):
    """A path that does not exist raises IndicatorSystemError."""
    with pytest.raises(IndicatorSystemError, match="cannot read"):
        load_system(tmp_path / "missing.yaml")


# --- survey sources --------------------------------------------------------------------


@dataclass
class Measure:
    """What a measures callable returns: a value and its number of valid responses."""

    value: float | None
    n: int


SOURCE = {"rule": "rate", "full_at": 0.9, "zero_below": 0.6,
          "source": {"survey": "elder-satisfaction", "measure": "satisfaction_rate",
                     "filters": {"community": "东街"}}}


@pytest.mark.parametrize(("measured", "expected"), [
    (Measure(27 / 30, 30), "10.00"),
    (Measure(0.75, 40), "7.50"),
    (Measure(0.5, 10), "0.00"),
    (0.75, "7.50"),
    (Decimal("0.9"), "10.00"),
])
def test_source_leaf_uses_measures(measured, expected):
    """A source leaf asks the measures callable for its value (27/30 gives full marks)."""
    calls = []

    def measures(survey, measure, filters):
        """Record the call and return the prepared measure."""
        calls.append((survey, measure, filters))
        return measured

    result = score_system(load_system(simple(SOURCE)), measures)
    node = find(result, "满意度")
    assert node.score == Decimal(expected)
    assert calls == [("elder-satisfaction", "satisfaction_rate", {"community": "东街"})]
    assert "elder-satisfaction/satisfaction_rate" in node.evidence


def test_source_leaf_without_measures_is_refused():
    """Scoring a source leaf without a measures callable names the node."""
    with pytest.raises(IndicatorSystemError, match="满意度: no valid responses"):
        score_system(load_system(simple(SOURCE)))


@pytest.mark.parametrize("measured", [Measure(None, 0), Measure(0.8, 0), Measure(None, 5)])
def test_source_without_valid_responses_is_refused(measured):
    """n == 0 or a None value means no valid responses."""
    with pytest.raises(IndicatorSystemError, match="满意度: no valid responses") as info:
        score_system(load_system(simple(SOURCE)), lambda *_: measured)
    assert info.value.path == "产出 / 满意度"


def test_unknown_measure_names_the_node():
    """UnknownMeasureError from the callable becomes IndicatorSystemError for the node."""

    def measures(survey, measure, filters):
        """Know no measure at all."""
        raise UnknownMeasureError(measure)

    with pytest.raises(IndicatorSystemError, match="满意度: unknown measure"):
        score_system(load_system(simple(SOURCE)), measures)
