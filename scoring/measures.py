"""Survey measures from answer counts: rates, their intervals, and the measures a
questionnaire declares.

Pure library code: no SQL, no Flask, no survey package. The survey side
(survey/storage/measures_store.py) counts the answers of valid responses (not excluded by a
quality rule) by value, per group, and hands the counts here; each rate is taken only
over those who answered.

A questionnaire's definition declares its measures (`measures:` in its YAML):
- `top2`: share of 4-5 ("satisfied" set, configurable with `satisfied: [..]`) on one scale5 question;
- `mean_yes` / `mean_top2`: the mean of several items' rates (seed 001: platform awareness =
  mean of hotline-number awareness and service-content awareness);
- `yes_count`: how many answered yes (problem lists: calls unanswered, no channel to learn).
Every scale5 question marked `item: true` also gets `item_satisfaction:<id>`, and every
yes/no question `yes_rate:<id>`.
"""

from dataclasses import dataclass, field

from scoring.indicators import UnknownMeasureError
from scoring.statistics import wilson_interval

SATISFIED = ("4", "5")


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


def measure_specs(definition):
    """Every measure of a questionnaire: declared ones plus per-item rates."""
    specs = dict(definition.get("measures") or {})
    for question in definition["questions"]:
        if question["type"] == "scale5" and question.get("item"):
            specs[f"item_satisfaction:{question['id']}"] = {"kind": "top2", "question": question["id"]}
        if question["type"] == "yesno":
            specs[f"yes_rate:{question['id']}"] = {"kind": "top2", "question": question["id"], "satisfied": ["1"]}
    return specs


def rate_from_counts(counts, satisfied):
    """A Rate from {value: count}."""
    n = sum(counts.values())
    return Rate.of(sum(c for v, c in counts.items() if v in satisfied), n)


def mean_rate(items):
    """Mean of item rates; n and interval from the pooled counts (equal to the mean at equal n)."""
    answered = [rate for rate in items.values() if rate.n]
    pooled = Rate.of(sum(r.successes for r in answered), sum(r.n for r in answered))
    value = sum(r.value for r in answered) / len(answered) if answered else None
    return Rate(value, pooled.n, pooled.successes, pooled.ci95, items)


def questions_of(spec):
    """The questions a measure counts."""
    return spec["questions"] if spec["kind"] in ("mean_yes", "mean_top2") else [spec["question"]]


def check_spec(name, spec):
    """UnknownMeasureError unless the spec's kind is one this module computes."""
    if spec["kind"] not in ("top2", "yes_count", "mean_yes", "mean_top2"):
        raise UnknownMeasureError(f"measure '{name}' has an unknown kind '{spec['kind']}'")


def measure_from_counts(spec, counts, by):
    """One measure from {question_id: {group: {value: count}}}: a Rate, or {group: Rate} with `by`."""
    kind = spec["kind"]
    satisfied = tuple(str(v) for v in spec.get("satisfied", SATISFIED if kind != "mean_yes" else ("1",)))
    if kind == "yes_count":
        satisfied = ("1",)
    if kind in ("top2", "yes_count"):
        grouped = counts[spec["question"]]
        result = {grp: rate_from_counts(values, satisfied) for grp, values in grouped.items()}
    else:
        per_item = {q: counts[q] for q in spec["questions"]}
        groups = set().union(*(set(g) for g in per_item.values())) or {None}
        result = {grp: mean_rate({q: rate_from_counts(per_item[q].get(grp, {}), satisfied)
                                   for q in spec["questions"]}) for grp in groups}
    if by is None:
        return result.get(None) or empty_rate(spec)
    return dict(sorted(result.items(), key=lambda item: str(item[0])))


def empty_rate(spec):
    """A rate with no answers (n = 0)."""
    if spec["kind"] in ("mean_yes", "mean_top2"):
        return mean_rate({q: Rate.of(0, 0) for q in spec["questions"]})
    return Rate.of(0, 0)




def response_counts(counts, by):
    """The `responses` measure from {group: count}: a Rate whose n is the count (value 1 when any)."""
    result = {grp: Rate.of(count, count) for grp, count in counts.items()}
    return result.get(None, Rate.of(0, 0)) if by is None else dict(sorted(result.items(), key=lambda i: str(i[0])))
