"""The evaluators' Word report (.docx): cover, one 满意度调查 section per questionnaire and
the 指标体系评分表 laid out like the seed reports' appendices.

The document is built from plain data (the dataclasses below) by `build_docx`, which
imports no Flask and reads no database: survey/word_report_data.py gathers the data of
one evaluation. Chinese typesetting follows what Word, WPS and LibreOffice all honour:
an East Asian font on every run (w:eastAsia: 宋体 body, 黑体 headings), A4 with fixed
margins, page numbers as a PAGE field, table header rows repeated on each page
(w:tblHeader), and fixed column widths on every cell so no name is squeezed to one
character per line.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from docx import Document
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

from scoring.appendix import appendix_rows, mismatch_text, title
from scoring.report import ScoreResult
from scoring.rules import fmt_num
from survey.problems import ProblemGroup

BODY_FONT = "宋体"
HEADING_FONT = "黑体"
LATIN_FONT = "Times New Roman"
BODY_SIZE = Pt(12)  # 小四
TABLE_SIZE = Pt(10.5)  # 五号
A4 = (Cm(21.0), Cm(29.7))
# Margins of a printed report (top, bottom, left, right); GB/T 9704 uses about the same.
MARGINS = (Cm(2.54), Cm(2.54), Cm(2.8), Cm(2.6))
PORTRAIT_TEXT_CM = 21.0 - 2.8 - 2.6  # 15.6 cm of text width
LANDSCAPE_TEXT_CM = 29.7 - 2.8 - 2.6  # 24.3 cm
# The score table (landscape): 一级 二级 三级 分值 得分 评分依据 复核. A level name gets at
# least 2.4 cm, six characters of 五号 a line, so 立项依据充分性 takes two lines, not seven.
SCORE_HEADERS = ["一级指标", "二级指标", "三级指标", "分值", "得分", "评分依据", "复核（报告所列与复核得分）"]
SCORE_WIDTHS_CM = [2.4, 2.8, 3.6, 1.4, 1.5, 8.8, 3.8]
HEADER_FILL = "D9D9D9"
SUBTOTAL_FILL = "F2F2F2"
MISMATCH_FILL = "FCE4D6"
LEVEL_NAMES = {1: "一级指标", 2: "二级指标", 3: "三级指标"}


class ReportError(ValueError):
    """The report cannot be built from the data given; the message says which part."""


# --------------------------------------------------------------------------- the data


@dataclass
class Cover:
    """The cover page: the evaluation, the evaluated project and unit, period and report date."""

    evaluation: str
    project: str
    unit: str
    period: str  # real dates, e.g. 2024-09-01 至 2024-11-30
    report_date: str  # the local date the report was made, e.g. 2026年11月23日


@dataclass
class MeasureLine:
    """One measure of a questionnaire: label, its Rate (value, n, successes, ci95) and kind.

    kind is "rate" (a share with an interval), "count" (how many said yes) or "roster".
    """

    label: str
    rate: Any
    kind: str = "rate"
    headline: bool = False  # a declared measure (satisfaction, awareness), said in a sentence too


@dataclass
class Breakdown:
    """One breakdown table: rows of (group, valid responses, [Rate or None per measure])."""

    title: str
    dimension: str  # the words of the group column: 社区, 渠道, 答题人, 年龄段
    measures: list[str]
    rows: list[tuple[str, int, list[Any]]]


@dataclass
class Picture:
    """A chart as PNG bytes and its caption."""

    caption: str
    png: bytes


@dataclass
class SurveySection:
    """Everything the 满意度调查 section says about one questionnaire."""

    title: str
    method: str
    channels: list[tuple[str, int, int]]  # (channel words, received, counted)
    received: int
    valid: int
    excluded: int
    exclusions: list[tuple[str, int]]  # (reason, responses)
    sample_note: str
    needed: int | None
    population: int | None
    measures: list[MeasureLine]
    breakdowns: list[Breakdown] = field(default_factory=list)
    pictures: list[Picture] = field(default_factory=list)
    problems: list[ProblemGroup] = field(default_factory=list)  # merged comments, counted per site
    yes_counts: list[tuple[str, int, int]] = field(default_factory=list)  # (label, said yes, answered)
    texts: int = 0  # open-text answers behind `problems`


@dataclass
class ScoreSection:
    """The scored indicator system (or why there is none), its source and chart."""

    result: ScoreResult | None = None
    measured: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    missing: str = ""  # why there is no score table, in words
    chart: bytes | None = None


@dataclass
class ReportData:
    """The whole report."""

    cover: Cover
    surveys: list[SurveySection]
    score: ScoreSection


# --------------------------------------------------------------------------- words


def pct(value: float | None) -> str:
    """A share as a percentage with one decimal ('—' when there is none)."""
    if value is None:
        return "—"
    return f"{Decimal(repr(value * 100)).quantize(Decimal('0.1'), 'ROUND_HALF_UP')}%"


def rate_text(rate: Any) -> str:
    """A rate with its interval, written as 90.0%（95%置信区间 74.4%–96.5%）."""
    if rate is None or rate.value is None or not rate.n:
        return "—（无有效回答）"
    low, high = rate.ci95
    return f"{pct(rate.value)}（95%置信区间 {pct(low)}–{pct(high)}）"


def measure_sentence(line: MeasureLine) -> str:
    """A headline measure as a sentence of the section."""
    rate = line.rate
    return f"{line.label}：{rate_text(rate)}，n={rate.n}，其中 {rate.successes} 人满意或同意。"


def measure_cells(line: MeasureLine) -> list[str]:
    """A measure as a row of the measures table: label, result with interval, n, how many."""
    rate = line.rate
    if line.kind == "roster":
        return [line.label, rate_text(rate), str(rate.n), f"名册 {rate.n} 户中 {rate.successes} 户"]
    return [line.label, rate_text(rate), str(rate.n), str(rate.successes)]


# --------------------------------------------------------------------------- typesetting


def set_run_font(run, east_asia: str = BODY_FONT, size=None, bold: bool | None = None) -> None:
    """Give a run its Latin and East Asian fonts (w:eastAsia), and optionally size and weight."""
    run.font.name = LATIN_FONT
    fonts = run._element.get_or_add_rPr().get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), east_asia)
    if size is not None:
        run.font.size = size
    if bold is not None:
        run.font.bold = bold


def _style_fonts(style, east_asia: str, size=None, bold=None) -> None:
    """Set a style's fonts, dropping theme fonts (a theme font would override w:eastAsia)."""
    style.font.name = LATIN_FONT
    fonts = style.element.get_or_add_rPr().get_or_add_rFonts()
    for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(theme), None)
    fonts.set(qn("w:eastAsia"), east_asia)
    if size is not None:
        style.font.size = size
    if bold is not None:
        style.font.bold = bold
    style.font.color.rgb = RGBColor(0, 0, 0)


def _setup_styles(document) -> None:
    """Body 宋体 小四, headings 黑体 in black, captions 宋体 五号."""
    _style_fonts(document.styles["Normal"], BODY_FONT, BODY_SIZE)
    for name, size in (("Title", Pt(22)), ("Heading 1", Pt(16)), ("Heading 2", Pt(14)), ("Heading 3", Pt(12))):
        _style_fonts(document.styles[name], HEADING_FONT, size, True)
    _style_fonts(document.styles["Caption"], BODY_FONT, TABLE_SIZE, False)


def _page_setup(section, landscape: bool = False) -> None:
    """A4 (portrait or landscape) with the report's margins."""
    width, height = A4
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = (height, width) if landscape else (width, height)
    section.top_margin, section.bottom_margin, section.left_margin, section.right_margin = MARGINS


def _field(paragraph, instruction: str, placeholder: str) -> None:
    """Append a field (PAGE, NUMPAGES) to a paragraph: begin, instruction, separate, result, end."""
    def char(kind):
        """A run holding one w:fldChar."""
        run = paragraph.add_run()
        element = OxmlElement("w:fldChar")
        element.set(qn("w:fldCharType"), kind)
        run._element.append(element)
        return run

    char("begin")
    run = paragraph.add_run()
    text = OxmlElement("w:instrText")
    text.set(qn("xml:space"), "preserve")
    text.text = f" {instruction} "
    run._element.append(text)
    char("separate")
    paragraph.add_run(placeholder)
    char("end")


def _footer_page_numbers(section) -> None:
    """第 N 页 共 M 页 centred in the footer; the cover (first page) has no number."""
    section.different_first_page_header_footer = True
    paragraph = section.footer.paragraphs[0]
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    paragraph.add_run("第 ")
    _field(paragraph, "PAGE", "1")
    paragraph.add_run(" 页 共 ")
    _field(paragraph, "NUMPAGES", "1")
    paragraph.add_run(" 页")


def _all_runs(document):
    """Every w:r element of the body, headers and footers (tables and fields included)."""
    parts = [document.element.body]
    for section in document.sections:
        for part in (section.header, section.footer, section.first_page_header, section.first_page_footer):
            parts.append(part._element)
    for part in parts:
        yield from part.iter(qn("w:r"))


def _fonts_everywhere(document) -> None:
    """Make sure every run names its East Asian font: 黑体 in headings, 宋体 elsewhere.

    Word falls back to the run's Latin font for Chinese when w:eastAsia is missing, which
    on a Chinese Windows picks a different face in every table; so no run is left without.
    """
    for run in _all_runs(document):
        rpr = run.find(qn("w:rPr"))
        if rpr is None:
            rpr = OxmlElement("w:rPr")
            run.insert(0, rpr)
        fonts = rpr.find(qn("w:rFonts"))
        if fonts is None:
            fonts = OxmlElement("w:rFonts")
            rpr.insert(0, fonts)
        if fonts.get(qn("w:eastAsia")):
            continue
        paragraph = run.getparent()
        style = paragraph.find(f"{qn('w:pPr')}/{qn('w:pStyle')}")
        heading = style is not None and style.get(qn("w:val"), "").startswith(("Heading", "Title"))
        fonts.set(qn("w:ascii"), LATIN_FONT)
        fonts.set(qn("w:hAnsi"), LATIN_FONT)
        fonts.set(qn("w:eastAsia"), HEADING_FONT if heading else BODY_FONT)


def _heading(document, text: str, level: int) -> None:
    """A heading in 黑体."""
    paragraph = document.add_heading(level=level)
    set_run_font(paragraph.add_run(text), HEADING_FONT)


def _para(document, text: str, bold: bool = False, align=None, size=None, indent: bool = True):
    """A body paragraph in 宋体, first line indented two characters as Chinese reports do."""
    paragraph = document.add_paragraph()
    if indent:
        paragraph.paragraph_format.first_line_indent = Pt(24)
    if align is not None:
        paragraph.alignment = align
    set_run_font(paragraph.add_run(text), BODY_FONT, size, bold or None)
    return paragraph


def _caption(document, text: str) -> None:
    """A centred caption (表/图 N ...)."""
    paragraph = document.add_paragraph(style="Caption")
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    paragraph.paragraph_format.space_before = Pt(10)  # apart from the table above
    paragraph.paragraph_format.keep_with_next = True  # a table's caption never ends a page
    set_run_font(paragraph.add_run(text), BODY_FONT, TABLE_SIZE, False)


def _shade(cell, fill: str) -> None:
    """Fill a cell's background."""
    tcpr = cell._tc.get_or_add_tcPr()
    shading = OxmlElement("w:shd")
    shading.set(qn("w:val"), "clear")
    shading.set(qn("w:color"), "auto")
    shading.set(qn("w:fill"), fill)
    tcpr.append(shading)


def _cell_text(cell, text: str, bold: bool = False, align=None) -> None:
    """Write text into a cell (五号 宋体), one paragraph per line of the text."""
    lines = str(text).split("\n")
    # A merged cell keeps the (empty) paragraphs of the cells it swallowed: drop them, or
    # the text would sit at the top and its last line at the bottom of a tall cell.
    for extra in cell.paragraphs[1:]:
        extra._element.getparent().remove(extra._element)
    paragraph = cell.paragraphs[0]
    for index, line in enumerate(lines):
        if index:
            paragraph = cell.add_paragraph()
        paragraph.paragraph_format.first_line_indent = None
        if align is not None:
            paragraph.alignment = align
        set_run_font(paragraph.add_run(line), BODY_FONT, TABLE_SIZE, bold or None)
    cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER


def repeat_header(row) -> None:
    """Mark a table row as a header row repeated at the top of each page (w:tblHeader)."""
    trpr = row._tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    trpr.append(header)


def _cell_margins(table, top_bottom: int = 30, left_right: int = 85) -> None:
    """Room around the text of every cell (twips), so rows of small type do not touch their borders."""
    margins = OxmlElement("w:tblCellMar")
    for side, size in (("top", top_bottom), ("left", left_right), ("bottom", top_bottom), ("right", left_right)):
        element = OxmlElement(f"w:{side}")
        element.set(qn("w:w"), str(size))
        element.set(qn("w:type"), "dxa")
        margins.append(element)
    table._tbl.tblPr.append(margins)


def _no_split(row) -> None:
    """Keep a row on one page (w:cantSplit): a score row is never cut in two."""
    element = OxmlElement("w:cantSplit")
    element.set(qn("w:val"), "true")
    row._tr.get_or_add_trPr().append(element)


def _table(document, headers: list[str], widths_cm: list[float], rows: list[list[str]],
           numeric: set[int] = frozenset()):
    """A bordered table with fixed column widths on every cell and a repeated header row."""
    if len(headers) != len(widths_cm):
        raise ReportError(f"table {headers[0]}: {len(headers)} headers but {len(widths_cm)} widths")
    table = document.add_table(rows=1 + len(rows), cols=len(headers))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False  # w:tblLayout fixed: Word keeps the widths instead of fitting the text
    _cell_margins(table)
    for index, width in enumerate(widths_cm):
        table.columns[index].width = Cm(width)
    for row_index, row in enumerate(table.rows):
        cells = row.cells
        for index, width in enumerate(widths_cm):
            cells[index].width = Cm(width)
        if row_index == 0:
            repeat_header(row)
            for index, header in enumerate(headers):
                _cell_text(cells[index], header, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
                _shade(cells[index], HEADER_FILL)
            continue
        _no_split(row)
        for index, value in enumerate(rows[row_index - 1]):
            _cell_text(cells[index], value, align=WD_ALIGN_PARAGRAPH.CENTER if index in numeric else None)
    return table


def _picture(document, picture: Picture, number: int, width_cm: float) -> None:
    """A chart as an inline picture, centred, with its caption below."""
    document.add_picture(io.BytesIO(picture.png), width=Cm(width_cm))
    document.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
    document.paragraphs[-1].paragraph_format.keep_with_next = True  # the caption stays with its chart
    _caption(document, f"图{number}  {picture.caption}")


# --------------------------------------------------------------------------- sections


class _Counter:
    """Running numbers of tables and figures (表1, 图1 ...)."""

    def __init__(self) -> None:
        """Start both at zero."""
        self.tables = 0
        self.figures = 0

    def table(self) -> int:
        """The next table number."""
        self.tables += 1
        return self.tables

    def figure(self) -> int:
        """The next figure number."""
        self.figures += 1
        return self.figures


def _cover(document, cover: Cover) -> None:
    """The cover page, then a page break."""
    for _ in range(5):
        document.add_paragraph()
    paragraph = document.add_paragraph(style="Title")
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    set_run_font(paragraph.add_run(cover.project or cover.evaluation), HEADING_FONT, Pt(22), True)
    paragraph = document.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    set_run_font(paragraph.add_run("绩效评价满意度调查报告"), HEADING_FONT, Pt(18), True)
    for _ in range(4):
        document.add_paragraph()
    for label, value in (("评价项目", cover.evaluation), ("被评价项目", cover.project or "（未填写）"),
                         ("项目单位", cover.unit or "（未填写）"), ("评价期间", cover.period),
                         ("报告日期", cover.report_date)):
        paragraph = document.add_paragraph()
        paragraph.paragraph_format.left_indent = Cm(3)
        set_run_font(paragraph.add_run(f"{label}："), HEADING_FONT, Pt(14))
        set_run_font(paragraph.add_run(value), BODY_FONT, Pt(14))
    document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)


def _survey(document, number: int, section: SurveySection, counter: _Counter) -> None:
    """One questionnaire's 满意度调查 section."""
    _heading(document, f"（{'一二三四五六七八九十'[number - 1] if number <= 10 else number}）{section.title}", 2)
    _heading(document, "1. 调查方法与渠道", 3)
    _para(document, section.method)
    if section.channels:
        _caption(document, f"表{counter.table()}  各渠道收到与计入的答卷")
        _table(document, ["渠道", "收到答卷", "计入统计"], [6.0, 3.5, 3.5],
               [[name, str(got), str(valid)] for name, got, valid in section.channels], numeric={1, 2})
    _heading(document, "2. 样本与有效答卷", 3)
    population = f"，调查总体 {section.population} 人" if section.population else "，总体规模未知（按无限总体计算）"
    _para(document, f"共收到答卷 {section.received} 份，计入统计的有效答卷 {section.valid} 份，"
                    f"按质量规则或评价组复核排除 {section.excluded} 份{population}。"
                    f"按 Cochran 公式（95%置信水平、±5个百分点误差、p=0.5）：{section.sample_note}。")
    if section.exclusions:
        _caption(document, f"表{counter.table()}  排除的答卷及原因")
        _table(document, ["排除原因", "答卷数"], [9.0, 3.0],
               [[reason, str(count)] for reason, count in section.exclusions], numeric={1})
    _heading(document, "3. 调查结果", 3)
    _para(document, "比率只计入未被排除、且回答了该题的有效答卷；区间为 Wilson 95%置信区间。")
    for line in section.measures:
        if line.headline:
            _para(document, measure_sentence(line))
    answered = [line for line in section.measures if line.rate.n or line.headline]
    if answered:
        _caption(document, f"表{counter.table()}  各项指标的结果")
        _table(document, ["指标", "结果（95%置信区间）", "n", "满意/同意人数"], [6.6, 5.6, 1.4, 2.0],
               [measure_cells(line) for line in answered], numeric={2, 3})
    unanswered = [line.label for line in section.measures if line not in answered]
    if unanswered:
        _para(document, f"以下指标没有有效回答（n=0，例如只问用过该项服务的人），未列入表中：{'；'.join(unanswered)}。")
    for breakdown in section.breakdowns:
        _caption(document, f"表{counter.table()}  {breakdown.title}")
        rest = (PORTRAIT_TEXT_CM - 3.6 - 2.2) / max(1, len(breakdown.measures))
        headers = [breakdown.dimension, "有效答卷", *breakdown.measures]
        rows = [[group, str(responses), *[rate_text(r) + (f"\nn={r.n}" if r and r.n else "") if r else "—"
                                           for r in rates]]
                for group, responses, rates in breakdown.rows]
        _table(document, headers, [3.6, 2.2, *[rest] * len(breakdown.measures)], rows, numeric={1})
    for picture in section.pictures:
        _picture(document, picture, counter.figure(), 15.0)
    _heading(document, "4. 反映的问题", 3)
    for label, said, answered in section.yes_counts:
        _para(document, f"{label}：{said} 人（共 {answered} 人回答）。")
    if section.problems:
        _para(document, f"开放题共收到 {section.texts} 条意见，相同或相近的意见合并计数如下。")
        _caption(document, f"表{counter.table()}  意见归并与计数")
        _table(document, ["序号", "意见", "人次", "涉及社区（人次）"], [1.2, 8.4, 1.4, 4.6],
               [[str(i), p.text, str(p.count), "、".join(f"{s or '（未注明）'}（{n}）" for s, n in p.sites.items())]
                for i, p in enumerate(section.problems, 1)], numeric={0, 2})
    elif not section.yes_counts:
        _para(document, "开放题未收到意见。")


def _score_cells(table, line: int, item) -> None:
    """Fill the level cells of one appendix row, merging rowspans and colspans."""
    for cell in item.cells:
        column = cell.node.level - 1
        last_row = line + cell.rowspan - 1
        last_column = column + cell.colspan - 1
        target = table.cell(line, column)
        if last_row != line or last_column != column:
            target = target.merge(table.cell(last_row, last_column))
        name = cell.name
        if cell.node.level < 3 and cell.node.children:
            name = f"{name}\n（{fmt_num(cell.node.weight)}分）"
        _cell_text(target, name, bold=cell.node.level == 1)
        if cell.mismatch:
            _shade(target, MISMATCH_FILL)


def _basis(item) -> str:
    """The 评分依据 text, with a survey leaf's rate, n and interval."""
    rate = item.measured
    if rate is None or getattr(rate, "value", None) is None:
        return item.basis
    return f"{item.basis}\n调查值 {rate_text(rate)}，n={rate.n}"


def score_table(document, result: ScoreResult, measured: dict[str, Any]):
    """The appendix table: one row per leaf, a subtotal per level-1 indicator, the total."""
    items = appendix_rows(result, measured)
    table = _table(document, SCORE_HEADERS, SCORE_WIDTHS_CM, [[""] * len(SCORE_HEADERS) for _ in items],
                   numeric={3, 4})
    for line, item in enumerate(items, start=1):
        cells = table.rows[line].cells
        if item.kind == "leaf":
            _score_cells(table, line, item)
        else:
            merged = cells[0].merge(cells[2])
            _cell_text(merged, item.name, bold=True)
        bold = item.kind != "leaf"
        _cell_text(cells[3], fmt_num(item.weight), bold, WD_ALIGN_PARAGRAPH.CENTER)
        _cell_text(cells[4], str(item.score), bold, WD_ALIGN_PARAGRAPH.CENTER)
        _cell_text(cells[5], _basis(item), bold)
        _cell_text(cells[6], item.mismatch or "一致")
        for index in range(len(SCORE_HEADERS)):
            if item.kind != "leaf":
                _shade(table.rows[line].cells[index], SUBTOTAL_FILL)
        if item.mismatch:
            for index in (4, 6):
                _shade(cells[index], MISMATCH_FILL)
    return table


def _score(document, score: ScoreSection, counter: _Counter) -> None:
    """The 指标体系评分表 section in a landscape A4 section of its own."""
    section = document.add_section(WD_SECTION.NEW_PAGE)
    _page_setup(section, landscape=True)
    section.different_first_page_header_footer = False  # copied from the cover's section
    _heading(document, "三、指标体系评分表", 1)
    if score.result is None:
        _para(document, score.missing or "本评价项目没有指标体系，报告不含评分表。")
        return
    result = score.result
    _para(document, f"评分依据的指标体系：{score.source}。叶指标得分按规则计算并四舍五入到两位小数后逐级加总；"
                    f"标注“问卷”的指标取自本次调查的有效答卷。")
    _para(document, f"总分 {result.total} 分，评价等级：{result.grade}。" + "；".join(
        f"{n.name} {n.score} 分（分值 {fmt_num(n.weight)}，等级 {n.grade}）" for n in result.indicators) + "。",
        bold=True)
    if result.mismatches:
        _para(document, f"复核：{len(result.mismatches)} 处报告所列得分与复核得分不一致：" + "；".join(
            f"{m['path']}（{mismatch_text(m['reported'], m['computed'])}）" for m in result.mismatches) + "。")
    else:
        _para(document, "复核：报告所列得分与复核得分一致。")
    if score.chart:
        _picture(document, Picture("一级指标得分与分值", score.chart), counter.figure(), 15.0)
    _caption(document, f"表{counter.table()}  {title(result)}")
    score_table(document, result, score.measured)


def build_docx(data: ReportData) -> bytes:
    """The report as .docx bytes."""
    document = Document()
    _setup_styles(document)
    first = document.sections[0]
    _page_setup(first)
    _footer_page_numbers(first)
    counter = _Counter()
    _cover(document, data.cover)
    _heading(document, "一、评价概况", 1)
    _para(document, f"本报告为“{data.cover.evaluation}”的满意度调查结果与指标体系评分。"
                    f"被评价项目：{data.cover.project or '（未填写）'}；项目单位：{data.cover.unit or '（未填写）'}；"
                    f"评价期间：{data.cover.period}。")
    _heading(document, "二、满意度调查", 1)
    if not data.surveys:
        _para(document, "本评价项目没有使用问卷。")
    for number, section in enumerate(data.surveys, 1):
        _survey(document, number, section, counter)
    _score(document, data.score, counter)
    for section in document.sections[1:]:
        section.footer.is_linked_to_previous = True
    _fonts_everywhere(document)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
