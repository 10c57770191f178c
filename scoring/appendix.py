"""The layout of a scored system as a report's appendix table (一级/二级/三级 with rowspans).

Pure code shared by the web page and the XLSX export, so both show the same rows:
one row per leaf, a level-1 subtotal row (得分率 and grade) after each level-1 group,
and a total row. Also the spreadsheet-formula check for text cells, used by every
export (scoring/ cannot import the survey package, so the survey side imports it from here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .report import TOTAL_PATH, ScoredNode, ScoreResult
from .rules import fmt_num, round2

LEVELS = 3
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
RULE_LABELS = {
    "rate": "比率", "checklist_deduct": "逐项扣分", "checklist_share": "要素得分",
    "cost_saving": "成本节约", "bands": "分档", "judged": "评价组评分",
}


# Characters an XLSX cell (XML 1.0) cannot hold or a spreadsheet shows as garbage: C0
# controls but tab, newline and carriage return, DEL and C1 controls. openpyxl raises
# IllegalCharacterError on the C0 ones, so one stored answer with them broke every export.
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Lone UTF-16 surrogates cannot be encoded as UTF-8 at all (CSV and XLSX are UTF-8).
LONE_SURROGATES = re.compile("[\ud800-\udfff]")


def strip_controls(text: str) -> str:
    """`text` without control characters (tab and line breaks kept) or lone surrogates."""
    return LONE_SURROGATES.sub("\ufffd", CONTROL_CHARACTERS.sub("", text))


def neutralise(text: Any) -> Any:
    """Make a text safe for a spreadsheet cell; non-texts are returned unchanged.

    Control characters are removed first (so a hidden one cannot shield a formula),
    then a text that a spreadsheet would run as a formula gets a leading quote.
    Idempotent: neutralising twice gives the same cell.
    """
    if not isinstance(text, str):
        return text
    text = strip_controls(text)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def safe_row(row: Any) -> list:
    """A row ready for any CSV or XLSX writer: every text cell neutralised."""
    return [neutralise(cell) for cell in row]


def mismatch_text(reported: Decimal, computed: Decimal) -> str:
    """The words that say a printed score differs (so colour is never the only signal)."""
    return f"报告所列得分 {fmt_num(reported)}，复核得分 {computed}"


def node_mismatch(node: ScoredNode) -> str | None:
    """The mismatch text of a node whose reported score differs from its score, else None."""
    if node.reported is not None and round2(node.reported) != node.score:
        return mismatch_text(node.reported, node.score)
    return None


@dataclass
class Cell:
    """A level cell (一级/二级/三级): the node, and how many rows and columns it spans."""

    node: ScoredNode
    name: str
    rowspan: int = 1
    colspan: int = 1

    @property
    def mismatch(self) -> str | None:
        """The node's mismatch text, if any."""
        return node_mismatch(self.node)


@dataclass
class Row:
    """One table row: kind is "leaf", "subtotal" or "total"."""

    kind: str
    cells: list[Cell] = field(default_factory=list)  # level cells starting in this row
    node: ScoredNode | None = None
    name: str = ""
    weight: Decimal = Decimal(0)
    score: Decimal = Decimal(0)
    basis: str = ""
    mismatch: str | None = None
    measured: Any = None  # the survey Rate of a source leaf, when known

    @property
    def first_level(self) -> int:
        """The level (1-based) of the first level cell this row starts, or 0."""
        return self.cells[0].node.level if self.cells else 0


def rule_label(name: str | None) -> str:
    """The Chinese label of a rule name (the name itself when unknown)."""
    return RULE_LABELS.get(name or "", name or "")


def _leaves(node: ScoredNode, ancestors: tuple[ScoredNode, ...] = ()):
    """Yield (ancestors, leaf) for every leaf under node, in order."""
    chain = (*ancestors, node)
    if not node.children:
        yield chain
        return
    for child in node.children:
        yield from _leaves(child, chain)


def _leaf_count(node: ScoredNode) -> int:
    """How many leaves (table rows) a node covers."""
    return 1 if not node.children else sum(_leaf_count(c) for c in node.children)


def _cells(chain: tuple[ScoredNode, ...], started: set[str]) -> list[Cell]:
    """The level cells that start in the row of the leaf at the end of chain."""
    cells = []
    for level, node in enumerate(chain[:LEVELS], start=1):
        key = chain[-1].path if level == LEVELS else node.path  # deeper levels join level 3
        if key in started:
            continue
        started.add(key)
        is_last = level == len(chain) or level == LEVELS
        name = " / ".join(n.name for n in chain[LEVELS - 1:]) if level == LEVELS else node.name
        cells.append(Cell(node, name, rowspan=1 if is_last else _leaf_count(node),
                          colspan=LEVELS - level + 1 if level == len(chain) else 1))
    return cells


def appendix_rows(result: ScoreResult, measured: dict[str, Any] | None = None) -> list[Row]:
    """The rows of the appendix table; ``measured`` maps a leaf path to its survey Rate."""
    measured = measured or {}
    rows: list[Row] = []
    started: set[str] = set()
    for top in result.indicators:
        for chain in _leaves(top):
            leaf = chain[-1]
            basis = leaf_basis(leaf)
            rows.append(Row("leaf", _cells(chain, started), leaf, leaf.name, leaf.weight,
                            leaf.score, basis, node_mismatch(leaf), measured.get(leaf.path)))
        rows.append(Row("subtotal", node=top, name=f"{top.name}小计", weight=top.weight,
                        score=top.score, basis=subtotal_basis(top), mismatch=node_mismatch(top)))
    total_mismatch = next((mismatch_text(m["reported"], m["computed"])
                           for m in result.mismatches if m["path"] == TOTAL_PATH), None)
    total_weight = sum((n.weight for n in result.indicators), Decimal(0))
    rows.append(Row("total", name="总分", weight=total_weight, score=result.total,
                    basis=f"评价等级：{result.grade}", mismatch=total_mismatch))
    return rows


def leaf_basis(leaf: ScoredNode) -> str:
    """A leaf's 评分依据: the rule's label and the evidence (without repeating the label)."""
    label = rule_label(leaf.rule)
    if not label or leaf.evidence.startswith(label):
        return leaf.evidence
    return f"{label}：{leaf.evidence}"


def subtotal_basis(node: ScoredNode) -> str:
    """The subtotal's 评分依据: its score rate and grade."""
    return f"得分率 {round2(node.score_rate * 100)}%，等级 {node.grade}"


def title(result: ScoreResult) -> str:
    """The table title: project, period and the words 绩效评价指标评分表."""
    parts = [p for p in (result.project, f"（{result.period}）" if result.period else "") if p]
    return "".join(parts) + " 绩效评价指标评分表"
