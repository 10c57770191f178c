"""Grades (评价等级) and the score bands that give them (财预〔2020〕10号 by default)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from typing import Any

from .rules import RuleInputError, to_decimal


class GradeTableError(ValueError):
    """A ``grades:`` table is malformed or not sorted."""


@dataclass(frozen=True)
class Grade:
    """One grade: its label and the lowest score (0..100) that earns it."""

    label: str
    min: Decimal


DEFAULT_GRADES: tuple[Grade, ...] = (
    Grade("优", Decimal(90)),
    Grade("良", Decimal(80)),
    Grade("中", Decimal(60)),
    Grade("差", Decimal(0)),
)


def _parse_grade(raw: Any, index: int) -> Grade:
    """Turn a Grade or a mapping {label, min} into a Grade."""
    if isinstance(raw, Grade):
        return raw
    if not isinstance(raw, Mapping):
        raise GradeTableError(f"grade {index} must be a mapping {{label, min}}")
    label = raw.get("label")
    if not isinstance(label, str) or not label.strip():
        raise GradeTableError(f"grade {index} has no label")
    try:
        low = to_decimal(raw.get("min"), "min")
    except RuleInputError as exc:
        raise GradeTableError(f"grade {label}: {exc}") from None
    return Grade(label.strip(), low)


def parse_grades(raw: Iterable[Any] | None) -> list[Grade]:
    """Validate a grades table: mins strictly descending, the last one 0; None -> default."""
    if raw is None:
        return list(DEFAULT_GRADES)
    if isinstance(raw, (str, Mapping)) or not isinstance(raw, Iterable):
        raise GradeTableError("grades must be a list of {label, min}")
    grades = [_parse_grade(item, index) for index, item in enumerate(raw, 1)]
    if not grades:
        raise GradeTableError("grades must not be empty")
    for higher, lower in pairwise(grades):
        if lower.min >= higher.min:
            raise GradeTableError(
                f"grades must be sorted by min, descending: {higher.label} {higher.min} "
                f"comes before {lower.label} {lower.min}")
    if grades[-1].min != 0:
        raise GradeTableError(f"the lowest grade ({grades[-1].label}) must start at 0")
    return grades


def grade_for(score: Any, grades: Iterable[Any] | None = None) -> str:
    """Label of the first grade (highest min first) whose min <= score, on a 0..100 scale."""
    table = parse_grades(grades)
    value = to_decimal(score, "score")
    for grade in table:
        if value >= grade.min:
            return grade.label
    raise ValueError(f"score {score} is below the lowest grade")
