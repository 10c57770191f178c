"""The score table as an XLSX workbook laid out like a report's appendix table (openpyxl).

Pure function (no Flask): :func:`score_table_xlsx` takes a ScoreResult and returns the
workbook bytes. A title row (project and period), bold bordered headers 一级指标 /
二级指标 / 三级指标 / 分值 / 得分 / 评分依据 / 复核, level cells merged over their rows,
numbers as 0.00, a subtotal row per level-1 indicator with its score rate and grade, and
the total with the grade. Text cells that a spreadsheet would run as formulas (starting
with = + - @) are neutralised by scoring.appendix.neutralise.
"""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from .appendix import LEVELS, appendix_rows, neutralise, title
from .report import ScoreResult

HEADERS = ["一级指标", "二级指标", "三级指标", "分值", "得分", "评分依据", "复核"]
WIDTHS = [14, 18, 26, 8, 8, 60, 30]
NUMBER_FORMAT = "0.00"
THIN = Side(style="thin", color="000000")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
HEADER_FILL = PatternFill("solid", fgColor="EEF2F6")
SUBTOTAL_FILL = PatternFill("solid", fgColor="F5F5F5")
MISMATCH_FILL = PatternFill("solid", fgColor="FDE8E8")
WRAP = Alignment(wrap_text=True, vertical="center")
CENTRE = Alignment(horizontal="center", vertical="center", wrap_text=True)
WEIGHT_COL, SCORE_COL, BASIS_COL, CHECK_COL = 4, 5, 6, 7


def _put(ws, row: int, col: int, value: Any, bold: bool = False, number: bool = False):
    """Write one bordered cell (text neutralised, numbers as 0.00) and return it."""
    cell = ws.cell(row=row, column=col, value=float(value) if number else neutralise(value))
    cell.border = BORDER
    cell.alignment = CENTRE if number or col <= LEVELS else WRAP
    if number:
        cell.number_format = NUMBER_FORMAT
    if bold:
        cell.font = Font(bold=True)
    return cell


def _border_all(ws, first_row: int, last_row: int) -> None:
    """Give every cell of the table a thin border (merged cells need it on each cell)."""
    for row in ws.iter_rows(min_row=first_row, max_row=last_row, max_col=len(HEADERS)):
        for cell in row:
            cell.border = BORDER


def score_table_xlsx(result: ScoreResult, measured: dict[str, Any] | None = None) -> bytes:
    """XLSX bytes of the appendix-style score table of ``result``."""
    wb = Workbook()
    ws = wb.active
    ws.title = "评分表"
    ws.cell(row=1, column=1, value=neutralise(title(result))).font = Font(bold=True, size=14)
    ws.cell(row=1, column=1).alignment = Alignment(horizontal="center", vertical="center")
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADERS))
    ws.row_dimensions[1].height = 28
    for col, header in enumerate(HEADERS, start=1):
        _put(ws, 2, col, header, bold=True).fill = HEADER_FILL
        ws.column_dimensions[get_column_letter(col)].width = WIDTHS[col - 1]
    line = 3
    for item in appendix_rows(result, measured):
        bold = item.kind != "leaf"
        if item.kind == "leaf":
            for cell in item.cells:
                col = cell.node.level
                _put(ws, line, col, cell.name, bold=cell.node.level == 1)
                if cell.mismatch:
                    ws.cell(row=line, column=col).fill = MISMATCH_FILL
                if cell.rowspan > 1 or cell.colspan > 1:
                    ws.merge_cells(start_row=line, start_column=col, end_row=line + cell.rowspan - 1,
                                   end_column=col + cell.colspan - 1)
        else:
            _put(ws, line, 1, item.name, bold=True)
            ws.merge_cells(start_row=line, start_column=1, end_row=line, end_column=LEVELS)
        _put(ws, line, WEIGHT_COL, item.weight, bold=bold, number=True)
        _put(ws, line, SCORE_COL, item.score, bold=bold, number=True)
        _put(ws, line, BASIS_COL, _basis(item), bold=bold)
        _put(ws, line, CHECK_COL, item.mismatch or "")
        if item.kind != "leaf":
            for col in range(1, len(HEADERS) + 1):
                ws.cell(row=line, column=col).fill = SUBTOTAL_FILL
        if item.mismatch:
            for col in (SCORE_COL, CHECK_COL):
                ws.cell(row=line, column=col).fill = MISMATCH_FILL
        line += 1
    _border_all(ws, 2, line - 1)
    ws.freeze_panes = "A3"
    ws.print_title_rows = "2:2"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _basis(item) -> str:
    """The 评分依据 text, with the survey rate, n and interval of a source leaf."""
    rate = item.measured
    if rate is None or getattr(rate, "value", None) is None:
        return item.basis
    low, high = rate.ci95
    return (f"{item.basis}（调查值 {rate.value:.2%}，n={rate.n}，"
            f"95% 置信区间 {low:.2%}–{high:.2%}）")
