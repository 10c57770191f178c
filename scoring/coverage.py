"""Roster coverage measures: households reached / households on the roster.

Pure: survey/storage/measures_store.py counts the roster's households and the reached ones and
hands the counts here. An indicator leaf can say
`source: {survey: elder-satisfaction, measure: coverage_rate}`.

- coverage_rate: households on the roster with a valid response to the questionnaire
  (any channel: a household card, a door-to-door visit, a phone call) / households on
  the roster. Seed 004: all 200 households surveyed -> 100%.
- followup_rate (回访率): households a staff member interviewed at the door or on the
  phone (channel door or phone) / households on the roster. Seed 000: monthly 100%.

`by`: "site" (per site's roster) or "month" (the whole roster as denominator of each
month's reached households).
"""

from scoring.indicators import UnknownMeasureError
from scoring.measures import Rate

COVERAGE_BY = ("site", "month")
# measure name -> the channels whose responses count as reaching a household (None: any).
COVERAGE_MEASURES = {"coverage_rate": None, "followup_rate": ("door", "phone")}


def check_by(by):
    """UnknownMeasureError unless coverage can be broken down by `by`."""
    if by not in (None, *COVERAGE_BY):
        raise UnknownMeasureError(f"coverage measures break down by {', '.join(COVERAGE_BY)} only, not '{by}'")


def reach_rates(roster, reached, by):
    """Rates from counts: with `by` None, `roster` and `reached` are two numbers; by site,
    {site: households} and {site: reached}; by month, the roster total and {month: reached}."""
    check_by(by)
    if by is None:
        return Rate.of(reached, roster)
    if by == "site":
        return {name: Rate.of(reached.get(name, 0), total) for name, total in sorted(roster.items())}
    return {month: Rate.of(count, roster) for month, count in sorted(reached.items())}
