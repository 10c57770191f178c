"""Charts of survey results for evaluators and reports, drawn with matplotlib (Agg).

Pure library code (no Flask): every function takes plain data and returns the
image as bytes (PNG or SVG). Chinese text uses Noto Sans CJK SC from Debian's
fonts-noto-cjk, found through matplotlib's font manager. SVGs are written with
`svg.fonttype = 'path'`: every glyph becomes an outline, so the Chinese shows
correctly on a machine (or in a Word document) that has no CJK font installed.
"""

import functools
import io
import threading

import matplotlib

matplotlib.use("Agg")
from matplotlib import font_manager  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC", "Source Han Sans SC")
# Colours for the 5-point answers, 5 (best) to 1 (worst); a diverging scheme that
# also reads in greyscale print.
SCALE_COLOURS = {"5": "#1b5e20", "4": "#66bb6a", "3": "#bdbdbd", "2": "#ef8a62", "1": "#b2182b"}
BAR_COLOUR = "#0a4570"
# matplotlib's rcParams are process-wide: two threads drawing at once (a threaded server)
# would see each other's settings, and one could draw with the default font (no CJK glyphs).
_DRAWING = threading.Lock()


class ChartError(ValueError):
    """A chart cannot be drawn from the data given (unknown format, nothing to show)."""


def _serialised(draw):
    """Run a drawing function under the module's lock (rcParams are global)."""
    @functools.wraps(draw)
    def wrapped(*args, **kwargs):
        with _DRAWING:
            return draw(*args, **kwargs)
    return wrapped


def cjk_font():
    """The family name of an installed CJK sans font, or None when none is found."""
    installed = {font.name for font in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in installed:
            return family
    return None


def _style():
    """rcParams for every chart: the CJK font, glyphs as SVG paths, a clean look."""
    family = cjk_font()
    return {
        "font.family": "sans-serif",
        "font.sans-serif": ([family] if family else []) + ["DejaVu Sans"],
        "axes.unicode_minus": False,
        "svg.fonttype": "path",
        "svg.hashsalt": "survey-charts",  # stable ids, so the same data gives the same SVG
        "font.size": 11,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }


def _render(fig, fmt):
    """The figure as bytes in `fmt` ('png' or 'svg')."""
    if fmt not in FORMATS:
        raise ChartError(f"format must be one of {', '.join(FORMATS)}, got '{fmt}'")
    buffer = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    with matplotlib.rc_context(_style()):
        fig.savefig(buffer, format=fmt, dpi=150, bbox_inches="tight", metadata=metadata)
    return buffer.getvalue()


def _figure(width, height):
    """A new figure (no pyplot: no global state, safe in a threaded server)."""
    with matplotlib.rc_context(_style()):
        return Figure(figsize=(width, height), layout="constrained")


def _percent_axis(axis):
    """Format an axis as 0%..100%."""
    axis.set_major_formatter(matplotlib.ticker.PercentFormatter(xmax=1.0, decimals=0))


@_serialised
def distribution_chart(rows, scale_labels, title, fmt="png"):
    """Stacked horizontal bars: the share of each answer 5..1 for each question.

    rows: [(label, {value: count})]; scale_labels: {value: words}, e.g. {"5": "非常满意"}.
    """
    rows = [(label, counts) for label, counts in rows if sum(counts.values())]
    if not rows:
        raise ChartError("no answers to draw")
    with matplotlib.rc_context(_style()):
        fig = _figure(8, 1.2 + 0.55 * len(rows))
        ax = fig.add_subplot()
        labels = [_wrap(label, 16) for label, _ in rows]
        positions = list(range(len(rows)))[::-1]
        left = [0.0] * len(rows)
        for value in ("5", "4", "3", "2", "1"):
            shares = [counts.get(value, 0) / sum(counts.values()) for _, counts in rows]
            bars = ax.barh(positions, shares, left=left, color=SCALE_COLOURS[value],
                           label=scale_labels.get(value, value), edgecolor="white", height=0.7)
            for bar, share in zip(bars, shares, strict=True):
                if share >= 0.07:
                    text_colour = "white" if value in ("5", "1") else "#1a1a1a"
                    ax.text(bar.get_x() + share / 2, bar.get_y() + bar.get_height() / 2, f"{share:.0%}",
                            ha="center", va="center", fontsize=9, color=text_colour)
            left = [a + b for a, b in zip(left, shares, strict=True)]
        ax.set_yticks(positions, labels)
        ax.set_xlim(0, 1)
        _percent_axis(ax.xaxis)
        ax.set_title(title, loc="left", fontsize=13)
        ax.legend(ncols=5, loc="upper center", bbox_to_anchor=(0.5, -0.08 - 0.3 / len(rows)),
                  frameon=False, fontsize=9)
        for row_position, (_, counts) in zip(positions, rows, strict=True):
            ax.text(1.01, row_position, f"n={sum(counts.values())}", va="center", fontsize=9, color="#3d3d3d")
    return _render(fig, fmt)


@_serialised
def rates_chart(rates, title, fmt="png", target=None):
    """Bars of rates with their 95% interval as error bars, one per group (e.g. site).

    rates: [(label, value, (low, high), n)]; groups with n = 0 are left out.
    `target` draws a dashed reference line (e.g. 0.9, a full-score threshold).
    """
    rates = [r for r in rates if r[3] and r[1] is not None]
    if not rates:
        raise ChartError("no rates to draw")
    with matplotlib.rc_context(_style()):
        fig = _figure(max(5.5, 1.3 * len(rates) + 2), 4.2)
        ax = fig.add_subplot()
        positions = range(len(rates))
        values = [r[1] for r in rates]
        lower = [r[1] - r[2][0] for r in rates]
        upper = [r[2][1] - r[1] for r in rates]
        ax.bar(positions, values, color=BAR_COLOUR, width=0.6)
        ax.errorbar(positions, values, yerr=[lower, upper], fmt="none", ecolor="#1a1a1a",
                    capsize=6, linewidth=1.5)
        for x, (_, value, interval, n) in zip(positions, rates, strict=True):
            ax.text(x, interval[1] + 0.02, f"{value:.1%}\nn={n}", ha="center", va="bottom", fontsize=9)
        if target is not None:
            ax.axhline(target, color="#8a1c1c", linestyle="--", linewidth=1)
            ax.text(len(rates) - 0.5, target, f"{target:.0%}", color="#8a1c1c", va="bottom", ha="right", fontsize=9)
        ax.set_xticks(list(positions), [_wrap(r[0], 8) for r in rates])
        ax.set_ylim(0, 1.18)
        ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        _percent_axis(ax.yaxis)
        ax.set_title(title + "（竖线为95%置信区间）", loc="left", fontsize=13)
    return _render(fig, fmt)


@_serialised
def trend_chart(points, title, fmt="png"):
    """A monthly trend: the rate as a line, its 95% interval as a band.

    points: [(month 'YYYY-MM', value, (low, high), n)] in order; months with n = 0 are left out.
    """
    points = [p for p in points if p[3] and p[1] is not None]
    if not points:
        raise ChartError("no months to draw")
    with matplotlib.rc_context(_style()):
        fig = _figure(max(5.5, 0.9 * len(points) + 3), 3.8)
        ax = fig.add_subplot()
        x = list(range(len(points)))
        values = [p[1] for p in points]
        ax.fill_between(x, [p[2][0] for p in points], [p[2][1] for p in points], color=BAR_COLOUR,
                        alpha=0.15, linewidth=0, label="95%置信区间")
        ax.plot(x, values, color=BAR_COLOUR, marker="o", linewidth=2, label="比率")
        for xi, (_, value, _interval, n) in zip(x, points, strict=True):
            ax.annotate(f"{value:.1%}\nn={n}", (xi, value), textcoords="offset points", xytext=(0, 8),
                        ha="center", fontsize=9)
        ax.set_xticks(x, [p[0] for p in points])
        ax.set_ylim(0, 1.15)
        ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        _percent_axis(ax.yaxis)
        if len(points) == 1:
            ax.set_xlim(-1, 1)
        ax.legend(loc="lower left", frameon=False, fontsize=9)
        ax.set_title(title, loc="left", fontsize=13)
    return _render(fig, fmt)


@_serialised
def empty_chart(message, fmt="png"):
    """A small image that says there is nothing to draw (instead of a broken image)."""
    with matplotlib.rc_context(_style()):
        fig = _figure(6, 1.2)
        ax = fig.add_subplot()
        ax.axis("off")
        ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, color="#3d3d3d")
    return _render(fig, fmt)


def _wrap(text, width):
    """Break a long (Chinese) label into lines of `width` characters."""
    text = str(text)
    return "\n".join(text[i:i + width] for i in range(0, len(text), width)) or "—"
