"""Table tests for each scoring rule, run through the rule registry and leaf rounding."""

from decimal import Decimal

import pytest

from scoring.rules import RULES, RuleInputError, round2


def score(rule, weight, measured=None, **params):
    """Score one leaf with ``rule`` and return its 2-dp score."""
    return round2(RULES[rule](Decimal(str(weight)), params, measured).raw)


@pytest.mark.parametrize(("params", "weight", "expected"), [
    ({"numerator": 4, "denominator": 5}, 6, "4.80"),
    ({"numerator": 27, "denominator": 30, "full_at": 0.9}, 10, "10.00"),
    ({"numerator": 26, "denominator": 30, "full_at": 0.9}, 10, "8.67"),
    ({"value": 0.75, "full_at": 0.9}, 10, "7.50"),
    ({"value": 0.5, "full_at": 0.9}, 10, "0.00"),
    ({"value": 0.6}, 10, "6.00"),
    ({"value": 0.5999}, 10, "0.00"),
    ({"value": 1}, 4, "4.00"),
    ({"value": 0.3333, "zero_below": 0}, 1, "0.33"),
    ({"value": 0.3335, "zero_below": 0}, 1, "0.33"),
    ({"value": 0.335, "zero_below": 0}, 1, "0.34"),
    ({"numerator": 34.70, "denominator": 34.70}, 4, "4.00"),
    ({"numerator": 1, "denominator": 3, "zero_below": 0}, 2, "0.67"),
    ({"value": 0.95, "full_at": 1.2, "zero_below": 0}, 4, "3.80"),
])
def test_rate(params, weight, expected):
    """Rate: full at full_at, nothing below zero_below, value x weight in between."""
    assert score("rate", weight, **params) == Decimal(expected)


def test_rate_measured_value_is_used():
    """A measured value from a source replaces inline numbers."""
    params = {"source": {"survey": "s", "measure": "m"}, "full_at": 0.9}
    assert score("rate", 10, Decimal("0.75"), **params) == Decimal("7.50")


def test_seed_000_rounds_each_leaf_before_summing():
    """Seed 000: 0.3333 + 0.3333 counts as 0.33 + 0.33 = 0.66, not 0.67."""
    leaf = score("rate", 1, value=0.3333, zero_below=0)
    assert leaf + leaf == Decimal("0.66")
    assert round2(Decimal("0.3333") * 2) == Decimal("0.67")


@pytest.mark.parametrize(("params", "message"), [
    ({}, "numerator/denominator, value or source"),
    ({"numerator": 1, "denominator": 0}, "denominator must be positive"),
    ({"numerator": 1}, "missing `denominator`"),
    ({"value": -0.1}, "must not be negative"),
    ({"value": "abc"}, "must be a number"),
    ({"value": 0.5, "numerator": 1, "denominator": 2}, "rate takes one input"),
    ({"value": 0.5, "full_at": 0.5, "zero_below": 0.6}, "zero_below <= full_at"),
])
def test_rate_errors(params, message):
    """Missing or contradictory rate inputs are refused."""
    with pytest.raises(RuleInputError, match=message):
        score("rate", 5, **params)


def checks(*oks, **extra):
    """Build a checks list with the given ok flags (and extra keys on every check)."""
    return [{"text": f"check {i}", "ok": ok, **extra} for i, ok in enumerate(oks)]


@pytest.mark.parametrize(("weight", "params", "expected"), [
    (12, {"checks": checks(True, True, True, True, True, False, deduct=2)}, "10.00"),
    (12, {"checks": checks(True, True, False)}, "11.00"),
    (2, {"checks": checks(False, False, False)}, "0.00"),
    (1, {"checks": checks(False, True), "per_fail": 0.5}, "0.50"),
    (3, {"checks": checks(False, False), "per_fail": 5}, "0.00"),
    (5, {"checks": checks(True, True)}, "5.00"),
])
def test_checklist_deduct(weight, params, expected):
    """Deductions of failed checks, floored at 0 (12 - 2 = 10)."""
    assert score("checklist_deduct", weight, **params) == Decimal(expected)


def test_checklist_deduct_evidence():
    """The evidence counts the failed checks and the points deducted."""
    params = {"checks": checks(True, True, True, True, True, False, deduct=2)}
    outcome = RULES["checklist_deduct"](Decimal(12), params, None)
    assert outcome.evidence.startswith("6 项中 1 项不符，扣 2 分")


@pytest.mark.parametrize(("weight", "params", "expected"), [
    (5, {"checks": checks(False, True, True, False, True)}, "3.00"),
    (2, {"checks": checks(True, True, share=0.5)}, "2.00"),
    (10, {"checks": [{"text": "a", "ok": True, "share": 0.2},
                     {"text": "b", "ok": False, "share": 0.8}]}, "2.00"),
    (1, {"checks": checks(True, False, False)}, "0.33"),
    (2, {"checks": checks(True, True, False)}, "1.33"),
    (4, {"checks": checks(False, False)}, "0.00"),
])
def test_checklist_share(weight, params, expected):
    """Weight x the shares that hold; equal shares by default."""
    assert score("checklist_share", weight, **params) == Decimal(expected)


@pytest.mark.parametrize(("params", "message"), [
    ({"checks": checks(True, False, share=0.4)}, "shares add up to 0.8, not 1"),
    ({"checks": [{"text": "a", "ok": True, "share": 1}, {"text": "b", "ok": True}]},
     "every check or on none"),
    ({"checks": []}, "non-empty list"),
    ({"checks": [{"text": "a", "ok": "yes"}]}, "ok: true or false"),
    ({"checks": [{"ok": True}]}, "has no text"),
])
def test_checklist_errors(params, message):
    """Malformed checklists are refused."""
    with pytest.raises(RuleInputError, match=message):
        score("checklist_share", 5, **params)


@pytest.mark.parametrize(("weight", "params", "expected"), [
    (6, {"planned": 34.70, "actual": 34.70}, "6.00"),
    (6, {"planned": 100, "actual": 90}, "6.00"),
    (6, {"planned": 100, "actual": 102}, "4.00"),
    (6, {"planned": 100, "actual": 102.1}, "3.90"),
    (6, {"planned": 100, "actual": 100.01}, "5.99"),
    (6, {"planned": 100, "actual": 101, "per_point": 0.5}, "5.50"),
    (6, {"planned": 100, "actual": 100.5}, "5.50"),
    (6, {"planned": 100, "actual": 150}, "0.00"),
    (6, {"planned": 100, "actual": 102.1, "steps": "started_point"}, "3.00"),
    (6, {"planned": 100, "actual": 100.01, "steps": "started_point"}, "5.00"),
    (6, {"planned": 100, "actual": 102, "steps": "started_point"}, "4.00"),
])
def test_cost_saving(weight, params, expected):
    """Full if no overrun; minus per_point x the overrun in points (proportional by default,
    whole started points with steps: started_point); floor 0."""
    assert score("cost_saving", weight, **params) == Decimal(expected)


def test_cost_saving_evidence_shows_the_arithmetic():
    """The evidence text carries the overrun rate and the deduction sum."""
    outcome = RULES["cost_saving"](Decimal(6), {"planned": 100, "actual": 100.5}, None)
    assert "(100.5 - 100) / 100 = 0.50%" in outcome.evidence
    assert "0.50 个百分点 × 1 = 0.50，扣 0.50 分" in outcome.evidence
    stepped = RULES["cost_saving"](Decimal(6), {"planned": 100, "actual": 100.01,
                                                "steps": "started_point"}, None)
    assert "按已开始的 1 个百分点计，1 × 1 = 1，扣 1 分" in stepped.evidence


def test_cost_saving_refuses_unknown_steps():
    """A misspelt `steps` value is refused with a suggestion, not read as proportional."""
    with pytest.raises(RuleInputError, match="did you mean `started_point`"):
        score("cost_saving", 6, planned=100, actual=101, steps="started_points")


def test_cost_saving_needs_positive_plan():
    """A zero plan cannot give a saving rate."""
    with pytest.raises(RuleInputError, match="planned must be positive"):
        score("cost_saving", 6, planned=0, actual=1)


BANDS = [{"min": 0, "score": 0}, {"min": 0.8, "score": 2}, {"min": 0.9, "score": 4}]


@pytest.mark.parametrize(("value", "expected"), [
    (0.95, "4.00"), (0.9, "4.00"), (0.89, "2.00"), (0.8, "2.00"), (0.1, "0.00"), (-1, "0.00"),
])
def test_bands(value, expected):
    """The score of the highest band whose min <= value."""
    assert score("bands", 4, value=value, bands=BANDS) == Decimal(expected)


@pytest.mark.parametrize(("value", "expected"), [
    (0.95, "4.00"), (0.9, "4.00"), (0.89, "2.00"), (0.8, "2.00"), (0.1, "0.00"), (-1, "0.00"),
])
def test_bands_highest_first_score_the_same(value, expected):
    """Bands listed highest first, as reports print them, mean the same table."""
    assert score("bands", 4, value=value, bands=list(reversed(BANDS))) == Decimal(expected)


@pytest.mark.parametrize(("bands", "message"), [
    (None, "non-empty list"),
    ([{"min": 0.9, "score": 4}, {"min": 0.9, "score": 2}], "two bands start at 0.9"),
    ([{"min": 0.9, "scor": 4}], "did you mean `score`"),
    ([{"min": 0, "score": 5}], "outside 0..4"),
    ([{"min": 0}], "missing `score`"),
])
def test_bands_errors(bands, message):
    """Missing, unsorted or too-high bands are refused."""
    with pytest.raises(RuleInputError, match=message):
        score("bands", 4, value=1, bands=bands)


@pytest.mark.parametrize(("weight", "judged", "expected"), [
    (12, 12, "12.00"), (12, 0, "0.00"), (5, 3.5, "3.50"), (5, 3.456, "3.46"),
])
def test_judged(weight, judged, expected):
    """The evaluator's score, kept within 0..weight."""
    assert score("judged", weight, score=judged, reason="ok") == Decimal(expected)


@pytest.mark.parametrize(("params", "message"), [
    ({"score": 13, "reason": "x"}, "outside 0..12"),
    ({"score": -1, "reason": "x"}, "outside 0..12"),
    ({"score": 5}, "needs a non-empty `reason`"),
    ({"score": 5, "reason": "  "}, "needs a non-empty `reason`"),
    ({"reason": "x"}, "missing `score`"),
])
def test_judged_errors(params, message):
    """A judged score outside 0..weight or without a reason is refused."""
    with pytest.raises(RuleInputError, match=message):
        score("judged", 12, **params)


def test_registry_lists_every_rule():
    """The registry holds the six documented rules."""
    expected = {"rate", "checklist_deduct", "checklist_share", "cost_saving", "bands", "judged"}
    assert expected <= set(RULES)
