"""Tests for the Wilson score interval and Cochran's sample size."""

import pytest

from scoring import cochran_sample_size, wilson_interval


@pytest.mark.parametrize(("successes", "n", "lower", "upper"), [
    (27, 30, 0.7438, 0.9654),
    (30, 30, 0.8865, 1.0),
    (0, 30, 0.0, 0.1135),
    (15, 30, 0.3315, 0.6685),
    (1, 1, 0.2065, 1.0),
])
def test_wilson_interval(successes, n, lower, upper):
    """Wilson bounds at 95%, rounded to 4 decimals."""
    low, high = wilson_interval(successes, n)
    assert (round(low, 4), round(high, 4)) == (lower, upper)


def test_wilson_exact_edges():
    """All successes give an upper bound of exactly 1.0, none a lower bound of 0.0."""
    assert wilson_interval(30, 30)[1] == 1.0
    assert wilson_interval(0, 30)[0] == 0.0


def test_wilson_no_responses_is_the_whole_range():
    """With n == 0 nothing is known: the interval is (0.0, 1.0)."""
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_narrows_with_n():
    """The same rate with more responses gives a narrower interval."""
    small, large = wilson_interval(27, 30), wilson_interval(270, 300)
    assert large[1] - large[0] < small[1] - small[0]


@pytest.mark.parametrize(("successes", "n"), [(31, 30), (-1, 30), (0, -1)])
def test_wilson_rejects_impossible_counts(successes, n):
    """successes must lie in 0..n."""
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(successes, n)


@pytest.mark.parametrize(("population", "margin", "expected"), [
    (None, 0.05, 385),
    (200, 0.05, 132),
    (1000, 0.05, 278),
    (None, 0.1, 97),
    (10, 0.05, 10),
    (1, 0.05, 1),
])
def test_cochran_sample_size(population, margin, expected):
    """n0 = 384.15 -> 385; finite population correction, rounded up."""
    assert cochran_sample_size(population, margin=margin) == expected


def test_cochran_larger_margin_needs_fewer():
    """A larger margin of error needs a smaller sample."""
    sizes = [cochran_sample_size(500, margin=m) for m in (0.03, 0.05, 0.08, 0.1)]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 4


@pytest.mark.parametrize("kwargs", [{"margin": 0}, {"margin": 1.5}, {"p": 0},
                                    {"population": 0}])
def test_cochran_rejects_bad_inputs(kwargs):
    """Margins, proportions and populations outside their ranges are refused."""
    with pytest.raises(ValueError, match="must"):
        cochran_sample_size(**kwargs)
