"""Known values: Wilson intervals and Cochran sample sizes, the latter through the dashboard's helper."""

import pytest

from scoring.statistics import wilson_interval
from survey.web.evaluate import sample_note


def test_wilson_27_of_30_matches_the_published_interval():
    """Seed 003's 27 satisfied of 30: [0.7438, 0.9654]."""
    low, high = wilson_interval(27, 30)
    assert round(low, 4) == 0.7438
    assert round(high, 4) == 0.9654


def test_wilson_30_of_30_reaches_one_and_stays_informative():
    """At 100% the upper bound is exactly 1 and the lower one is well below (Wald would give [1, 1])."""
    low, high = wilson_interval(30, 30)
    assert high == 1.0
    assert round(low, 4) == 0.8865


@pytest.mark.parametrize("n", [1, 10, 30, 200])
def test_wilson_0_of_n_starts_at_zero(n):
    """At 0% the lower bound is exactly 0 and the upper bound shrinks with n."""
    low, high = wilson_interval(0, n)
    assert low == 0.0
    assert 0 < high < 1
    assert round(high, 4) == round(1.959963984540054 ** 2 / (n + 1.959963984540054 ** 2), 4)


def test_cochran_for_200_households_at_5_points_is_132_through_the_dashboard_helper():
    """Seed 004's 200 households: 132 answers give ±5 points; the note says how many are missing."""
    note = sample_note(120, population=200)
    assert note["needed"] == 132
    assert note["short"] == 12
    assert note["text"].startswith("样本量 120，要达到±5个百分点需要 132 份，还差 12 份")
    assert sample_note(132, population=200)["enough"]


def test_cochran_without_a_population_is_385():
    """With no known population the classic 385 applies."""
    assert sample_note(100)["needed"] == 385
    assert "还差 285 份" in sample_note(100)["text"]
