"""Exports of responses and tables to CSV and XLSX, streamed in bounded memory.

One module for every spreadsheet this app writes from rows (the evaluators' downloads
and `flask responses export`): the rows come from a generator reading the database
as it goes, and the writers hold one row (CSV: a few hundred) at a time.

- CSV: UTF-8 with a BOM (Excel then reads the Chinese), written in chunks of rows.
- The score table (score_table_xlsx): an indicator system's scored appendix table as a
  styled workbook (openpyxl: merged level cells, 0.00 numbers, subtotal rows, grades).
- XLSX: xlsxwriter in constant_memory mode (each row goes to a temporary file as soon as
  the next starts), into a temporary file that is then streamed out in 64 KiB pieces.
  Measured against openpyxl's write-only mode on 100,000 responses
  (benchmarks/bench_exports.py, benchmarks/RESULTS.md): several times faster, memory flat
  in both. Every text cell is written as a string, never as a formula, a number or a
  link, besides being made safe (scoring.appendix.neutralise) for other spreadsheet
  programs.

Every writer makes every cell safe (scoring.appendix.safe_row: control characters out,
formulas quoted) unless told the rows already are (`made_safe=True`): response_rows
makes its own cells safe, and skips the check for the questionnaire's own codes and
labels, checked once per export, which are most of an export's cells.
"""

import csv
import io
import re
import tempfile
import zipfile

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from scoring.appendix import LEVELS, appendix_rows, neutralise, safe_row, title
from scoring.files import column_letter
from survey import localtime, questionnaires

CSV_CHUNK_ROWS = 500
FILE_CHUNK = 64 * 1024
META_COLUMNS = ("submission_id", "submitted_at", "site", "channel", "respondent_type",
                "source", "questionnaire_version", "duration_s", "excluded")
# The same columns in Chinese, for `titles="zh"` (a file for people; not re-importable).
META_TITLES_ZH = ("答卷编号", "提交时间（UTC）", "社区/站点", "渠道", "答题人", "来源", "问卷版本", "用时（秒）",
                  "已排除")
LOCAL_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
TITLE_CHOICES = ("zh",)
XLSX_OPTIONS = {"constant_memory": True, "strings_to_formulas": False, "strings_to_numbers": False,
                "strings_to_urls": False}


def local_time_header(zone_name):
    """The header of the added local-time column, e.g. 提交时间（北京时间）."""
    return f"提交时间（{localtime.zone_label(zone_name)}）"


def response_rows(db, evaluation_id, questionnaire_id, zone=None, titles=None):
    """Yield the header, then one row per response of the evaluation: meta columns, then code
    and label per question. `evaluation_id` None reads every evaluation's (whole-database
    tools only, e.g. checking a backup against the live database).

    `zone` (an IANA name) adds, after submitted_at (UTC, kept for a re-import), the
    submission time in that zone, headed e.g. 提交时间（北京时间）. `titles="zh"` heads the
    columns with Chinese words and the questions' titles instead of ids (a file for
    people: the importer reads ids, so it is not re-importable).

    One query over responses joined to their answers in response order, read row by
    row (plain tuples: a dict per row costs more than the rest of the export).
    Raises questionnaires.UnknownQuestionnaire for an unknown questionnaire, ValueError
    for unknown `titles`, localtime.UnknownTimeZone for an unknown zone.
    """
    if titles is not None and titles not in TITLE_CHOICES:
        raise ValueError(f"titles: only {', '.join(TITLE_CHOICES)}, got {titles!r}")
    if zone is not None:
        localtime.zone(zone)
    questionnaire = questionnaires.get(db, questionnaire_id)
    questions = questionnaire.questions
    labels = {q["id"]: {str(c["value"]): c["zh"] for c in questionnaire.choices(q)} for q in questions}
    header = list(META_TITLES_ZH if titles else META_COLUMNS)
    if zone is not None:
        header.insert(2, local_time_header(zone))
    for question in questions:
        name = _question_title(question, header) if titles else question["id"]
        header.append(name)
        if labels[question["id"]]:
            header.append(f"{name}（文字）" if titles else f"{question['id']}_label")
    yield [neutralise(cell) for cell in header]
    # One row per response, its answers packed by group_concat (question, value pairs in
    # the answers index's order), split here: far cheaper than a joined row per answer.
    cursor = db.conn.execute(
        "select r.submission_id, r.submitted_at, s.name, r.channel, r.respondent_type, r.source,"
        " r.questionnaire_version, r.duration_s, r.excluded,"
        " (select group_concat(a.question_id || char(31) || a.value, char(30)) from answers a"
        "  where a.response_id = r.id)"
        " from responses r left join sites s on s.id = r.site_id"
        f" where {'r.evaluation_id = ? and ' if evaluation_id is not None else ''}r.questionnaire_id = ?"
        " order by r.id", [*([evaluation_id] if evaluation_id is not None else []), questionnaire_id])
    layout = [(q["id"], labels[q["id"]], _checked_labels(labels[q["id"]]) if labels[q["id"]] else None)
              for q in questions]
    local = localtime.local_seconds_formatter(zone) if zone is not None else None
    meta = {}  # the few values of the site, channel, type and source columns, made safe once
    while True:
        batch = cursor.fetchmany(1000)
        if not batch:
            break
        for row in batch:
            line = _line(row, layout, meta)
            if local:
                line.insert(2, neutralise(local(row[1])))
            yield line


def _question_title(question, taken):
    """A question's Chinese title as a column header (its id added when two titles are the same)."""
    text = " ".join(str((question.get("text") or {}).get("zh") or question["id"]).split())
    return f"{text}（{question['id']}）" if text in taken else text


# A text cell that neutralise() would change: a formula's first character, a control
# character or a lone surrogate. One search per cell instead of two substitutions.
_UNSAFE = re.compile("^[=+\\-@\t\r]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _safe_cell(cell):
    """neutralise(cell), searching the text once when it is already safe (most cells)."""
    return neutralise(cell) if isinstance(cell, str) and _UNSAFE.search(cell) else cell


def _line(row, layout, meta=None):
    """One export row from a response row with its packed answers, every text neutralised.

    `layout` is [(question id, {code: label} or None, {code: label, neutralised} or None)];
    a single code found in the last map is one of the questionnaire's own codes, already
    checked, so the per-cell check is skipped for it (it is most of an export's cells).
    """
    values = {}
    if row[9]:
        for pair in row[9].split("\x1e"):
            question_id, _, value = pair.partition("\x1f")
            values[question_id] = values[question_id] + ";" + value if question_id in values else value
    if meta is None:
        meta = {}
    line = [_safe_cell(row[0]), _safe_cell(row[1])]
    for cell in row[2:9]:
        if isinstance(cell, str):  # site, channel, type, source: a few values each
            safe = meta.get(cell)
            if safe is None:
                safe = neutralise(cell)
                if len(meta) < 10_000:
                    meta[cell] = safe
            cell = safe
        line.append(cell)
    append = line.append
    for question_id, labels, checked in layout:
        code = values.get(question_id, "")
        if checked is None:
            append(_safe_cell(code))
            continue
        label = checked.get(code)
        if label is None:  # several codes, or one the questionnaire does not list
            label = _safe_cell("；".join(labels.get(c, c) for c in code.split(";")))
            code = _safe_cell(code)
        append(code)
        append(label)
    return line


def _checked_labels(labels):
    """{code: neutralised label} for the codes that need no neutralising themselves, and ''."""
    checked = {code: neutralise(label) for code, label in labels.items() if neutralise(code) == code}
    checked[""] = ""
    return checked


def _safe(rows, made_safe):
    """The rows with every cell made safe, unless they already are."""
    return rows if made_safe else (safe_row(row) for row in rows)


def write_csv(rows, stream, made_safe=False):
    """Write rows as CSV with a BOM (Excel then opens the Chinese text correctly)."""
    stream.write("\ufeff")
    csv.writer(stream).writerows(_safe(rows, made_safe))


def csv_chunks(rows, chunk_rows=CSV_CHUNK_ROWS, made_safe=False):
    """Yield the CSV text of `rows` in pieces of `chunk_rows` rows, the BOM first."""
    rows = _safe(rows, made_safe)
    yield "\ufeff"
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) >= chunk_rows:
            writer.writerows(batch)
            batch.clear()
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if batch:
        writer.writerows(batch)
        yield buffer.getvalue()


def write_xlsx(rows, target, sheet="responses", made_safe=False):
    """Write rows to an XLSX file (a path or a seekable binary file object), one row at a time.

    A minimal SpreadsheetML package (one sheet, inline strings, no shared-string table)
    written straight into the ZIP stream: each row becomes its XML and is compressed
    as it goes, so memory does not grow with the rows. Numbers are numbers; every
    other value is a text cell (never a formula: inline strings cannot be one).
    """
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as package:
        for name, text in _PACKAGE_PARTS.items():
            package.writestr(name, text.format(sheet=_xml_text(sheet[:31])))
        with package.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            part.write(_SHEET_HEAD)
            pending = []
            for index, row in enumerate(_safe(rows, made_safe), start=1):
                pending.append(_row_xml(index, row))
                if len(pending) >= CSV_CHUNK_ROWS:
                    part.write("".join(pending).encode())
                    pending.clear()
            part.write(("".join(pending) + _SHEET_TAIL).encode())


_COLUMNS = [column_letter(i) for i in range(702)]  # A..ZZ; more columns are computed on demand
# XML 1.0 forbids most control characters; OOXML writes them as _xHHHH_ (as Excel does).
_XML_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_|^\s|\s$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text):
    """Text made safe inside an XML element."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # A literal _xHHHH_ must not be read back as an escape: escape its underscore.
    text = re.sub(r"_(x[0-9A-Fa-f]{4}_)", r"_x005F_\1", text)
    return _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)


def _row_xml(number, row):
    """The <row> element of one row: numbers as numbers, anything else as an inline string."""
    cells = []
    for column, cell in enumerate(row):
        if cell is None or cell == "":
            continue
        ref = (_COLUMNS[column] if column < len(_COLUMNS) else column_letter(column)) + str(number)
        if isinstance(cell, bool):
            cells.append(f'<c r="{ref}"><v>{int(cell)}</v></c>')
        elif isinstance(cell, (int, float)):
            cells.append(f'<c r="{ref}"><v>{cell!r}</v></c>')
        else:
            text = str(cell)
            if _XML_SPECIAL.search(text):
                text = _xml_text(text)
                cells.append(f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>')
            else:
                cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>')
    return f'<row r="{number}">{"".join(cells)}</row>'


_SHEET_HEAD = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
               b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
_SHEET_TAIL = "</sheetData></worksheet>"
_PACKAGE_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml"'
        ' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml"'
        ' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml"'
        ' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        '</Types>'),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'officeDocument" Target="xl/workbook.xml"/></Relationships>'),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
        ' xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="{sheet}" sheetId="1" r:id="rId1"/></sheets></workbook>'),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'worksheet" Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'styles" Target="styles.xml"/></Relationships>'),
    "xl/styles.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        '</styleSheet>'),
}


def write_xlsx_xlsxwriter(rows, target, sheet="responses"):
    """The same workbook through xlsxwriter's constant_memory mode (kept for the export
    benchmark's comparison: about 10 us a cell, too slow for 100,000 responses in 15 s)."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(target, XLSX_OPTIONS)
    worksheet = workbook.add_worksheet(sheet[:31])
    for index, row in enumerate(rows):
        for column, cell in enumerate(row):
            if cell is None or cell == "":
                continue
            if isinstance(cell, (int, float)) and not isinstance(cell, bool):
                worksheet.write_number(index, column, cell)
            else:
                worksheet.write_string(index, column, str(cell))
    workbook.close()


def xlsx_chunks(rows, sheet="responses", chunk=FILE_CHUNK, made_safe=False):
    """Yield an XLSX workbook of `rows` in pieces, built in a temporary file first
    (a ZIP's directory comes last, so it cannot be sent before it is complete)."""
    with tempfile.TemporaryFile(prefix="export-", suffix=".xlsx") as handle:
        write_xlsx(rows, handle, sheet, made_safe)
        handle.seek(0)
        while True:
            piece = handle.read(chunk)
            if not piece:
                break
            yield piece


# ---------------------------------------------------------------- small styled tables

TABLE_HEADER_FONT = Font(bold=True)
PERCENT_FORMAT = "0.0%"
CJK_WIDTH = 2.1  # a Chinese character is about two Latin ones wide in Excel's column units


class TableSheet:
    """One sheet of a styled table workbook: its name, rows (header first), the columns
    (0-based) holding rates to show as percentages, and optional widths per column."""

    def __init__(self, name, rows, percent_columns=(), widths=None):
        """Keep the sheet's parts; the name is cut to Excel's 31 characters."""
        self.name = name[:31]
        self.rows = rows
        self.percent_columns = set(percent_columns)
        self.widths = widths


def _text_width(value):
    """The width a cell's text needs in Excel's units (CJK characters count about double)."""
    text = "" if value is None else (f"{value:.1%}" if isinstance(value, float) else str(value))
    longest = max((line for line in text.split("\n")), key=len, default="")
    return sum(CJK_WIDTH if ord(ch) > 0x2E7F else 1.1 for ch in longest)


def table_workbook(sheets):
    """XLSX bytes of small tables (openpyxl; the measures and problem exports): a bold,
    shaded, frozen header row with an autofilter, rates as real numbers shown as 0.0%,
    every text cell neutralised, and column widths that fit the text (between 8 and 60)."""
    wb = Workbook()
    wb.remove(wb.active)
    for spec in sheets:
        ws = wb.create_sheet(neutralise(spec.name).lstrip("'")[:31] or "sheet")
        widths = {}
        for row_number, row in enumerate(spec.rows, start=1):
            for col, value in enumerate(row):
                if isinstance(value, str):
                    value = neutralise(value)
                cell = ws.cell(row=row_number, column=col + 1, value=value)
                if row_number == 1:
                    cell.font = TABLE_HEADER_FONT
                    cell.fill = HEADER_FILL
                    cell.alignment = Alignment(wrap_text=True, vertical="center")
                elif col in spec.percent_columns and isinstance(value, (int, float)):
                    cell.number_format = PERCENT_FORMAT
                elif isinstance(value, str):
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
                need = _text_width(value) + 2
                widths[col] = max(widths.get(col, 0), need / 2 if row_number == 1 else need)
        for col, width in widths.items():
            chosen = spec.widths[col] if spec.widths and col < len(spec.widths) and spec.widths[col] else width
            ws.column_dimensions[get_column_letter(col + 1)].width = round(min(60, max(8, chosen)), 1)
        ws.freeze_panes = "A2"
        if spec.rows:
            ws.auto_filter.ref = f"A1:{get_column_letter(max(1, len(spec.rows[0])))}{len(spec.rows)}"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------- the score table

SCORE_HEADERS = ["一级指标", "二级指标", "三级指标", "分值", "得分", "评分依据", "复核"]
SCORE_WIDTHS = [14, 18, 26, 8, 8, 60, 30]
SCORE_NUMBER_FORMAT = "0.00"
THIN = Side(style="thin", color="000000")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
HEADER_FILL = PatternFill("solid", fgColor="EEF2F6")
SUBTOTAL_FILL = PatternFill("solid", fgColor="F5F5F5")
MISMATCH_FILL = PatternFill("solid", fgColor="FDE8E8")
WRAP = Alignment(wrap_text=True, vertical="center")
CENTRE = Alignment(horizontal="center", vertical="center", wrap_text=True)
WEIGHT_COL, SCORE_COL, BASIS_COL, CHECK_COL = 4, 5, 6, 7


def _score_cell(ws, row, col, value, bold=False, number=False):
    """Write one bordered cell (text neutralised, numbers as 0.00) and return it."""
    cell = ws.cell(row=row, column=col, value=float(value) if number else neutralise(value))
    cell.border = BORDER
    cell.alignment = CENTRE if number or col <= LEVELS else WRAP
    if number:
        cell.number_format = SCORE_NUMBER_FORMAT
    if bold:
        cell.font = Font(bold=True)
    return cell


def _score_borders(ws, first_row, last_row):
    """Give every cell of the table a thin border (merged cells need it on each cell)."""
    for row in ws.iter_rows(min_row=first_row, max_row=last_row, max_col=len(SCORE_HEADERS)):
        for cell in row:
            cell.border = BORDER


def score_table_xlsx(result, measured=None):
    """XLSX bytes of the appendix-style score table of ``result``."""
    wb = Workbook()
    ws = wb.active
    ws.title = "评分表"
    ws.cell(row=1, column=1, value=neutralise(title(result))).font = Font(bold=True, size=14)
    ws.cell(row=1, column=1).alignment = Alignment(horizontal="center", vertical="center")
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(SCORE_HEADERS))
    ws.row_dimensions[1].height = 28
    for col, header in enumerate(SCORE_HEADERS, start=1):
        _score_cell(ws, 2, col, header, bold=True).fill = HEADER_FILL
        ws.column_dimensions[get_column_letter(col)].width = SCORE_WIDTHS[col - 1]
    line = 3
    for item in appendix_rows(result, measured):
        bold = item.kind != "leaf"
        if item.kind == "leaf":
            for cell in item.cells:
                col = cell.node.level
                _score_cell(ws, line, col, cell.name, bold=cell.node.level == 1)
                if cell.mismatch:
                    ws.cell(row=line, column=col).fill = MISMATCH_FILL
                if cell.rowspan > 1 or cell.colspan > 1:
                    ws.merge_cells(start_row=line, start_column=col, end_row=line + cell.rowspan - 1,
                                   end_column=col + cell.colspan - 1)
        else:
            _score_cell(ws, line, 1, item.name, bold=True)
            ws.merge_cells(start_row=line, start_column=1, end_row=line, end_column=LEVELS)
        _score_cell(ws, line, WEIGHT_COL, item.weight, bold=bold, number=True)
        _score_cell(ws, line, SCORE_COL, item.score, bold=bold, number=True)
        _score_cell(ws, line, BASIS_COL, _score_basis(item), bold=bold)
        _score_cell(ws, line, CHECK_COL, item.mismatch or "")
        if item.kind != "leaf":
            for col in range(1, len(SCORE_HEADERS) + 1):
                ws.cell(row=line, column=col).fill = SUBTOTAL_FILL
        if item.mismatch:
            for col in (SCORE_COL, CHECK_COL):
                ws.cell(row=line, column=col).fill = MISMATCH_FILL
        line += 1
    _score_borders(ws, 2, line - 1)
    ws.freeze_panes = "A3"
    ws.print_title_rows = "2:2"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _score_basis(item):
    """The 评分依据 text, with the survey rate, n and interval of a source leaf."""
    rate = item.measured
    if rate is None or getattr(rate, "value", None) is None:
        return item.basis
    low, high = rate.ci95
    return (f"{item.basis}（调查值 {rate.value:.2%}，n={rate.n}，"
            f"95% 置信区间 {low:.2%}–{high:.2%}）")
