"""Scoring a whole indicator system, the scored tree, its dict form and a text table."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .grades import Grade, grade_for
from .indicators import IndicatorSystem, IndicatorSystemError, Node, UnknownMeasureError
from .rules import RULES, RuleInputError, fmt_num, round2, to_decimal

Measures = Callable[[str, str, dict], Any]
RATE_PLACES = Decimal("0.0001")
TOTAL_PATH = "总分"


@dataclass
class ScoredNode:
    """A scored indicator: its score (2 dp), evidence, score rate and (level 1) grade."""

    name: str
    path: str
    level: int
    weight: Decimal
    score: Decimal
    rule: str | None = None
    evidence: str = ""
    value: Decimal | None = None
    reported: Decimal | None = None
    children: list[ScoredNode] = field(default_factory=list)
    score_rate: Decimal = Decimal(0)
    grade: str | None = None

    def walk(self) -> Iterator[ScoredNode]:
        """Yield this node and its descendants, parents first."""
        yield self
        for child in self.children:
            yield from child.walk()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form of this node and its subtree."""
        return {
            "name": self.name, "path": self.path, "level": self.level,
            "weight": _f2(self.weight), "score": _f2(self.score), "rule": self.rule,
            "evidence": self.evidence, "value": _f4(self.value),
            "reported": _f2(self.reported), "score_rate": _f4(self.score_rate),
            "grade": self.grade, "children": [c.to_dict() for c in self.children],
        }


@dataclass
class ScoreResult:
    """The scored system: total (2 dp), grade, scored level-1 nodes and mismatches."""

    project: str
    period: str
    total: Decimal
    grade: str
    indicators: list[ScoredNode]
    mismatches: list[dict[str, Any]] = field(default_factory=list)

    def walk(self) -> Iterator[ScoredNode]:
        """Yield every scored node, parents first."""
        for node in self.indicators:
            yield from node.walk()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: floats rounded to 2 dp (score rates and values to 4 dp)."""
        return {
            "project": self.project, "period": self.period, "total": _f2(self.total),
            "grade": self.grade, "indicators": [n.to_dict() for n in self.indicators],
            "level1": [_level1_dict(n) for n in self.indicators],
            "mismatches": [{"path": m["path"], "reported": _f2(m["reported"]),
                            "computed": _f2(m["computed"])} for m in self.mismatches],
        }


def _f2(number: Decimal | None) -> float | None:
    """Decimal -> float rounded to 2 dp (None stays None)."""
    return None if number is None else float(round2(number))


def _f4(number: Decimal | None) -> float | None:
    """Decimal -> float rounded to 4 dp (None stays None)."""
    return None if number is None else float(number.quantize(RATE_PLACES, ROUND_HALF_UP))


def _level1_dict(node: ScoredNode) -> dict[str, Any]:
    """Summary of a level-1 node for the level1 list."""
    return {"name": node.name, "weight": _f2(node.weight), "score": _f2(node.score),
            "score_rate": _f4(node.score_rate), "grade": node.grade}


# --- scoring ---------------------------------------------------------------------------


def score_system(system: IndicatorSystem, measures: Measures | None = None) -> ScoreResult:
    """Score every leaf (rounded to 2 dp half up), sum parents and the total, grade it."""
    nodes = [_score_node(n, system.grades, measures) for n in system.indicators]
    total = round2(sum((n.score for n in nodes), Decimal(0)))
    # Grades are bands of the score rate: a system out of 50 scoring 45 is 90%, 优.
    result = ScoreResult(project=system.project, period=system.period, total=total,
                         grade=grade_for(total * 100 / system.total, system.grades), indicators=nodes)
    result.mismatches = _mismatches(result, system.reported)
    return result


def _score_node(node: Node, grades: list[Grade], measures: Measures | None) -> ScoredNode:
    """Score a node: a leaf by its rule, a parent as the sum of its children."""
    if node.is_leaf:
        scored = _score_leaf(node, measures)
    else:
        children = [_score_node(c, grades, measures) for c in node.children]
        score = sum((c.score for c in children), Decimal(0))
        scored = ScoredNode(node.name, node.path, node.level, node.weight, score,
                            evidence="下级指标得分之和", children=children)
    scored.reported = node.reported
    scored.score_rate = (scored.score / node.weight).quantize(RATE_PLACES, ROUND_HALF_UP)
    if node.level == 1:
        scored.grade = grade_for(scored.score * 100 / node.weight, grades)
    return scored


def _score_leaf(node: Node, measures: Measures | None) -> ScoredNode:
    """Apply the leaf's rule (with its measured value, if it has a source)."""
    measured, prefix = _measure(node, measures) if "source" in node.params else (None, "")
    if node.rule not in RULES:
        raise IndicatorSystemError(f"{node.path}: unknown rule {node.rule!r}", node.path)
    try:
        outcome = RULES[node.rule](node.weight, node.params, measured)
    except RuleInputError as exc:
        raise IndicatorSystemError(f"{node.path}: {node.rule}: {exc}", node.path) from None
    return ScoredNode(node.name, node.path, node.level, node.weight, round2(outcome.raw),
                      rule=node.rule, evidence=prefix + outcome.evidence, value=outcome.value)


def _measure(node: Node, measures: Measures | None) -> tuple[Decimal, str]:
    """Ask ``measures`` for a source leaf's value; return it and an evidence prefix."""
    source = node.params["source"]
    name = f"{source['survey']}/{source['measure']}"
    if measures is None:
        raise IndicatorSystemError(
            f"{node.path}: no valid responses: source {name} needs survey measures", node.path)
    try:
        got = measures(source["survey"], source["measure"], dict(source.get("filters") or {}))
    except UnknownMeasureError as exc:
        raise IndicatorSystemError(f"{node.path}: unknown measure {name}: {exc}",
                                   node.path) from None
    value, n = _unpack(got)
    if value is None or n == 0:
        raise IndicatorSystemError(f"{node.path}: no valid responses for {name}", node.path)
    try:
        number = to_decimal(value, name)
    except RuleInputError as exc:
        raise IndicatorSystemError(f"{node.path}: {exc}", node.path) from None
    return number, f"问卷 {name}（n={n}）：" if n is not None else f"问卷 {name}："


def _unpack(got: Any) -> tuple[Any, Any]:
    """Split a measure result (an object with .value/.n, or a plain number) into (value, n)."""
    if hasattr(got, "value"):
        return got.value, getattr(got, "n", None)
    return got, None


def _mismatches(result: ScoreResult, reported_total: Decimal | None) -> list[dict[str, Any]]:
    """List every node (and the total) whose reported score differs from the computed one."""
    found = [{"path": n.path, "reported": n.reported, "computed": n.score}
             for n in result.walk()
             if n.reported is not None and round2(n.reported) != n.score]
    if reported_total is not None and round2(reported_total) != result.total:
        found.append({"path": TOTAL_PATH, "reported": reported_total, "computed": result.total})
    return found


# --- text table --------------------------------------------------------------------------


def display_width(text: str) -> int:
    """Display width of text, counting East Asian wide characters as 2 columns."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    """Pad text to a display width, left- or right-aligned."""
    gap = " " * max(width - display_width(text), 0)
    return gap + text if right else text + gap


def _row(cells: list[str], widths: list[int]) -> str:
    """Format one table row: the first column left-aligned, numbers right-aligned."""
    parts = [_pad(cells[0], widths[0]), _pad(cells[1], widths[1], True),
             _pad(cells[2], widths[2], True), _pad(cells[3], widths[3]), cells[4]]
    return "  ".join(parts).rstrip()


def format_table(result: ScoreResult) -> str:
    """A fixed-width text table of the scored tree, the total, the grade and mismatches."""
    rows = [["指标", "分值", "得分", "规则", "依据"]]
    rows += [["  " * (n.level - 1) + n.name, fmt_num(n.weight), str(n.score),
              n.rule or "", n.evidence if n.rule else ""] for n in result.walk()]
    widths = [max(display_width(r[i]) for r in rows) for i in range(4)]
    lines = [_row(r, widths) for r in rows]
    lines.insert(1, "-" * (sum(widths) + 6))
    lines += ["-" * (sum(widths) + 6), f"总分 {result.total}  等级 {result.grade}"]
    lines += _mismatch_lines(result.mismatches)
    return "\n".join(lines)


def _mismatch_lines(mismatches: list[dict[str, Any]]) -> list[str]:
    """Text lines listing the reported-vs-computed mismatches (or saying there are none)."""
    if not mismatches:
        return ["复核：报告得分与计算得分一致"]
    lines = [f"复核：{len(mismatches)} 处报告得分与计算得分不一致"]
    lines += [f"  {m['path']}: 报告 {fmt_num(m['reported'])}，计算 {m['computed']}"
              for m in mismatches]
    return lines
