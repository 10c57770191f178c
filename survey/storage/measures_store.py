"""The queries behind the survey measures: counts of valid answers of one evaluation.

Storage only: every query the measures need lives here, and scoring.measures /
scoring.coverage turn the counts into rates. Every function takes the evaluation's id:
the same questionnaire in two evaluations never mixes answers. Only valid responses
count (not excluded by a quality rule) unless the filters say `include_excluded`.

The pre-grouped tallies (survey.storage.tallies) answer most queries; the raw tables answer
a period bound finer than a month.
"""

import json
from typing import NamedTuple

from scoring import coverage
from scoring.indicators import UnknownMeasureError
from scoring.measures import (
    check_spec,
    measure_from_counts,
    measure_specs,
    questions_of,
    response_counts,
)
from survey.storage.tallies import MARGINALS
from survey.storage.tallies import rows_sql as tally_rows

# Breakdown name -> the SQL expression of its group on a response (or a tally) aliased r.
BREAKDOWNS = {
    "site": "coalesce(s.name, '（未注明）')",
    "channel": "r.channel",
    "respondent_type": "coalesce(r.respondent_type, 'unknown')",
    "age_band": "coalesce(r.age_band, 'unknown')",
    "living_alone": "coalesce(r.living_alone, -1)",
    "month": "substr(r.submitted_at, 1, 7)",
}
NO_SITE = "（未注明）"
# The field of `responses` a breakdown or a filter uses, when it is one a marginal tally
# keeps apart; month and the period are in every tally.
_FIELD_OF_BY = {"site": "site_id", "channel": "channel", "respondent_type": "respondent_type",
                "age_band": "age_band", "living_alone": "living_alone"}
_FIELD_OF_FILTER = {"site_id": "site_id", "site": "site_id", "channel": "channel",
                    "respondent_type": "respondent_type", "age_band": "age_band", "living_alone": "living_alone"}


class Count(NamedTuple):
    """How many answers (or responses) of a group had a value."""

    group: object
    question_id: str | None
    value: str | None
    n: int


def current_definition(db, questionnaire_id):
    """The current definition of a questionnaire as a dict; UnknownMeasureError if none."""
    row = db.execute(
        "select v.definition from questionnaires q join questionnaire_versions v"
        " on v.questionnaire_id = q.id and v.version = q.current_version where q.id = ?",
        [questionnaire_id]).fetchone()
    if row is None:
        raise UnknownMeasureError(f"no questionnaire '{questionnaire_id}'")
    return json.loads(row[0])


def where(evaluation_id, questionnaire_id, filters, tallies=False):
    """The WHERE clause and parameters for the evaluation's valid responses matching the filters.

    On the tallies a site code is resolved to its id once (a constant subquery),
    not by joining `sites` to every row.
    """
    filters = filters or {}
    clauses, params = ["r.evaluation_id = ?", "r.questionnaire_id = ?"], [evaluation_id, questionnaire_id]
    if not filters.get("include_excluded"):
        clauses.append("r.excluded = 0")
    if filters.get("period_from"):
        clauses.append("r.submitted_at >= ?")
        params.append(str(filters["period_from"]))
    if filters.get("period_to"):
        # A month or a day given as the end includes all of it.
        clauses.append("r.submitted_at < ?")
        params.append(str(filters["period_to"]) + "\uffff")
    for key, clause in (("site_id", "r.site_id = ?"), ("site", "s.code = ?"), ("channel", "r.channel = ?"),
                        ("respondent_type", "r.respondent_type = ?"), ("age_band", "r.age_band = ?"),
                        ("living_alone", "r.living_alone = ?")):
        if filters.get(key) not in (None, ""):
            if key == "site" and tallies:
                clauses.append("r.site_id = (select id from sites where evaluation_id = ? and code = ?)")
                params.append(evaluation_id)
            else:
                clauses.append(clause)
            params.append(filters[key])
    return " and ".join(clauses), params


def _sites_join(filters, by):
    """The join to sites, only when a site name or code is used (it costs a lookup per row)."""
    if by == "site" or (filters or {}).get("site") not in (None, ""):
        return " left join sites s on s.id = r.site_id"
    return ""


def tallies_usable(db, filters):
    """Whether the pre-grouped tallies answer these filters exactly: they exist, and any
    period bound is a year or a month (tallies keep the month of submitted_at)."""
    filters = filters or {}
    for key in ("period_from", "period_to"):
        if filters.get(key) and len(str(filters[key])) > 7:
            return False
    return db.execute("select 1 from sqlite_master where type = 'table' and name = 'answer_marginals'").fetchone() \
        is not None


def tally_for(filters, by):
    """(kind, dim): the smallest tally answering these filters and breakdown: the first
    marginal row set keeping every field used, else the fine tally."""
    fields = {_FIELD_OF_FILTER[key] for key in _FIELD_OF_FILTER if (filters or {}).get(key) not in (None, "")}
    if by in _FIELD_OF_BY:
        fields.add(_FIELD_OF_BY[by])
    for dim, kept in MARGINALS.items():
        if fields <= set(kept):
            return "marginals", dim
    return "tallies", None


def grouped(db, evaluation_id, questionnaire_id, filters, by, question_ids):
    """Counts (group, question_id, value, n) of the answers to `question_ids` among valid
    responses, or (group, None, None, count) of the responses when question_ids is None,
    from ONE grouped query on the smallest tally that answers it (else the raw tables)."""
    answers = question_ids is not None
    marks = ", ".join("?" for _ in question_ids or ())
    if not tallies_usable(db, filters):
        clause, params = where(evaluation_id, questionnaire_id, filters)
        group = BREAKDOWNS[by] if by else "null"
        sites = _sites_join(filters, by)
        if answers:
            sql = (f"select {group} as grp, a.question_id, a.value, count(*) from answers a"
                   f" join responses r on r.id = a.response_id{sites}"
                   f" where {clause} and a.question_id in ({marks}) group by grp, a.question_id, a.value")
            return [Count(*row) for row in db.execute(sql, params + list(question_ids)).fetchall()]
        sql = f"select {group} as grp, null, null, count(*) from responses r{sites} where {clause} group by grp"
        return [Count(*row) for row in db.execute(sql, params).fetchall()]
    clause, params = where(evaluation_id, questionnaire_id, filters, tallies=True)
    kind, dim = tally_for(filters, by)
    table = tally_rows(("answer_" if answers else "response_") + kind)
    if kind == "marginals":
        params.insert(0, dim)  # the first parameter: the subquery comes before the WHERE
    if answers:
        clause += f" and r.question_id in ({marks})"
        params += list(question_ids)
    columns = "r.question_id as question_id, r.value as value" if answers else "null as question_id, null as value"
    # A site's name is looked up once per site group, after summing, not per tally row.
    group = "r.site_id" if by == "site" else (BREAKDOWNS[by] if by else "null")
    sql = f"select {group} as grp, {columns}, sum(r.n) as n from {table} r where {clause} group by 1, 2, 3"
    if by == "site":
        sql = (f"select coalesce(s.name, '{NO_SITE}') as grp, t.question_id, t.value, sum(t.n)"
               f" from ({sql}) t left join sites s on s.id = t.grp group by 1, 2, 3 having sum(t.n) > 0")
    else:
        sql += " having sum(r.n) > 0"
    return [Count(*row) for row in db.execute(sql, params).fetchall()]


# The fields of a fine tally row a breakdown groups by (the month is its submitted_at).
_COLUMNS_OF_BY = {"channel": "channel", "respondent_type": "respondent_type", "age_band": "age_band",
                  "living_alone": "living_alone", "month": "submitted_at"}


def grouped_each(db, evaluation_id, questionnaire_id, filters, bys, question_ids):
    """{by: the Counts grouped() gives for it}, for several breakdowns under the same filters.

    Breakdowns answered by the same tally rows (the four fields with few values read the
    marginal row set 'other', or, under a site's filter, that site's fine rows) come from
    ONE statement: it reads those rows once, sums them over what no breakdown uses (the
    months, mostly: at 200,000 responses one site's six months hold 19,000 fine rows,
    3,000 once summed), then groups that once per breakdown. Separate grouped() queries
    read and sorted every row once per breakdown (benchmarks/RESULTS.md). The rest run grouped().
    """
    shared = {}
    if tallies_usable(db, filters):
        for by in bys:
            if by in _COLUMNS_OF_BY:
                shared.setdefault(tally_for(filters, by), []).append(by)
    result = {}
    for (kind, dim), fused in shared.items():
        if len(fused) > 1:
            result.update(_grouped_together(db, evaluation_id, questionnaire_id, filters, fused, question_ids,
                                            kind, dim))
    for by in bys:
        if by not in result:
            result[by] = grouped(db, evaluation_id, questionnaire_id, filters, by, question_ids)
    return result


def _grouped_together(db, evaluation_id, questionnaire_id, filters, bys, question_ids, kind, dim):
    """grouped_each's one statement for breakdowns `bys` read from tally `kind` (row set `dim`)."""
    clause, params = where(evaluation_id, questionnaire_id, filters, tallies=True)
    answers = question_ids is not None
    table = tally_rows(("answer_" if answers else "response_") + kind)
    if dim is not None:
        params.insert(0, dim)  # the first parameter: the subquery comes before the WHERE
    if answers:
        clause += f" and r.question_id in ({', '.join('?' for _ in question_ids)})"
        params += list(question_ids)
    columns = list(dict.fromkeys(_COLUMNS_OF_BY[by] for by in bys))
    pair = "r.question_id, r.value" if answers else "null, null"
    summed = (f"select {pair}, {', '.join(f'r.{c}' for c in columns)}, sum(r.n) from {table} r where {clause}"
              f" group by {', '.join(str(i) for i in range(1, len(columns) + 3))}")
    names = ", ".join(["question_id", "value", *columns, "n"])
    # A position instead of the breakdown's name: every union member has the same columns.
    selects = [f"select {i}, {BREAKDOWNS[by]}, question_id, value, sum(r.n) from t r group by 2, 3, 4"
               f" having sum(r.n) > 0" for i, by in enumerate(bys)]
    sql = f"with t({names}) as materialized ({summed}) " + " union all ".join(selects)
    result = {by: [] for by in bys}
    for position, *count in db.execute(sql, params).fetchall():
        result[bys[position]].append(Count(*count))
    return result


def counts(db, evaluation_id, questionnaire_id, question_ids, filters, by):
    """{question_id: {group: {value: count}}} for every question, from one query."""
    return _by_question(question_ids, grouped(db, evaluation_id, questionnaire_id, filters, by, list(question_ids)))


def _by_question(question_ids, rows):
    """{question_id: {group: {value: count}}} from grouped Counts, every question present."""
    result = {question_id: {} for question_id in question_ids}
    for row in rows:
        result[row.question_id].setdefault(row.group, {})[row.value] = row.n
    return result


def value_counts(db, evaluation_id, questionnaire_id, question_id, filters=None, by=None):
    """{group: {value: count}} of one question's answers among valid responses.

    With `by` None there is a single group, keyed None.
    """
    return counts(db, evaluation_id, questionnaire_id, [question_id], filters, by)[question_id]


def _responses(db, evaluation_id, questionnaire_id, filters, by):
    """The `responses` measure: how many valid responses (per group with `by`)."""
    rows = grouped(db, evaluation_id, questionnaire_id, filters, by, None)
    return response_counts({row.group: row.n for row in rows}, by)


def compute(db, evaluation_id, questionnaire_id, name, filters=None, by=None):
    """One measure of the evaluation's answers, as a Rate (or {group: Rate} with `by`)."""
    specs = measure_specs(current_definition(db, questionnaire_id))
    if name == "responses":
        return _responses(db, evaluation_id, questionnaire_id, filters, by)
    if name in coverage.COVERAGE_MEASURES:
        return reach_rate(db, evaluation_id, questionnaire_id, filters, by, coverage.COVERAGE_MEASURES[name])
    if name not in specs:
        raise UnknownMeasureError(f"questionnaire '{questionnaire_id}' has no measure '{name}'")
    spec = specs[name]
    check_spec(name, spec)
    found = counts(db, evaluation_id, questionnaire_id, dict.fromkeys(questions_of(spec)), filters, by)
    return measure_from_counts(spec, found, by)


def compute_all(db, evaluation_id, questionnaire_id, filters=None, by=None):
    """Every measure of a questionnaire, {name: Rate} (or {name: {group: Rate}} with `by`),
    plus `responses` (the count): two grouped queries, whatever the number of measures."""
    return compute_each(db, evaluation_id, questionnaire_id, filters, [by])[by]


def compute_each(db, evaluation_id, questionnaire_id, filters, bys):
    """{by: compute_all(..., by)} for several breakdowns, the counts of all of them from
    two grouped queries where they can share them (grouped_each)."""
    specs = measure_specs(current_definition(db, questionnaire_id))
    own = {name: spec for name, spec in specs.items() if name not in coverage.COVERAGE_MEASURES}
    for name, spec in own.items():
        check_spec(name, spec)
    questions = list(dict.fromkeys(q for spec in own.values() for q in questions_of(spec)))
    answer_rows = grouped_each(db, evaluation_id, questionnaire_id, filters, bys, questions) if questions else {}
    response_rows = grouped_each(db, evaluation_id, questionnaire_id, filters, bys, None)
    return {by: _measures_of(db, evaluation_id, questionnaire_id, filters, by, specs, questions,
                             answer_rows.get(by, []), response_rows[by]) for by in bys}


def _measures_of(db, evaluation_id, questionnaire_id, filters, by, specs, questions, answer_rows, response_rows):
    """compute_all's result for one breakdown from its grouped answer and response Counts."""
    found = _by_question(questions, answer_rows)
    result = {"responses": response_counts({row.group: row.n for row in response_rows}, by)}
    for name, spec in specs.items():
        if name in coverage.COVERAGE_MEASURES:
            result[name] = reach_rate(db, evaluation_id, questionnaire_id, filters, by,
                                      coverage.COVERAGE_MEASURES[name])
        else:
            result[name] = measure_from_counts(spec, found, by)
    return result


def source_for(db, evaluation_id, default_filters=None):
    """A `measures` callable for scoring.score_system: (survey, measure, filters) -> Rate,
    reading the given evaluation's answers only."""
    def lookup(survey, measure, filters=None):
        """Compute one measure for an indicator leaf's `source`."""
        merged = dict(default_filters or {})
        merged.update(filters or {})
        return compute(db, evaluation_id, survey, measure, merged)
    return lookup


def _roster_where(evaluation_id, filters):
    """WHERE clause and parameters choosing the evaluation's roster households (by their site)."""
    clauses, params = ["h.evaluation_id = ?"], [evaluation_id]
    if filters.get("site_id") not in (None, ""):
        clauses.append("h.site_id = ?")
        params.append(filters["site_id"])
    if filters.get("site") not in (None, ""):
        clauses.append("hs.code = ?")
        params.append(filters["site"])
    return " and ".join(clauses), params


def _reached_where(evaluation_id, questionnaire_id, filters, channels):
    """WHERE clause for the responses that count as reaching a household."""
    response_filters = {k: v for k, v in filters.items() if k not in ("site_id", "site")}
    clause, params = where(evaluation_id, questionnaire_id, response_filters)
    clause += " and r.household_id is not null"
    if channels:
        clause += f" and r.channel in ({', '.join('?' for _ in channels)})"
        params += list(channels)
    return clause, params


def reach_rate(db, evaluation_id, questionnaire_id, filters=None, by=None, channels=None):
    """Households of the evaluation's roster reached / on the roster, as a Rate or {group: Rate}.

    Filters: site_id / site (the household's site), period_from / period_to (when the
    response was submitted); other response filters narrow the numerator.
    """
    filters = dict(filters or {})
    coverage.check_by(by)
    current_definition(db, questionnaire_id)  # unknown questionnaire -> UnknownMeasureError
    roster_where, roster_params = _roster_where(evaluation_id, filters)
    reached_where, reached_params = _reached_where(evaluation_id, questionnaire_id, filters, channels)
    roster_sql = f"from households h join sites hs on hs.id = h.site_id where {roster_where}"
    reached_sql = (f"from responses r left join sites s on s.id = r.site_id"
                   f" join households h on h.id = r.household_id join sites hs on hs.id = h.site_id"
                   f" where {reached_where} and {roster_where}")
    both = reached_params + roster_params
    if by is None:
        roster = db.execute(f"select count(*) {roster_sql}", roster_params).fetchone()[0]
        reached = db.execute(f"select count(distinct r.household_id) {reached_sql}", both).fetchone()[0]
    elif by == "site":
        roster = dict(db.execute(f"select hs.name, count(*) {roster_sql} group by hs.name",
                                 roster_params).fetchall())
        reached = dict(db.execute(f"select hs.name, count(distinct r.household_id) {reached_sql}"
                                  f" group by hs.name", both).fetchall())
    else:
        roster = db.execute(f"select count(*) {roster_sql}", roster_params).fetchone()[0]
        reached = dict(db.execute(f"select substr(r.submitted_at, 1, 7) as month, count(distinct r.household_id)"
                                  f" {reached_sql} group by month", both).fetchall())
    return coverage.reach_rates(roster, reached, by)
