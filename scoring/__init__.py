"""Pure-Python scoring engine for indicator systems (no Flask, no survey package).

Load a system with :func:`load_system`, score it with :func:`score_system`, show it
with :func:`format_table`; :mod:`scoring.statistics` gives Wilson intervals and
Cochran sample sizes for the survey rates that feed ``rate`` leaves.
"""

from .grades import DEFAULT_GRADES, Grade, grade_for
from .indicators import (
    IndicatorSystem,
    IndicatorSystemError,
    Node,
    UnknownMeasureError,
    load_system,
    load_system_yaml,
)
from .report import ScoredNode, ScoreResult, format_table, score_system
from .rules import RULES, Outcome, RuleInputError, rule
from .statistics import cochran_sample_size, wilson_interval

__all__ = [
    "DEFAULT_GRADES", "RULES", "Grade", "IndicatorSystem", "IndicatorSystemError", "Node",
    "Outcome", "RuleInputError", "ScoreResult", "ScoredNode", "UnknownMeasureError",
    "cochran_sample_size", "format_table", "grade_for", "load_system", "load_system_yaml", "rule",
    "score_system", "wilson_interval",
]
