"""Indicator systems: the tree model, loading from YAML and validation (复核)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from .files import FileRefused, check_keys, load_yaml, read_bytes
from .grades import Grade, GradeTableError, parse_grades
from .rules import RULE_KEYS, RULES, SOURCE_RULES, RuleInputError, check_note, fmt_num, short, to_decimal

NODE_KEYS = {"name", "weight", "rule", "children", "reported"}
PARENT_KEYS = NODE_KEYS | {"note"}
TOP_KEYS = {"project", "period", "total", "grades", "indicators", "reported", "note"}
DEFAULT_TOTAL = Decimal(100)
SOURCE_PLACEHOLDER = Decimal(1)


class IndicatorSystemError(ValueError):
    """An indicator system is invalid or cannot be scored; ``path`` names the node."""

    def __init__(self, message: str, path: str | None = None) -> None:
        """Keep the message and the path of the offending node (or None)."""
        super().__init__(message)
        self.path = path


class UnknownMeasureError(LookupError):
    """A measures callable does not know the survey or measure a source asks for."""


@dataclass
class Node:
    """One indicator: a parent with children, or a leaf scored by ``rule``."""

    name: str
    weight: Decimal
    level: int
    path: str
    rule: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)
    reported: Decimal | None = None

    @property
    def is_leaf(self) -> bool:
        """True when the node has no children."""
        return not self.children


@dataclass
class IndicatorSystem:
    """A whole indicator system: project, period, total, grades and level-1 nodes."""

    project: str
    period: str
    total: Decimal
    grades: list[Grade]
    indicators: list[Node]
    reported: Decimal | None = None


def _fail(path: str | None, message: str) -> IndicatorSystemError:
    """Build an IndicatorSystemError whose message starts with the node path."""
    return IndicatorSystemError(f"{path}: {message}" if path else message, path)


# --- reading -------------------------------------------------------------------------


def load_system(source: Any) -> IndicatorSystem:
    """Load and validate a system from a path, YAML text (contains a newline) or a dict."""
    return _build_system(_read(source))


def load_system_yaml(text: str | bytes) -> IndicatorSystem:
    """Load and validate a system from YAML text or bytes (one line is text, not a path)."""
    try:
        data = load_yaml(text)
    except FileRefused as exc:
        raise _fail(None, str(exc)) from None
    if not isinstance(data, Mapping):
        raise _fail(None, "an indicator system must be a YAML mapping")
    return _build_system(data)


def _read(source: Any) -> Mapping[str, Any]:
    """Return the parsed top-level mapping of ``source``."""
    if isinstance(source, Mapping):
        return source
    try:
        if isinstance(source, bytes) or isinstance(source, str) and "\n" in source:
            data = load_yaml(source)
        elif isinstance(source, (str, os.PathLike)):
            data = load_yaml(read_bytes(Path(source)))
        else:
            raise _fail(None, f"cannot load an indicator system from {type(source).__name__}")
    except FileRefused as exc:
        raise _fail(None, str(exc)) from None
    if not isinstance(data, Mapping):
        raise _fail(None, "an indicator system must be a YAML mapping")
    return data


def _keys(raw: Mapping[str, Any], allowed: Any, path: str | None) -> None:
    """Refuse unknown keys (with a suggestion) and a `note` that is not text."""
    try:
        check_keys(raw, allowed, path or "indicator system")
    except FileRefused as exc:
        raise _fail(None, str(exc)) from None
    try:
        check_note(raw)
    except RuleInputError as exc:
        raise _fail(path, str(exc)) from None


# --- building ------------------------------------------------------------------------


def _number(raw: Mapping[str, Any], key: str, path: str | None,
            default: Decimal | None = None) -> Decimal | None:
    """Read an optional numeric key as Decimal, naming the node on error."""
    if raw.get(key) is None:
        return default
    try:
        return to_decimal(raw[key], key)
    except RuleInputError as exc:
        raise _fail(path, str(exc)) from None


def _build_system(data: Mapping[str, Any]) -> IndicatorSystem:
    """Build the system from its top-level mapping and check the level-1 weights."""
    _keys(data, TOP_KEYS, None)
    total = _number(data, "total", None, DEFAULT_TOTAL)
    if total <= 0:
        raise _fail(None, f"total must be positive, got {fmt_num(total)}")
    try:
        grades = parse_grades(data.get("grades"))
    except GradeTableError as exc:
        raise _fail(None, f"grades: {exc}") from None
    indicators = _build_children(data.get("indicators"), None, 1)
    level1 = sum((n.weight for n in indicators), Decimal(0))
    if level1 != total:
        raise _fail(None, f"level-1 weights add up to {fmt_num(level1)}, "
                          f"but total is {fmt_num(total)}")
    return IndicatorSystem(
        project=str(data.get("project") or ""), period=str(data.get("period") or ""),
        total=total, grades=grades, indicators=indicators,
        reported=_number(data, "reported", "总分"))


def _build_children(raw: Any, path: str | None, level: int) -> list[Node]:
    """Build a non-empty list of sibling nodes with distinct names."""
    if not isinstance(raw, list) or not raw:
        where = "children" if path else "indicators"
        raise _fail(path, f"`{where}` must be a non-empty list")
    nodes = [_build_node(item, path, level) for item in raw]
    names = [n.name for n in nodes]
    for name in names:
        if names.count(name) > 1:
            raise _fail(path, f"two indicators are named {name}")
    return nodes


def _node_name(raw: Any, parent: str | None) -> str:
    """Return the node's name, checking that the node is a mapping with a name."""
    if not isinstance(raw, Mapping):
        raise _fail(parent, f"an indicator must be a mapping, got {short(raw)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail(parent, f"an indicator has no name: {short(dict(raw))}")
    return name.strip()


def _build_node(raw: Any, parent: str | None, level: int) -> Node:
    """Build one node (and its subtree), validating weight, rule and inputs."""
    name = _node_name(raw, parent)
    path = f"{parent} / {name}" if parent else name
    weight = _number(raw, "weight", path)
    if weight is None or weight <= 0:
        raise _fail(path, f"weight must be a positive number, got {short(raw.get('weight'))}")
    rule = raw.get("rule")
    if raw.get("children") is not None:
        _keys(raw, PARENT_KEYS, path)
    elif rule in RULE_KEYS:
        # `source` is let through so check_leaf can say which rules take one.
        _keys(raw, NODE_KEYS | RULE_KEYS[rule] | {"source"}, path)
    node = Node(name=name, weight=weight, level=level, path=path, rule=rule,
                params={k: v for k, v in raw.items() if k not in NODE_KEYS},
                reported=_number(raw, "reported", path))
    if raw.get("children") is not None:
        _attach_children(node, raw["children"])
    else:
        check_leaf(node)
    return node


def _attach_children(node: Node, raw_children: Any) -> None:
    """Build a parent's children and check that their weights add up to its weight."""
    if node.rule is not None:
        raise _fail(node.path, f"a parent indicator cannot have a rule (got {node.rule})")
    node.children = _build_children(raw_children, node.path, node.level + 1)
    total = sum((c.weight for c in node.children), Decimal(0))
    if total != node.weight:
        raise _fail(node.path, f"children weights add up to {fmt_num(total)}, "
                               f"but the weight of {node.name} is {fmt_num(node.weight)}")


# --- leaves --------------------------------------------------------------------------


def check_leaf(node: Node) -> None:
    """Check a leaf's rule and inputs by dry-running the rule (sources get a placeholder)."""
    if node.rule is None:
        raise _fail(node.path, "a leaf indicator needs a rule (or children)")
    if node.rule not in RULES:
        known = ", ".join(sorted(RULES))
        raise _fail(node.path, f"unknown rule {short(node.rule)} (known: {known})")
    measured = None
    if "source" in node.params:
        check_source(node)
        measured = SOURCE_PLACEHOLDER
    try:
        RULES[node.rule](node.weight, node.params, measured)
    except RuleInputError as exc:
        raise _fail(node.path, f"{node.rule}: {exc}") from None


def check_source(node: Node) -> None:
    """Check a leaf's ``source: {survey, measure, filters?}`` and that its rule takes one."""
    if node.rule not in SOURCE_RULES:
        raise _fail(node.path, f"rule {node.rule} cannot take its value from a survey source")
    source = node.params["source"]
    if not isinstance(source, Mapping):
        raise _fail(node.path, "source must be a mapping {survey, measure, filters?}")
    for key in ("survey", "measure"):
        if not isinstance(source.get(key), str) or not source[key].strip():
            raise _fail(node.path, f"source needs a `{key}` name")
    if not isinstance(source.get("filters") or {}, Mapping):
        raise _fail(node.path, "source filters must be a mapping")
