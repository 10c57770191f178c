"""The seed reports' indicator tables, encoded in examples/, score as the reports print.

Each seed file is a real report's table (see the header comment of each file). The
totals, grades and level-1 scores asserted here are the ones the reports printed, except
for seed 001, whose printed 效果 30 and total 88.5 do not follow from its own items: there
the computed values are asserted, and the mismatches with the printed ones must be listed.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from scoring import IndicatorSystemError, load_system, score_system

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SHARED_EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "examples"

# file, total, grade, {level-1 name: score}
CASES = [
    pytest.param(
        EXAMPLES / "seed-000-hotline-12349.yaml", "91.99", "优",
        {"资金执行": "3.33", "投入和管理目标": "8.66", "产出指标": "40",
         "效益指标": "30", "满意度指标": "10"},
        id="seed-000-hotline-12349"),
    pytest.param(
        EXAMPLES / "seed-001-community-care.yaml", "86.5", "良",
        {"决策": "7", "过程": "15", "产出": "36.5", "效果": "28"},
        id="seed-001-community-care"),
    pytest.param(
        SHARED_EXAMPLES / "hotline-2024.yaml", "94.80", "优",
        {"决策": "17", "过程": "19", "产出": "36.80", "效益": "22"},
        id="hotline-2024"),
    pytest.param(
        EXAMPLES / "seed-004-home-care-beds.yaml", "88", "良",
        {"决策": "11", "过程": "12", "产出": "30", "效益": "35"},
        id="seed-004-home-care-beds"),
]


def _get(item, key):
    """Read a field of a mismatch, whether it is a mapping or an object."""
    return item[key] if isinstance(item, dict) else getattr(item, key)


@pytest.mark.parametrize(("path", "total", "grade", "level1"), CASES)
def test_seed_table_scores_as_printed(path, total, grade, level1):
    result = score_system(load_system(path))
    assert result.total == Decimal(total)
    assert result.grade == grade
    scores = {node.name: node.score for node in result.indicators}
    assert scores == {name: Decimal(score) for name, score in level1.items()}


def test_seed_000_depends_on_leaf_rounding():
    # 3.333 + 0.333 + 0.333 + 88 would be 92.00; leaf rounding gives 3.33 + 0.33 + 0.33.
    result = score_system(load_system(EXAMPLES / "seed-000-hotline-12349.yaml"))
    inputs = next(n for n in result.indicators if n.name == "投入和管理目标")
    management = next(n for n in inputs.children if n.name == "投入管理")
    leaves = {n.name: n.score for n in management.children}
    assert leaves["预算执行率"] == Decimal("0.33")
    assert leaves["预算资金到位情况"] == Decimal("0.33")
    assert result.total == Decimal("91.99")
    assert result.mismatches == []


def test_seed_004_has_level_2_leaves_and_matches_the_report():
    result = score_system(load_system(EXAMPLES / "seed-004-home-care-beds.yaml"))
    benefit = next(n for n in result.indicators if n.name == "效益")
    assert {n.name: n.score for n in benefit.children} == {
        "社会效益": Decimal(15), "可持续影响": Decimal(10), "满意度": Decimal(10)}
    assert all(not n.children for n in benefit.children)
    assert result.mismatches == []


def test_seed_001_lists_the_reports_mismatches():
    result = score_system(load_system(EXAMPLES / "seed-001-community-care.yaml"))
    found = [(_get(m, "path"), Decimal(_get(m, "reported")), Decimal(_get(m, "computed")))
             for m in result.mismatches]
    outcome = [m for m in found if m[0] == "效果"]
    assert outcome == [("效果", Decimal(30), Decimal(28))]
    totals = [m for m in found if m[1:] == (Decimal("88.5"), Decimal("86.5"))]
    assert len(totals) == 1, found
    assert len(found) == 2, found  # nothing else differs from the printed scores


def test_seed_001_as_printed_is_refused_naming_the_output_node():
    with pytest.raises(IndicatorSystemError) as info:
        load_system(EXAMPLES / "seed-001-as-printed.yaml")
    message = str(info.value)
    assert "产出" in message
    assert "41" in message and "40" in message
