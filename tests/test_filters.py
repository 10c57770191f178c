"""Measure filters taken from a query string (dashboard and API share them)."""

import pytest

from scoring.filters import FilterError, parse_filters


@pytest.mark.parametrize("args, expected", [
    ({}, {}),
    ({"site": " xh ", "channel": ""}, {"site": "xh"}),
    ({"period_from": "2024-09", "period_to": "2024-10-31", "living_alone": "1"},
     {"period_from": "2024-09", "period_to": "2024-10-31", "living_alone": 1}),
])
def test_parse_filters_keeps_checked_values(args, expected):
    """Empty filters are dropped, periods and the living-alone flag are checked."""
    assert parse_filters(args) == expected


@pytest.mark.parametrize("args, key, expected", [
    ({"period_from": "September"}, "period_from", "period"),
    ({"period_to": "2024-13"}, "period_to", "period"),
    ({"living_alone": "yes"}, "living_alone", "flag"),
])
def test_parse_filters_names_the_bad_one(args, key, expected):
    """A malformed filter raises FilterError naming it."""
    with pytest.raises(FilterError) as error:
        parse_filters(args)
    assert (error.value.key, error.value.expected) == (key, expected)
