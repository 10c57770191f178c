"""Roster coverage measures: households reached / households on the roster.

Pure SQL on the survey database, no Flask. Registered in scoring.measures.EXTRA_MEASURES
on import, so an indicator leaf can say
`source: {survey: elder-satisfaction, measure: coverage_rate}`.

- coverage_rate: households on the roster with a valid response to the questionnaire
  (any channel: a household card, a door-to-door visit, a phone call) / households on
  the roster. Seed 004: all 200 households surveyed -> 100%.
- followup_rate (回访率): households a staff member interviewed at the door or on the
  phone (channel door or phone) / households on the roster. Seed 000: monthly 100%.

Filters: site_id / site (the household's site), period_from / period_to (when the
response was submitted); other response filters (channel, respondent_type, ...)
narrow the numerator. `by`: "site" (per site's roster) or "month" (the whole roster
as denominator of each month's reached households).
"""

from scoring import measures
from scoring.indicators import UnknownMeasureError

COVERAGE_BY = ("site", "month")


def _roster_where(filters):
    """WHERE clause and parameters choosing the roster households (by their site)."""
    clauses, params = ["1 = 1"], []
    if filters.get("site_id") not in (None, ""):
        clauses.append("h.site_id = ?")
        params.append(filters["site_id"])
    if filters.get("site") not in (None, ""):
        clauses.append("hs.code = ?")
        params.append(filters["site"])
    return " and ".join(clauses), params


def _reached_where(questionnaire_id, filters, channels):
    """WHERE clause for the responses that count as reaching a household."""
    response_filters = {k: v for k, v in filters.items() if k not in ("site_id", "site")}
    where, params = measures._where(questionnaire_id, response_filters)
    where += " and r.household_id is not null"
    if channels:
        where += f" and r.channel in ({', '.join('?' for _ in channels)})"
        params += list(channels)
    return where, params


def reach_rate(db, questionnaire_id, filters=None, by=None, channels=None):
    """Households reached / on the roster, as a Rate or {group: Rate}."""
    filters = dict(filters or {})
    if by not in (None, *COVERAGE_BY):
        raise UnknownMeasureError(f"coverage measures break down by {', '.join(COVERAGE_BY)} only, not '{by}'")
    measures.current_definition(db, questionnaire_id)  # unknown questionnaire -> UnknownMeasureError
    roster_where, roster_params = _roster_where(filters)
    reached_where, reached_params = _reached_where(questionnaire_id, filters, channels)
    roster_sql = f"from households h join sites hs on hs.id = h.site_id where {roster_where}"
    reached_sql = (f"from responses r left join sites s on s.id = r.site_id"
                   f" join households h on h.id = r.household_id join sites hs on hs.id = h.site_id"
                   f" where {reached_where} and {roster_where}")
    if by is None:
        n = db.execute(f"select count(*) {roster_sql}", roster_params).fetchone()[0]
        reached = db.execute(f"select count(distinct r.household_id) {reached_sql}",
                             reached_params + roster_params).fetchone()[0]
        return measures.Rate.of(reached, n)
    if by == "site":
        totals = dict(db.execute(f"select hs.name, count(*) {roster_sql} group by hs.name", roster_params).fetchall())
        counts = dict(db.execute(f"select hs.name, count(distinct r.household_id) {reached_sql} group by hs.name",
                                 reached_params + roster_params).fetchall())
        return {name: measures.Rate.of(counts.get(name, 0), total) for name, total in sorted(totals.items())}
    total = db.execute(f"select count(*) {roster_sql}", roster_params).fetchone()[0]
    counts = db.execute(f"select substr(r.submitted_at, 1, 7) as month, count(distinct r.household_id)"
                        f" {reached_sql} group by month order by month",
                        reached_params + roster_params).fetchall()
    return {month: measures.Rate.of(count, total) for month, count in counts}


def coverage_rate(db, questionnaire_id, filters=None, by=None):
    """Households with a valid response (any channel) / households on the roster."""
    return reach_rate(db, questionnaire_id, filters, by)


def followup_rate(db, questionnaire_id, filters=None, by=None):
    """Households interviewed by staff at the door or by phone / households on the roster."""
    return reach_rate(db, questionnaire_id, filters, by, channels=("door", "phone"))


measures.EXTRA_MEASURES["coverage_rate"] = coverage_rate
measures.EXTRA_MEASURES["followup_rate"] = followup_rate
