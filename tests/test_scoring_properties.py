"""Property tests: score bounds per rule, sums over random trees, rounding, grades."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring import grade_for, load_system, score_system
from scoring.rules import CENT, RULES, round2

weights = st.integers(1, 3000).map(lambda cents: Decimal(cents) / 100)
fractions = st.integers(0, 12000).map(lambda x: Decimal(x) / 10000)
amounts = st.integers(1, 10**7).map(lambda x: Decimal(x) / 100)


def checks_of(oks, **extra):
    """A checks list from ok flags."""
    return [{"text": f"c{i}", "ok": ok, **extra} for i, ok in enumerate(oks)]


@st.composite
def rate_params(draw, weight):
    """Inputs for a rate leaf: a value or numerator/denominator, with thresholds."""
    full_at = draw(st.integers(1, 12000).map(lambda x: Decimal(x) / 10000))
    zero_below = draw(st.integers(0, 10000).map(lambda x: min(Decimal(x) / 10000, full_at)))
    if draw(st.booleans()):
        inputs = {"value": draw(fractions)}
    else:
        den = draw(st.integers(1, 1000))
        inputs = {"numerator": draw(st.integers(0, den + 50)), "denominator": den}
    return {"full_at": full_at, "zero_below": zero_below, **inputs}


@st.composite
def deduct_params(draw, weight):
    """Inputs for checklist_deduct: random checks, per_fail and deductions."""
    oks = draw(st.lists(st.booleans(), min_size=1, max_size=8))
    checks = [{"text": f"c{i}", "ok": ok, **({"deduct": draw(fractions)}
                                             if draw(st.booleans()) else {})}
              for i, ok in enumerate(oks)]
    return {"checks": checks, "per_fail": draw(fractions)}


@st.composite
def share_params(draw, weight):
    """Inputs for checklist_share with equal shares (which add to exactly 1)."""
    return {"checks": checks_of(draw(st.lists(st.booleans(), min_size=1, max_size=9)))}


@st.composite
def cost_params(draw, weight):
    """Inputs for cost_saving."""
    return {"planned": draw(amounts), "actual": draw(amounts), "per_point": draw(fractions)}


@st.composite
def band_params(draw, weight):
    """Inputs for bands: ascending mins with scores within 0..weight."""
    mins = sorted(draw(st.sets(fractions, min_size=1, max_size=5)))
    scores = [weight * draw(fractions) / Decimal("1.2") for _ in mins]
    bands = [{"min": m, "score": s} for m, s in zip(mins, scores, strict=True)]
    return {"value": draw(fractions), "bands": bands}


@st.composite
def judged_params(draw, weight):
    """Inputs for judged: a score within 0..weight (up to 4 decimals) and a reason."""
    score = weight * draw(st.integers(0, 10000)) / 10000
    return {"score": score.quantize(Decimal("0.0001")), "reason": "理由"}


PARAMS = {"rate": rate_params, "checklist_deduct": deduct_params,
          "checklist_share": share_params, "cost_saving": cost_params,
          "bands": band_params, "judged": judged_params}


@st.composite
def leaf_cases(draw, rules=tuple(PARAMS)):
    """A (rule, weight, params) triple for one of ``rules``."""
    rule = draw(st.sampled_from(rules))
    weight = draw(weights)
    return rule, weight, draw(PARAMS[rule](weight))


def test_every_rule_has_a_strategy():
    """Each registered rule is covered by the bound property below."""
    assert set(RULES) <= set(PARAMS)


@given(leaf_cases())
@settings(max_examples=400)
def test_score_within_zero_and_weight(case):
    """For every rule, 0 <= score <= weight."""
    rule, weight, params = case
    raw = RULES[rule](weight, params, None).raw
    assert Decimal(0) <= raw <= weight
    assert Decimal(0) <= round2(raw) <= weight


@st.composite
def subtrees(draw, depth):
    """A node mapping: a leaf, or (depth allowing) a parent weighing its children's sum."""
    if depth == 0 or draw(st.booleans()):
        rule, weight, params = draw(leaf_cases(("rate", "checklist_share", "judged")))
        return {"weight": weight, "rule": rule, **params}
    children = draw(st.lists(subtrees(depth - 1), min_size=1, max_size=4))
    for index, child in enumerate(children):
        child["name"] = f"n{index}"
    return {"weight": sum(c["weight"] for c in children), "children": children}


@st.composite
def systems(draw):
    """A valid indicator-system mapping whose total is the sum of its level-1 weights."""
    level1 = draw(st.lists(subtrees(2), min_size=1, max_size=4))
    for index, node in enumerate(level1):
        node["name"] = f"L{index}"
    return {"total": sum(n["weight"] for n in level1), "indicators": level1,
            "grades": [{"label": "A", "min": 90}, {"label": "B", "min": 60},
                       {"label": "C", "min": 0}]}


def raw_by_path(nodes):
    """Map every leaf's path to its raw (unrounded) rule score."""
    found = {}
    for node in nodes:
        if node.is_leaf:
            found[node.path] = RULES[node.rule](node.weight, node.params, None).raw
        found.update(raw_by_path(node.children))
    return found


@given(systems())
@settings(max_examples=150, deadline=None)
def test_tree_sums(data):
    """Parents are the sums of their children and the total is the sum of level 1."""
    system = load_system(data)
    result = score_system(system)
    assert result.total == sum(n.score for n in result.indicators)
    raws = raw_by_path(system.indicators)
    for node in result.walk():
        if node.children:
            assert node.score == sum(c.score for c in node.children)
        else:
            assert node.score == node.score.quantize(CENT)
            assert node.score == round2(raws[node.path])
        assert Decimal(0) <= node.score <= node.weight


@pytest.mark.parametrize(("score", "grade"), [
    (100, "优"), (90, "优"), ("90.00", "优"), (89.99, "良"), (80, "良"),
    (79.99, "中"), (60, "中"), (59.99, "差"), (0, "差"), (Decimal("94.80"), "优"),
])
def test_grade_boundaries(score, grade):
    """财预〔2020〕10号 bands: 优 >= 90, 良 >= 80, 中 >= 60, 差 below."""
    assert grade_for(score) == grade


@given(st.integers(0, 10000).map(lambda x: Decimal(x) / 100))
def test_grade_matches_bounds(score):
    """Any 2-dp score from 0 to 100 gets the band its bounds say."""
    expected = "优" if score >= 90 else "良" if score >= 80 else "中" if score >= 60 else "差"
    assert grade_for(score) == expected
