"""Scoring rules for leaf indicators, kept in a registry (rule name -> function).

A rule function takes the leaf's weight, its parameters (the leaf's YAML keys other
than name/weight/rule/children/reported) and an optional measured value (for leaves
with a survey ``source``), and returns an :class:`Outcome` with the raw (unrounded)
score, a short evidence string and the value used.  A rule raises
:class:`RuleInputError` when its inputs are missing or invalid; the loader dry-runs
every leaf's rule so that such errors surface when the file is loaded.

Adding a rule is one decorated function::

    @rule("my_rule")
    def my_rule(weight, params, measured):
        ...
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation
from difflib import get_close_matches
from itertools import pairwise
from typing import Any

CENT = Decimal("0.01")
ZERO = Decimal(0)
ONE = Decimal(1)


class RuleInputError(ValueError):
    """The inputs of a leaf do not fit its rule (the caller adds the node path)."""


@dataclass(frozen=True)
class Outcome:
    """What a rule returns: raw score (before rounding), evidence text, value used."""

    raw: Decimal
    evidence: str
    value: Decimal | None = None


RuleFunc = Callable[[Decimal, Mapping[str, Any], Decimal | None], Outcome]
RULES: dict[str, RuleFunc] = {}
SOURCE_RULES: set[str] = set()
# The keys each rule reads: anything else on a leaf is a misspelling (ful_at, dedcut)
# that would otherwise be ignored silently and change the score.
RULE_KEYS: dict[str, frozenset[str]] = {}
COMMON_KEYS = frozenset({"note"})
# Largest number a file may give (weights, amounts in yuan, values): far above any real
# one, far below what makes Decimal arithmetic fail (10**39 weights, 1e400).
MAX_ABS = Decimal(10) ** 15


def rule(name: str, measured: bool = False,
         keys: tuple[str, ...] | None = None) -> Callable[[RuleFunc], RuleFunc]:
    """Register a rule function; ``measured`` marks rules that accept a survey source.

    ``keys`` lists the leaf keys the rule reads (None: any key is accepted).
    """

    def register(func: RuleFunc) -> RuleFunc:
        RULES[name] = func
        if measured:
            SOURCE_RULES.add(name)
        if keys is not None:
            RULE_KEYS[name] = frozenset(keys) | COMMON_KEYS | ({"source"} if measured else set())
        return func

    return register


# --- numbers -------------------------------------------------------------------


def short(value: Any, limit: int = 80) -> str:
    """repr of a value cut to `limit` characters: an error message never prints a whole tree."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def to_decimal(value: Any, what: str = "value") -> Decimal:
    """Convert an int, float (via ``str``), numeric string or Decimal to a finite Decimal."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise RuleInputError(f"`{what}` must be a number, got {short(value)}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise RuleInputError(f"`{what}` must be a number, got {short(value)}") from None
    if not number.is_finite():
        raise RuleInputError(f"`{what}` must be finite, got {short(value)}")
    if abs(number) > MAX_ABS:
        raise RuleInputError(f"`{what}` is too large, got {str(value)[:40]} (at most 10^15)")
    return number


def round2(number: Decimal) -> Decimal:
    """Round to 2 decimals, half up (the rounding every leaf score gets)."""
    return number.quantize(CENT, rounding=ROUND_HALF_UP)


def fmt_num(number: Decimal) -> str:
    """Format a Decimal without trailing zeros or exponent (12, 0.5, 34.7)."""
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text


def fmt_pct(fraction: Decimal) -> str:
    """Format a fraction as a percentage with 2 decimals (0.9 -> 90.00%)."""
    return f"{round2(fraction * 100)}%"


def fmt_threshold(fraction: Decimal) -> str:
    """Format a threshold fraction as a short percentage (0.9 -> 90%)."""
    return f"{fmt_num(fraction * 100)}%"


def param(params: Mapping[str, Any], key: str, default: Decimal | None = None) -> Decimal:
    """Read a numeric parameter; missing (or null) falls back to ``default`` or fails."""
    if params.get(key) is None:
        if default is None:
            raise RuleInputError(f"missing `{key}`")
        return default
    return to_decimal(params[key], key)


def non_negative(number: Decimal, what: str) -> Decimal:
    """Return ``number`` unless it is negative."""
    if number < 0:
        raise RuleInputError(f"`{what}` must not be negative, got {fmt_num(number)}")
    return number


def _did_you_mean(key: Any, allowed: Any) -> str:
    """' (did you mean `deduct`?)' for a misspelt key, or ''."""
    close = get_close_matches(str(key), sorted(allowed), n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def check_note(mapping: Mapping[str, Any], what: str = "note") -> None:
    """A ``note`` is free text: a list or mapping there is a slip, not a note."""
    note = mapping.get("note")
    if note is not None and not isinstance(note, (str, int, float)):
        raise RuleInputError(f"{what}: `note` must be text, got {type(note).__name__}")


# --- rate ----------------------------------------------------------------------

_RATE_INPUTS = (("value", ("value",)), ("numerator/denominator", ("numerator", "denominator")),
                ("source", ("source",)))


def _rate_value(params: Mapping[str, Any], measured: Decimal | None) -> tuple[Decimal, str]:
    """Find the rate's value and how to show it, from exactly one kind of input."""
    given = [label for label, keys in _RATE_INPUTS if any(k in params for k in keys)]
    if len(given) > 1:
        raise RuleInputError(f"rate takes one input, got {' and '.join(given)}")
    if not given:
        raise RuleInputError("rate needs numerator/denominator, value or source")
    if given[0] == "source":
        if measured is None:
            raise RuleInputError("rate with a source needs a measured value")
        return non_negative(measured, "measured value"), fmt_pct(measured)
    if given[0] == "value":
        value = non_negative(param(params, "value"), "value")
        return value, fmt_pct(value)
    numerator = non_negative(param(params, "numerator"), "numerator")
    denominator = param(params, "denominator")
    if denominator <= 0:
        raise RuleInputError(f"denominator must be positive, got {fmt_num(denominator)}")
    value = numerator / denominator
    return value, f"{fmt_num(numerator)}/{fmt_num(denominator)} = {fmt_pct(value)}"


def _thresholds(params: Mapping[str, Any]) -> tuple[Decimal, Decimal]:
    """Read and check ``full_at`` (default 1.0) and ``zero_below`` (default 0.6)."""
    full_at = param(params, "full_at", ONE)
    zero_below = non_negative(param(params, "zero_below", Decimal("0.6")), "zero_below")
    if full_at <= 0 or zero_below > full_at:
        raise RuleInputError(
            f"need 0 <= zero_below <= full_at and full_at > 0, got zero_below "
            f"{fmt_num(zero_below)}, full_at {fmt_num(full_at)}")
    return full_at, zero_below


@rule("rate", measured=True, keys=("value", "numerator", "denominator", "full_at", "zero_below"))
def rate(weight: Decimal, params: Mapping[str, Any], measured: Decimal | None) -> Outcome:
    """Full weight if value >= full_at, 0 if value < zero_below, else value x weight."""
    value, shown = _rate_value(params, measured)
    full_at, zero_below = _thresholds(params)
    if value >= full_at:
        return Outcome(weight, f"{shown} ≥ {fmt_threshold(full_at)}，得满分", value)
    if value < zero_below:
        return Outcome(ZERO, f"{shown} < {fmt_threshold(zero_below)}，不得分", value)
    raw = min(value * weight, weight)
    return Outcome(raw, f"{shown} × {fmt_num(weight)} = {round2(raw)}", value)


# --- checklists ------------------------------------------------------------------


def _checks(params: Mapping[str, Any], extra: str) -> list[Mapping[str, Any]]:
    """Return the validated ``checks`` list (each with a text and a boolean ``ok``).

    ``extra`` is the one optional number a check may carry (deduct or share).
    """
    checks = params.get("checks")
    if not isinstance(checks, list) or not checks:
        raise RuleInputError("`checks` must be a non-empty list")
    allowed = {"text", "ok", "note", extra}
    for index, check in enumerate(checks, 1):
        if not isinstance(check, Mapping):
            raise RuleInputError(f"check {index} must be a mapping with text and ok")
        for key in check:
            if key not in allowed:
                raise RuleInputError(f"check {index}: unknown key `{key}`{_did_you_mean(key, allowed)}")
        check_note(check, f"check {index}")
        text = check.get("text")
        if not isinstance(text, str) or not text.strip():
            raise RuleInputError(f"check {index} has no text")
        if not isinstance(check.get("ok"), bool):
            raise RuleInputError(f"check {index} ({text}) needs ok: true or false")
    return checks


@rule("checklist_deduct", keys=("checks", "per_fail"))
def checklist_deduct(weight: Decimal, params: Mapping[str, Any],
                     measured: Decimal | None) -> Outcome:
    """Weight minus the deductions of failed checks (deduct or per_fail), never below 0."""
    checks = _checks(params, "deduct")
    per_fail = non_negative(param(params, "per_fail", ONE), "per_fail")
    deducts = [non_negative(param(c, "deduct", per_fail), "deduct") for c in checks]
    failed = [(c, d) for c, d in zip(checks, deducts, strict=True) if not c["ok"]]
    if not failed:
        return Outcome(weight, f"{len(checks)} 项均符合，得满分")
    total = sum((d for _, d in failed), ZERO)
    texts = "；".join(c["text"] for c, _ in failed)
    evidence = f"{len(checks)} 项中 {len(failed)} 项不符，扣 {fmt_num(total)} 分（{texts}）"
    if total > weight:
        evidence += "，扣至 0 分止"
    return Outcome(max(weight - total, ZERO), evidence)


def _shares(checks: list[Mapping[str, Any]]) -> list[Decimal] | None:
    """Return explicit shares (checked to add up to 1), or None for equal parts."""
    given = ["share" in c for c in checks]
    if not any(given):
        return None
    if not all(given):
        raise RuleInputError("give `share` on every check or on none")
    shares = [non_negative(to_decimal(c["share"], "share"), "share") for c in checks]
    if sum(shares, ZERO) != ONE:
        raise RuleInputError(f"shares add up to {fmt_num(sum(shares, ZERO))}, not 1")
    return shares


@rule("checklist_share", keys=("checks",))
def checklist_share(weight: Decimal, params: Mapping[str, Any],
                    measured: Decimal | None) -> Outcome:
    """Weight x the sum of the shares of the checks that hold (equal shares by default)."""
    checks = _checks(params, "share")
    shares = _shares(checks)
    held = sum(1 for c in checks if c["ok"])
    if shares is None:
        raw = weight * held / len(checks)
        return Outcome(raw, f"{len(checks)} 项要素中 {held} 项具备，"
                            f"{fmt_num(weight)} × {held}/{len(checks)} = {round2(raw)}")
    part = sum((s for c, s in zip(checks, shares, strict=True) if c["ok"]), ZERO)
    raw = weight * part
    return Outcome(raw, f"{len(checks)} 项要素中 {held} 项具备，占比 {fmt_num(part)}，"
                        f"{fmt_num(weight)} × {fmt_num(part)} = {round2(raw)}")


# --- cost saving ------------------------------------------------------------------


STEPS = ("proportional", "started_point")


@rule("cost_saving", keys=("planned", "actual", "per_point", "steps"))
def cost_saving(weight: Decimal, params: Mapping[str, Any],
                measured: Decimal | None) -> Outcome:
    """Full weight if actual <= planned; else minus per_point per point of overrun.

    By default the deduction is proportional to the overrun in percentage points
    (0.5% over, 1 point per point: minus 0.50), the reading ../shared/DOMAIN.md gives of
    每超支1个百分点扣1分; only `steps: started_point` rounds the overrun up to whole
    started points first (0.01% over costs a full point).
    """
    planned = param(params, "planned")
    actual = non_negative(param(params, "actual"), "actual")
    per_point = non_negative(param(params, "per_point", ONE), "per_point")
    steps = params.get("steps", "proportional")
    if steps not in STEPS:
        raise RuleInputError(f"`steps` must be one of {', '.join(STEPS)}, got {short(steps)}"
                             f"{_did_you_mean(steps, STEPS)}")
    if planned <= 0:
        raise RuleInputError(f"planned must be positive, got {fmt_num(planned)}")
    saving = (planned - actual) / planned
    if saving >= 0:
        return Outcome(weight, f"节约率 ({fmt_num(planned)} - {fmt_num(actual)}) / "
                               f"{fmt_num(planned)} = {fmt_pct(saving)} ≥ 0，得满分", saving)
    overrun = -saving * 100
    shown = (f"超支率 ({fmt_num(actual)} - {fmt_num(planned)}) / {fmt_num(planned)} = "
             f"{fmt_pct(-saving)}")
    if steps == "started_point":
        points = overrun.to_integral_value(rounding=ROUND_CEILING)
        deduct = points * per_point
        evidence = (f"{shown}，按已开始的 {points} 个百分点计，{points} × {fmt_num(per_point)} = "
                    f"{fmt_num(deduct)}，扣 {fmt_num(deduct)} 分")
    else:
        deduct = overrun * per_point
        evidence = (f"{shown}，{round2(overrun)} 个百分点 × {fmt_num(per_point)} = "
                    f"{round2(deduct)}，扣 {round2(deduct)} 分")
    if deduct > weight:
        evidence += "，扣至 0 分止"
    return Outcome(max(weight - deduct, ZERO), evidence, saving)


# --- bands --------------------------------------------------------------------------


def _bands(params: Mapping[str, Any], weight: Decimal) -> list[tuple[Decimal, Decimal]]:
    """Return the (min, score) bands sorted by min (given in either order), within 0..weight."""
    bands = params.get("bands")
    if not isinstance(bands, list) or not bands:
        raise RuleInputError("`bands` must be a non-empty list of {min, score}")
    result = []
    for index, band in enumerate(bands, 1):
        if not isinstance(band, Mapping):
            raise RuleInputError(f"band {index} must be a mapping {{min, score}}")
        for key in band:
            if key not in ("min", "score", "note"):
                raise RuleInputError(f"band {index}: unknown key `{key}`"
                                     f"{_did_you_mean(key, ('min', 'score', 'note'))}")
        low, score = param(band, "min"), param(band, "score")
        if not ZERO <= score <= weight:
            raise RuleInputError(f"band {index}: score {fmt_num(score)} is outside 0..{fmt_num(weight)}")
        result.append((low, score))
    # Reports print bands highest first; either order means the same table.
    result.sort()
    for (low, _), (next_low, _) in pairwise(result):
        if low == next_low:
            raise RuleInputError(f"two bands start at {fmt_num(low)}")
    return result


@rule("bands", measured=True, keys=("value", "bands"))
def bands(weight: Decimal, params: Mapping[str, Any], measured: Decimal | None) -> Outcome:
    """The score of the highest band whose min <= value (0 below the lowest band)."""
    value = measured if measured is not None else param(params, "value")
    table = _bands(params, weight)
    chosen = [b for b in table if b[0] <= value]
    if not chosen:
        return Outcome(ZERO, f"值 {fmt_num(value)} 低于最低档 {fmt_num(table[0][0])}，不得分",
                       value)
    low, score = chosen[-1]
    return Outcome(score, f"值 {fmt_num(value)} ≥ {fmt_num(low)} 档，得 {fmt_num(score)} 分",
                   value)


# --- judged ---------------------------------------------------------------------------


@rule("judged", keys=("score", "reason"))
def judged(weight: Decimal, params: Mapping[str, Any], measured: Decimal | None) -> Outcome:
    """The evaluator's score, which must lie in 0..weight and come with a reason."""
    score = param(params, "score")
    if not ZERO <= score <= weight:
        raise RuleInputError(f"judged score {fmt_num(score)} is outside 0..{fmt_num(weight)}")
    reason = params.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise RuleInputError("a judged score needs a non-empty `reason`")
    return Outcome(score, f"评价组评分：{reason.strip()}")
