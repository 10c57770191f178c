"""Survey measures computed from stored responses by SQL aggregation.

Pure library code: it takes a sqlite-utils Database (or anything with `.execute`)
and never imports Flask or the survey package. Only valid responses count (not
excluded by a quality rule), and each rate only over those who answered.

A questionnaire's definition declares its measures (`measures:` in its YAML):
- `top2`: share of 4-5 ("satisfied" set, configurable with `satisfied: [..]`) on one scale5 question;
- `mean_yes` / `mean_top2`: the mean of several items' rates (seed 001: platform awareness =
  mean of hotline-number awareness and service-content awareness);
- `yes_count`: how many answered yes (problem lists: calls unanswered, no channel to learn).
Every scale5 question marked `item: true` also gets `item_satisfaction:<id>`, and every
yes/no question `yes_rate:<id>`.
"""

import json
from dataclasses import dataclass, field

from scoring.indicators import UnknownMeasureError
from scoring.statistics import wilson_interval

SATISFIED = ("4", "5")
BREAKDOWNS = {
    "site": "coalesce(s.name, '（未注明）')",
    "channel": "r.channel",
    "respondent_type": "coalesce(r.respondent_type, 'unknown')",
    "age_band": "coalesce(r.age_band, 'unknown')",
    "living_alone": "coalesce(r.living_alone, -1)",
    "month": "substr(r.submitted_at, 1, 7)",
}


# Measures that are not answers to a questionnaire's questions (e.g. roster coverage):
# name -> function(db, questionnaire_id, filters, by) returning a Rate or {group: Rate}.
EXTRA_MEASURES = {}


@dataclass
class Rate:
    """A measured share with its sample: value = successes / n, and a 95% Wilson interval."""

    value: float | None
    n: int
    successes: int
    ci95: tuple = (0.0, 1.0)
    items: dict = field(default_factory=dict)

    @classmethod
    def of(cls, successes, n):
        """A rate from counts."""
        value = successes / n if n else None
        return cls(value, n, successes, wilson_interval(successes, n))

    @property
    def margin(self):
        """Half the width of the interval (the ± a report quotes)."""
        return (self.ci95[1] - self.ci95[0]) / 2

    def to_dict(self):
        """JSON-ready: value and interval to 4 decimals, n, successes, items if any."""
        data = {"value": None if self.value is None else round(self.value, 4), "n": self.n,
                "successes": self.successes, "ci95": [round(self.ci95[0], 4), round(self.ci95[1], 4)],
                "margin": round(self.margin, 4)}
        if self.items:
            data["items"] = {name: item.to_dict() for name, item in self.items.items()}
        return data


def current_definition(db, questionnaire_id):
    """The current definition of a questionnaire as a dict; UnknownMeasureError if none."""
    row = db.execute(
        "select v.definition from questionnaires q join questionnaire_versions v"
        " on v.questionnaire_id = q.id and v.version = q.current_version where q.id = ?",
        [questionnaire_id]).fetchone()
    if row is None:
        raise UnknownMeasureError(f"no questionnaire '{questionnaire_id}'")
    return json.loads(row[0])


def measure_specs(definition):
    """Every measure of a questionnaire: declared ones plus per-item rates."""
    specs = dict(definition.get("measures") or {})
    for question in definition["questions"]:
        if question["type"] == "scale5" and question.get("item"):
            specs[f"item_satisfaction:{question['id']}"] = {"kind": "top2", "question": question["id"]}
        if question["type"] == "yesno":
            specs[f"yes_rate:{question['id']}"] = {"kind": "top2", "question": question["id"], "satisfied": ["1"]}
    return specs


def _where(questionnaire_id, filters):
    """The WHERE clause and parameters for valid responses matching the filters."""
    filters = filters or {}
    clauses, params = ["r.questionnaire_id = ?"], [questionnaire_id]
    if not filters.get("include_excluded"):
        clauses.append("r.excluded = 0")
    if filters.get("period_from"):
        clauses.append("r.submitted_at >= ?")
        params.append(str(filters["period_from"]))
    if filters.get("period_to"):
        # A month or a day given as the end includes all of it.
        clauses.append("r.submitted_at < ?")
        params.append(str(filters["period_to"]) + "\uffff")
    for key, column in (("site_id", "r.site_id"), ("site", "s.code"), ("channel", "r.channel"),
                        ("respondent_type", "r.respondent_type"), ("age_band", "r.age_band"),
                        ("living_alone", "r.living_alone")):
        if filters.get(key) not in (None, ""):
            clauses.append(f"{column} = ?")
            params.append(filters[key])
    return " and ".join(clauses), params


def _sites_join(filters, by):
    """The join to sites, only when a site name or code is used (it costs a lookup per row)."""
    if by == "site" or (filters or {}).get("site") not in (None, ""):
        return " left join sites s on s.id = r.site_id"
    return ""


def _tallies_usable(db, filters):
    """Whether the pre-grouped tallies answer these filters exactly: they exist, and any
    period bound is a year or a month (tallies keep the month of submitted_at)."""
    filters = filters or {}
    for key in ("period_from", "period_to"):
        if filters.get(key) and len(str(filters[key])) > 7:
            return False
    return db.execute("select 1 from sqlite_master where type = 'table' and name = 'answer_tallies'").fetchone() \
        is not None


def value_counts(db, questionnaire_id, question_id, filters=None, by=None):
    """{group: {value: count}} of one question's answers among valid responses.

    With `by` None there is a single group, keyed None.
    """
    where, params = _where(questionnaire_id, filters)
    group = BREAKDOWNS[by] if by else "null"
    sites = _sites_join(filters, by)
    if _tallies_usable(db, filters):
        # Pre-grouped counts (survey/tallies.py): the same WHERE/GROUP BY on a tally named r.
        sql = (f"select {group} as grp, r.value, sum(r.n) from answer_tallies r{sites}"
               f" where {where} and r.question_id = ? group by grp, r.value having sum(r.n) > 0")
    else:
        sql = (f"select {group} as grp, a.value, count(*) from answers a"
               f" join responses r on r.id = a.response_id{sites}"
               f" where {where} and a.question_id = ? group by grp, a.value")
    counts = {}
    for grp, value, count in db.execute(sql, params + [question_id]).fetchall():
        counts.setdefault(grp, {})[value] = count
    return counts


def _rate_from_counts(counts, satisfied):
    """A Rate from {value: count}."""
    n = sum(counts.values())
    return Rate.of(sum(c for v, c in counts.items() if v in satisfied), n)


def _mean_rate(items):
    """Mean of item rates; n and interval from the pooled counts (equal to the mean at equal n)."""
    answered = [rate for rate in items.values() if rate.n]
    pooled = Rate.of(sum(r.successes for r in answered), sum(r.n for r in answered))
    value = sum(r.value for r in answered) / len(answered) if answered else None
    return Rate(value, pooled.n, pooled.successes, pooled.ci95, items)


def compute(db, questionnaire_id, name, filters=None, by=None):
    """One measure, as a Rate (or {group: Rate} with `by`)."""
    definition = current_definition(db, questionnaire_id)
    specs = measure_specs(definition)
    if name == "responses":
        return _response_counts(db, questionnaire_id, filters, by)
    if name in EXTRA_MEASURES:
        return EXTRA_MEASURES[name](db, questionnaire_id, filters, by)
    if name not in specs:
        raise UnknownMeasureError(f"questionnaire '{questionnaire_id}' has no measure '{name}'")
    spec = specs[name]
    kind = spec["kind"]
    satisfied = tuple(str(v) for v in spec.get("satisfied", SATISFIED if kind != "mean_yes" else ("1",)))
    if kind == "yes_count":
        satisfied = ("1",)
    if kind in ("top2", "yes_count"):
        grouped = value_counts(db, questionnaire_id, spec["question"], filters, by)
        result = {grp: _rate_from_counts(counts, satisfied) for grp, counts in grouped.items()}
    elif kind in ("mean_yes", "mean_top2"):
        per_item = {q: value_counts(db, questionnaire_id, q, filters, by) for q in spec["questions"]}
        groups = set().union(*(set(g) for g in per_item.values())) or {None}
        result = {grp: _mean_rate({q: _rate_from_counts(per_item[q].get(grp, {}), satisfied)
                                   for q in spec["questions"]}) for grp in groups}
    else:
        raise UnknownMeasureError(f"measure '{name}' has an unknown kind '{kind}'")
    if by is None:
        return result.get(None) or _empty(spec)
    return dict(sorted(result.items(), key=lambda item: str(item[0])))


def _empty(spec):
    """A rate with no answers (n = 0)."""
    if spec["kind"] in ("mean_yes", "mean_top2"):
        return _mean_rate({q: Rate.of(0, 0) for q in spec["questions"]})
    return Rate.of(0, 0)


def _response_counts(db, questionnaire_id, filters, by):
    """How many valid responses: a Rate whose n is the count (value 1 when any)."""
    where, params = _where(questionnaire_id, filters)
    group = BREAKDOWNS[by] if by else "null"
    sites = _sites_join(filters, by)
    if _tallies_usable(db, filters):
        sql = (f"select {group} as grp, sum(r.n) from response_tallies r{sites}"
               f" where {where} group by grp having sum(r.n) > 0")
    else:
        sql = f"select {group} as grp, count(*) from responses r{sites} where {where} group by grp"
    rows = db.execute(sql, params).fetchall()
    result = {grp: Rate.of(count, count) for grp, count in rows}
    return result.get(None, Rate.of(0, 0)) if by is None else dict(sorted(result.items(), key=lambda i: str(i[0])))


def compute_all(db, questionnaire_id, filters=None):
    """Every measure of a questionnaire, {name: Rate}, plus `responses` (the count)."""
    names = ["responses", *measure_specs(current_definition(db, questionnaire_id))]
    return {name: compute(db, questionnaire_id, name, filters) for name in names}


def source_for(db, default_filters=None):
    """A `measures` callable for scoring.score_system: (survey, measure, filters) -> Rate."""
    def lookup(survey, measure, filters=None):
        """Compute one measure for an indicator leaf's `source`."""
        merged = dict(default_filters or {})
        merged.update(filters or {})
        return compute(db, survey, measure, merged)
    return lookup
