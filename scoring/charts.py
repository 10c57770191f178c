"""Charts of a scored system for reports: score against weight per level-1 indicator.

Pure functions (no Flask): they take a :class:`scoring.report.ScoreResult` and return
PNG or SVG bytes. matplotlib is used through its object API with the Agg canvas (no
pyplot state, safe in a threaded server). Chinese labels need a CJK font: Noto Sans CJK
SC (Debian package fonts-noto-cjk) is looked up with matplotlib.font_manager.
"""

from __future__ import annotations

import io
from functools import lru_cache

from matplotlib import font_manager, rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

from .report import ScoreResult

CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei")
WEIGHT_COLOUR = "#c9d6e3"
SCORE_COLOUR = "#0a4570"
LOST_COLOUR = "#8a1c1c"


class ChartFontMissing(RuntimeError):
    """No font able to draw Chinese labels is installed (install fonts-noto-cjk)."""


@lru_cache(maxsize=1)
def cjk_font() -> str:
    """The family name of an installed CJK font, preferring Noto Sans CJK SC."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in installed:
            return family
    raise ChartFontMissing("no CJK font found; install fonts-noto-cjk (Noto Sans CJK SC)")


def _figure(result: ScoreResult) -> Figure:
    """Draw the horizontal bar chart: each level-1 weight, its score on top, the rate."""
    nodes = list(result.indicators)
    names = [n.name for n in nodes][::-1]
    weights = [float(n.weight) for n in nodes][::-1]
    scores = [float(n.score) for n in nodes][::-1]
    height = 1.2 + 0.6 * len(nodes)
    fig = Figure(figsize=(8, height), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    rows = range(len(nodes))
    ax.barh(rows, weights, color=WEIGHT_COLOUR, edgecolor=SCORE_COLOUR, label="分值")
    ax.barh(rows, scores, height=0.5, color=SCORE_COLOUR, label="得分")
    top = max(weights) if weights else 1
    for row, (score, weight) in enumerate(zip(scores, weights, strict=True)):
        rate = score / weight if weight else 0
        colour = LOST_COLOUR if score < weight else "#1a1a1a"
        ax.text(weight + top * 0.01, row, f"{score:g} / {weight:g}（{rate:.0%}）",
                va="center", fontsize=10, color=colour)
    ax.set_yticks(list(rows), names)
    ax.set_xlim(0, top * 1.35)
    ax.set_xlabel("分")
    title = f"{result.project} {result.period}".strip() or "指标体系"
    ax.set_title(f"{title}：一级指标得分与分值（总分 {result.total}，{result.grade}）", fontsize=11)
    ax.legend(loc="lower right", fontsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return fig


def _render(result: ScoreResult, fmt: str) -> bytes:
    """Render the chart in a format ("png" or "svg") with the CJK font and fixed metadata."""
    settings = {"font.family": "sans-serif", "font.sans-serif": [cjk_font(), "DejaVu Sans"],
                "axes.unicode_minus": False, "svg.hashsalt": "score-weight"}
    with rc_context(settings):
        fig = _figure(result)
        buffer = io.BytesIO()
        if fmt == "svg":
            FigureCanvasSVG(fig)
            fig.savefig(buffer, format="svg", metadata={"Date": None})
        else:
            fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def score_weight_chart(result: ScoreResult) -> bytes:
    """PNG bytes of the score-against-weight chart of the level-1 indicators."""
    return _render(result, "png")


def score_weight_chart_svg(result: ScoreResult) -> bytes:
    """SVG bytes (UTF-8) of the same chart."""
    return _render(result, "svg")
