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


# The field of `responses` a breakdown or a filter uses, when it is one a marginal tally
# (survey/tallies.py) keeps apart; month and the period are in every tally.
_FIELD_OF_BY = {"site": "site_id", "channel": "channel", "respondent_type": "respondent_type",
                "age_band": "age_band", "living_alone": "living_alone"}
_FIELD_OF_FILTER = {"site_id": "site_id", "site": "site_id", "channel": "channel",
                    "respondent_type": "respondent_type", "age_band": "age_band", "living_alone": "living_alone"}
NO_SITE = "（未注明）"
# The row sets of the marginal tallies (survey/tallies.py MARGINALS), smallest first (the
# site row set also gives the totals: fewer rows than the other one).
MARGINALS = {"site_id": ("site_id",), "other": ("channel", "respondent_type", "age_band", "living_alone")}


def _where(questionnaire_id, filters, tallies=False):
    """The WHERE clause and parameters for valid responses matching the filters.

    On the tallies a site code is resolved to its id once (a constant subquery),
    not by joining `sites` to every row.
    """
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
    site = "r.site_id = (select id from sites where code = ?)" if tallies else "s.code = ?"
    for key, clause in (("site_id", "r.site_id = ?"), ("site", site), ("channel", "r.channel = ?"),
                        ("respondent_type", "r.respondent_type = ?"), ("age_band", "r.age_band = ?"),
                        ("living_alone", "r.living_alone = ?")):
        if filters.get(key) not in (None, ""):
            clauses.append(clause)
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
    return db.execute("select 1 from sqlite_master where type = 'table' and name = 'answer_marginals'").fetchone() \
        is not None


def _tally_for(filters, by):
    """(kind, dim): the smallest tally answering these filters and breakdown: the first
    marginal row set keeping every field used, else the fine tally."""
    fields = {_FIELD_OF_FILTER[key] for key in _FIELD_OF_FILTER if (filters or {}).get(key) not in (None, "")}
    if by in _FIELD_OF_BY:
        fields.add(_FIELD_OF_BY[by])
    for dim, kept in MARGINALS.items():
        if fields <= set(kept):
            return "marginals", dim
    return "tallies", None


def _grouped(db, questionnaire_id, filters, by, question_ids):
    """Rows (group, question_id, value, count) of the answers to `question_ids` among valid
    responses, or (group, None, None, count) of the responses when question_ids is None,
    from ONE grouped query on the smallest tally that answers it (else the raw tables)."""
    answers = question_ids is not None
    marks = ", ".join("?" for _ in question_ids or ())
    if not _tallies_usable(db, filters):
        where, params = _where(questionnaire_id, filters)
        group = BREAKDOWNS[by] if by else "null"
        sites = _sites_join(filters, by)
        if answers:
            sql = (f"select {group} as grp, a.question_id, a.value, count(*) from answers a"
                   f" join responses r on r.id = a.response_id{sites}"
                   f" where {where} and a.question_id in ({marks}) group by grp, a.question_id, a.value")
            return db.execute(sql, params + list(question_ids)).fetchall()
        sql = f"select {group} as grp, null, null, count(*) from responses r{sites} where {where} group by grp"
        return db.execute(sql, params).fetchall()
    where, params = _where(questionnaire_id, filters, tallies=True)
    kind, dim = _tally_for(filters, by)
    table = ("answer_" if answers else "response_") + kind
    if kind == "marginals":
        where += " and r.dim = ?"
        params.append(dim)
    if answers:
        where += f" and r.question_id in ({marks})"
        params += list(question_ids)
    columns = "r.question_id as question_id, r.value as value" if answers else "null as question_id, null as value"
    # A site's name is looked up once per site group, after summing, not per tally row.
    group = "r.site_id" if by == "site" else (BREAKDOWNS[by] if by else "null")
    sql = f"select {group} as grp, {columns}, sum(r.n) as n from {table} r where {where} group by 1, 2, 3"
    if by == "site":
        sql = (f"select coalesce(s.name, '{NO_SITE}') as grp, t.question_id, t.value, sum(t.n)"
               f" from ({sql}) t left join sites s on s.id = t.grp group by 1, 2, 3 having sum(t.n) > 0")
    else:
        sql += " having sum(r.n) > 0"
    return db.execute(sql, params).fetchall()


def _counts(db, questionnaire_id, question_ids, filters, by):
    """{question_id: {group: {value: count}}} for every question, from one query."""
    result = {question_id: {} for question_id in question_ids}
    for grp, question_id, value, count in _grouped(db, questionnaire_id, filters, by, list(question_ids)):
        result[question_id].setdefault(grp, {})[value] = count
    return result


def value_counts(db, questionnaire_id, question_id, filters=None, by=None):
    """{group: {value: count}} of one question's answers among valid responses.

    With `by` None there is a single group, keyed None.
    """
    return _counts(db, questionnaire_id, [question_id], filters, by)[question_id]


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


def _questions(spec):
    """The questions a measure counts."""
    return spec["questions"] if spec["kind"] in ("mean_yes", "mean_top2") else [spec["question"]]


def _check(questionnaire_id, name, spec):
    """UnknownMeasureError unless the spec's kind is one this module computes."""
    if spec["kind"] not in ("top2", "yes_count", "mean_yes", "mean_top2"):
        raise UnknownMeasureError(f"measure '{name}' has an unknown kind '{spec['kind']}'")


def _measure(spec, counts, by):
    """One measure from {question_id: {group: {value: count}}}: a Rate, or {group: Rate} with `by`."""
    kind = spec["kind"]
    satisfied = tuple(str(v) for v in spec.get("satisfied", SATISFIED if kind != "mean_yes" else ("1",)))
    if kind == "yes_count":
        satisfied = ("1",)
    if kind in ("top2", "yes_count"):
        grouped = counts[spec["question"]]
        result = {grp: _rate_from_counts(values, satisfied) for grp, values in grouped.items()}
    else:
        per_item = {q: counts[q] for q in spec["questions"]}
        groups = set().union(*(set(g) for g in per_item.values())) or {None}
        result = {grp: _mean_rate({q: _rate_from_counts(per_item[q].get(grp, {}), satisfied)
                                   for q in spec["questions"]}) for grp in groups}
    if by is None:
        return result.get(None) or _empty(spec)
    return dict(sorted(result.items(), key=lambda item: str(item[0])))


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
    _check(questionnaire_id, name, spec)
    return _measure(spec, _counts(db, questionnaire_id, dict.fromkeys(_questions(spec)), filters, by), by)


def _empty(spec):
    """A rate with no answers (n = 0)."""
    if spec["kind"] in ("mean_yes", "mean_top2"):
        return _mean_rate({q: Rate.of(0, 0) for q in spec["questions"]})
    return Rate.of(0, 0)


def _response_counts(db, questionnaire_id, filters, by):
    """How many valid responses: a Rate whose n is the count (value 1 when any)."""
    rows = _grouped(db, questionnaire_id, filters, by, None)
    result = {grp: Rate.of(count, count) for grp, _, _, count in rows}
    return result.get(None, Rate.of(0, 0)) if by is None else dict(sorted(result.items(), key=lambda i: str(i[0])))


def compute_all(db, questionnaire_id, filters=None, by=None):
    """Every measure of a questionnaire, {name: Rate} (or {name: {group: Rate}} with `by`),
    plus `responses` (the count): two grouped queries, whatever the number of measures."""
    specs = measure_specs(current_definition(db, questionnaire_id))
    own = {name: spec for name, spec in specs.items() if name not in EXTRA_MEASURES}
    for name, spec in own.items():
        _check(questionnaire_id, name, spec)
    questions = dict.fromkeys(q for spec in own.values() for q in _questions(spec))
    counts = _counts(db, questionnaire_id, questions, filters, by) if questions else {}
    result = {"responses": _response_counts(db, questionnaire_id, filters, by)}
    for name, spec in specs.items():
        result[name] = (EXTRA_MEASURES[name](db, questionnaire_id, filters, by) if name in EXTRA_MEASURES
                        else _measure(spec, counts, by))
    return result


def source_for(db, default_filters=None):
    """A `measures` callable for scoring.score_system: (survey, measure, filters) -> Rate."""
    def lookup(survey, measure, filters=None):
        """Compute one measure for an indicator leaf's `source`."""
        merged = dict(default_filters or {})
        merged.update(filters or {})
        return compute(db, survey, measure, merged)
    return lookup
