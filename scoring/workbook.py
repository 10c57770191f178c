"""Indicator systems as Excel workbooks in the layout of a report's appendix table.

Evaluators keep indicator systems as Excel tables; this module writes an
IndicatorSystem to such a workbook and reads one back into the same system, so a
system can be written and corrected in Excel without YAML.

Three sheets:
- 指标: one row per node, its name in the column of its level (一级/二级/三级指标),
  then 分值, 评分规则, 参数 and 输入 (one "名称：值" per line), 报告得分, the survey
  source (问卷, 测量, 筛选) and 说明. Parents come before their children (an outline).
- 评分要素: the checks (要素) of checklist rules and the bands (分档) of `bands`
  rules, one per row, naming their indicator by its path ("决策 / 项目立项 / ...").
- 设置: project, period, total, reported total and the grade table.

Errors name the sheet, row and column (指标 表第7行“分值”列：不是数字) and raise
IndicatorWorkbookError, an IndicatorSystemError, so callers catch one class for both
formats. Pure Python (openpyxl, no Flask), like the rest of scoring/.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from .appendix import RULE_LABELS, strip_controls
from .files import FileRefused, read_bytes, xlsx_sheets
from .indicators import IndicatorSystem, IndicatorSystemError, Node, load_system
from .rules import RULES, RuleInputError, fmt_num, to_decimal

SHEET_NODES = "指标"
SHEET_ITEMS = "评分要素"
SHEET_SETTINGS = "设置"
LEVEL_COLUMNS = ("一级指标", "二级指标", "三级指标")
NODE_COLUMNS = (*LEVEL_COLUMNS, "分值", "评分规则", "参数", "输入", "报告得分", "问卷", "测量", "筛选", "说明")
ITEM_COLUMNS = ("指标", "类型", "内容", "是否符合", "扣分", "占比", "下限", "档得分", "说明")
SETTING_COLUMNS = ("设置", "值", "最低分")
# Headers people write for the same column (the canonical name is what errors show).
ALIASES = {"权重": "分值", "规则": "评分规则", "评分方法": "评分规则", "得分": "报告得分",
           "备注": "说明", "满意度问卷": "问卷"}
PARAM_LABELS = {"full_at": "满分线", "zero_below": "零分线", "per_fail": "每项扣分",
                "per_point": "每点扣分", "steps": "扣分方式"}
INPUT_LABELS = {"value": "数值", "numerator": "分子", "denominator": "分母", "planned": "预算数",
                "actual": "实际数", "score": "评分", "reason": "理由"}
TEXT_KEYS = {"reason", "steps"}
STEP_LABELS = {"proportional": "按比例", "started_point": "按已开始的百分点"}
ITEM_KINDS = {"要素": "checks", "分档": "bands"}
YES = {"是", "符合", "具备", "✓", "√", "true", "yes", "y", "1"}
NO = {"否", "不符合", "不具备", "✗", "×", "false", "no", "n", "0"}
SETTING_KEYS = {"项目名称": "project", "评价期间": "period", "总分值": "total", "报告总分": "reported"}
GRADE_LABEL = "评价等级"
WIDTHS = {"一级指标": 12, "二级指标": 14, "三级指标": 22, "分值": 7, "评分规则": 11, "参数": 16,
          "输入": 36, "报告得分": 9, "问卷": 16, "测量": 18, "筛选": 14, "说明": 40,
          "指标": 36, "类型": 7, "内容": 48, "是否符合": 9, "扣分": 7, "占比": 7, "下限": 8,
          "档得分": 8, "设置": 12, "值": 40, "最低分": 9}
_LINE = re.compile(r"^\s*([^：:\n]{1,20}?)\s*[：:]\s?(.*)$")
_RAW_KEY = re.compile(r"[a-z_][a-z0-9_]*")
XLSX_MAGIC = b"PK\x03\x04"


class IndicatorWorkbookError(IndicatorSystemError):
    """A workbook is refused; ``sheet``, ``row`` and ``column`` say where (any may be None)."""

    def __init__(self, message: str, sheet: str | None = None, row: int | None = None,
                 column: str | None = None, path: str | None = None) -> None:
        """Build '指标 表第7行“分值”列：不是数字' from the place and the message."""
        where = f"{sheet} 表" if sheet else ""
        if row:
            where += f"第{row}行"
        if column:
            where += f"“{column}”列"
        super().__init__(f"{where}：{message}" if where else message, path)
        self.sheet, self.row, self.column, self.problem = sheet, row, column, message


# --- plain data ------------------------------------------------------------------------


def plain_number(number: Decimal) -> int | float | str:
    """A Decimal as YAML would hold it: int if whole, float if exact, else its text."""
    if number == number.to_integral_value():
        return int(number)
    as_float = float(number)
    return as_float if Decimal(repr(as_float)) == number else format(number, "f")


def _plain(value: Any) -> Any:
    """Numbers as plain_number, containers walked; text and booleans unchanged."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float, Decimal)):
        return plain_number(to_decimal(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def system_data(system: IndicatorSystem) -> dict[str, Any]:
    """The system as the plain mapping a YAML file holds (load_system gives it back).

    Numbers are normalised (4.0 and 4 are the same), so two systems are the same
    system exactly when their system_data are equal.
    """
    data: dict[str, Any] = {"project": system.project, "period": system.period,
                            "total": plain_number(system.total)}
    if system.reported is not None:
        data["reported"] = plain_number(system.reported)
    data["grades"] = [{"label": g.label, "min": plain_number(g.min)} for g in system.grades]
    data["indicators"] = [_node_data(n) for n in system.indicators]
    return data


def _node_data(node: Node) -> dict[str, Any]:
    """One node (and its subtree) as a plain mapping."""
    data: dict[str, Any] = {"name": node.name, "weight": plain_number(node.weight)}
    if node.reported is not None:
        data["reported"] = plain_number(node.reported)
    if node.rule is not None:
        data["rule"] = node.rule
    data.update({k: _plain(v) for k, v in node.params.items()})
    if node.children:
        data["children"] = [_node_data(c) for c in node.children]
    return data


def system_yaml(system: IndicatorSystem) -> str:
    """The system as YAML text (what the stored-system table keeps for a workbook upload)."""
    import yaml  # PyYAML is already a dependency of files.py

    return yaml.safe_dump(system_data(system), allow_unicode=True, sort_keys=False, width=1000)


# --- writing -------------------------------------------------------------------------


def write_workbook(system: IndicatorSystem | Mapping[str, Any]) -> bytes:
    """XLSX bytes of a system (or of its raw YAML mapping, even an invalid one) in the appendix layout."""
    from openpyxl import Workbook

    data = system_data(system) if isinstance(system, IndicatorSystem) else _plain(dict(system))
    nodes, items = [], []
    for top in data.get("indicators") or []:
        _node_rows(top, 1, (), nodes, items)
    settings = [["项目名称", data.get("project") or ""], ["评价期间", data.get("period") or ""],
                ["总分值", data.get("total", 100)]]
    if data.get("reported") is not None:
        settings.append(["报告总分", data["reported"]])
    settings += [[GRADE_LABEL, g.get("label"), g.get("min")] for g in data.get("grades") or []]
    workbook = Workbook()
    _fill(workbook.active, SHEET_NODES, NODE_COLUMNS, nodes)
    _fill(workbook.create_sheet(), SHEET_ITEMS, ITEM_COLUMNS, items)
    _fill(workbook.create_sheet(), SHEET_SETTINGS, SETTING_COLUMNS, settings)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _node_rows(node: Mapping[str, Any], level: int, parents: tuple[str, ...],
               rows: list[list[Any]], items: list[list[Any]]) -> None:
    """Append the row of a node (and its subtree) and the rows of its checks and bands."""
    if level > len(LEVEL_COLUMNS):
        raise IndicatorWorkbookError(f"{' / '.join((*parents, str(node.get('name'))))}：层级超过三级，"
                                     "附表格式只有一级、二级、三级指标")
    name = str(node.get("name") or "")
    path = (*parents, name)
    params, inputs = [], []
    for key, value in node.items():
        if key in ("name", "weight", "reported", "rule", "children", "note", "source", "checks", "bands"):
            continue
        label = PARAM_LABELS.get(key) or INPUT_LABELS.get(key) or key
        if key == "steps":
            value = STEP_LABELS.get(value, value)
        if isinstance(value, (Mapping, list)):
            raise IndicatorWorkbookError(f"{' / '.join(path)}：`{key}` 是列表或映射，附表格式写不下")
        (params if key in PARAM_LABELS else inputs).append(f"{label}：{_text(value)}")
    source = node.get("source") if isinstance(node.get("source"), Mapping) else {}
    filters = source.get("filters") if isinstance(source.get("filters"), Mapping) else {}
    levels = ["", "", ""]
    levels[level - 1] = name
    rule = node.get("rule")
    rows.append([*levels, node.get("weight"), RULE_LABELS.get(rule, rule) if rule else "",
                 "\n".join(params), "\n".join(inputs), node.get("reported"),
                 source.get("survey", ""), source.get("measure", ""),
                 "\n".join(f"{k}：{v}" for k, v in filters.items()), node.get("note") or ""])
    for check in node.get("checks") or []:
        if isinstance(check, Mapping):
            ok = check.get("ok")
            items.append([" / ".join(path), "要素", check.get("text"),
                          "是" if ok is True else "否" if ok is False else ok,
                          check.get("deduct"), check.get("share"), None, None, check.get("note")])
    for band in node.get("bands") or []:
        if isinstance(band, Mapping):
            items.append([" / ".join(path), "分档", None, None, None, None, band.get("min"),
                          band.get("score"), band.get("note")])
    for child in node.get("children") or []:
        _node_rows(child, level + 1, path, rows, items)


def _text(value: Any) -> str:
    """A parameter value as the text after '名称：'."""
    if isinstance(value, bool):
        return "是" if value else "否"
    return str(value)


def _fill(sheet: Any, title: str, columns: tuple[str, ...], rows: list[list[Any]]) -> None:
    """Write a header (bold, frozen), rows and column widths into a sheet."""
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    sheet.title = title
    sheet.append(list(columns))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
    for row in rows:
        sheet.append([_cell(value) for value in row])
    for cell in (c for line in sheet.iter_rows(min_row=2) for c in line):
        if isinstance(cell.value, str):
            # A text that starts with "=" stays text: the cell is a string, never a formula.
            cell.data_type = "s"
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"
    for index, column in enumerate(columns, 1):
        sheet.column_dimensions[get_column_letter(index)].width = WIDTHS.get(column, 12)


def _cell(value: Any) -> Any:
    """A cell value: numbers as numbers, text without control characters, None as empty."""
    if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return strip_controls(_text(value))


# --- reading -------------------------------------------------------------------------


def is_workbook(name: str | None, data: bytes) -> bool:
    """True for an .xlsx file name or bytes that start like a zip (an XLSX workbook)."""
    return bool(name and str(name).lower().endswith(".xlsx")) or data[:4] == XLSX_MAGIC


def load_system_file(path: Path | str) -> IndicatorSystem:
    """Load a system from a YAML file or an XLSX workbook (by suffix or magic bytes)."""
    data = _read(path)
    if is_workbook(str(path), data):
        return read_workbook(data)
    return load_system(data)


def _read(path: Path | str) -> bytes:
    """The file's bytes through the guarded reader (size cap)."""
    try:
        return read_bytes(Path(path))
    except FileRefused as exc:
        raise IndicatorSystemError(str(exc)) from None


def read_workbook(data: bytes) -> IndicatorSystem:
    """Read and validate an indicator-system workbook; raise IndicatorWorkbookError naming the cell."""
    try:
        sheets = xlsx_sheets(data)
    except FileRefused as exc:
        raise IndicatorWorkbookError(str(exc)) from None
    for name in (SHEET_NODES, SHEET_SETTINGS):
        if name not in sheets:
            raise IndicatorWorkbookError(
                f"缺少“{name}”表（工作表应为：{SHEET_NODES}、{SHEET_ITEMS}、{SHEET_SETTINGS}）")
    reader = _Reader()
    data_map = reader.settings(sheets[SHEET_SETTINGS])
    data_map["indicators"] = reader.nodes(sheets[SHEET_NODES])
    reader.items(sheets.get(SHEET_ITEMS, []))
    reader.check_sums(data_map)
    try:
        return load_system(data_map)
    except IndicatorWorkbookError:
        raise
    except IndicatorSystemError as exc:
        raise reader.place(exc) from None


class _Reader:
    """Reads the three sheets into the mapping load_system takes, remembering each node's row."""

    def __init__(self) -> None:
        """Start with no nodes seen."""
        self.rows: dict[str, int] = {}  # node path -> row of the 指标 sheet
        self.leaves: dict[str, dict[str, Any]] = {}
        self.settings_rows: dict[str, int] = {}

    # -- headers --

    @staticmethod
    def header(sheet: str, rows: list[tuple[int, list[str]]], columns: tuple[str, ...],
               required: tuple[str, ...]) -> tuple[dict[str, int], list[tuple[int, list[str]]]]:
        """Map the header row to column indexes; refuse unknown or missing headers."""
        rows = [(n, cells) for n, cells in rows if any(c.strip() for c in cells)]
        if not rows:
            raise IndicatorWorkbookError("表是空的", sheet)
        number, cells = rows[0]
        found: dict[str, int] = {}
        for index, text in enumerate(cells):
            name = ALIASES.get(text.strip(), text.strip())
            if not name:
                continue
            if name not in columns:
                raise IndicatorWorkbookError(f"未知的列名“{text.strip()}”（可用：{'、'.join(columns)}）",
                                             sheet, number, _letter(index))
            if name in found:
                raise IndicatorWorkbookError(f"“{name}”列出现了两次", sheet, number, _letter(index))
            found[name] = index
        missing = [c for c in required if c not in found]
        if missing:
            raise IndicatorWorkbookError(f"缺少“{'”“'.join(missing)}”列", sheet, number)
        return found, rows[1:]

    # -- 设置 --

    def settings(self, rows: list[tuple[int, list[str]]]) -> dict[str, Any]:
        """The top-level keys and the grade table from the 设置 sheet."""
        columns, body = self.header(SHEET_SETTINGS, rows, SETTING_COLUMNS, ("设置", "值"))
        data: dict[str, Any] = {}
        grades = []
        for number, cells in body:
            key = _get(cells, columns, "设置")
            value = _get(cells, columns, "值")
            if key == GRADE_LABEL:
                if not value:
                    raise IndicatorWorkbookError("等级没有名称", SHEET_SETTINGS, number, "值")
                grades.append({"label": value, "min": self.number(
                    _get(cells, columns, "最低分"), SHEET_SETTINGS, number, "最低分", required=True)})
            elif key in SETTING_KEYS:
                target = SETTING_KEYS[key]
                self.settings_rows[target] = number
                if target in ("total", "reported"):
                    if value:
                        data[target] = self.number(value, SHEET_SETTINGS, number, "值")
                else:
                    data[target] = value
            else:
                raise IndicatorWorkbookError(
                    f"未知的设置“{key}”（可用：{'、'.join([*SETTING_KEYS, GRADE_LABEL])}）",
                    SHEET_SETTINGS, number, "设置")
        if grades:
            data["grades"] = grades
            self.settings_rows["grades"] = body[0][0]
        return data

    # -- 指标 --

    def nodes(self, rows: list[tuple[int, list[str]]]) -> list[dict[str, Any]]:
        """The tree of nodes from the outline rows of the 指标 sheet."""
        columns, body = self.header(SHEET_NODES, rows, NODE_COLUMNS, (*LEVEL_COLUMNS, "分值", "评分规则"))
        top: list[dict[str, Any]] = []
        chain: list[tuple[dict[str, Any], str]] = []  # the open ancestors (node, path)
        siblings: dict[str, dict[str, int]] = {}  # parent path -> {name: row}
        for number, cells in body:
            named = [(lvl, _get(cells, columns, col)) for lvl, col in enumerate(LEVEL_COLUMNS, 1)
                     if _get(cells, columns, col)]
            if not named:
                raise IndicatorWorkbookError("没有指标名称（一级、二级、三级指标列都是空的）",
                                             SHEET_NODES, number, LEVEL_COLUMNS[0])
            if len(named) > 1:
                raise IndicatorWorkbookError("一行只写一个指标：一级、二级、三级指标列只能填一列",
                                             SHEET_NODES, number, LEVEL_COLUMNS[named[1][0] - 1])
            level, name = named[0]
            column = LEVEL_COLUMNS[level - 1]
            if level > len(chain) + 1:
                raise IndicatorWorkbookError(
                    f"{LEVEL_COLUMNS[level - 1]}“{name}”上面没有它的{LEVEL_COLUMNS[level - 2]}"
                    f"（层级不明：先写上级指标的行）", SHEET_NODES, number, column)
            del chain[level - 1:]
            parent_path = chain[-1][1] if chain else ""
            seen = siblings.setdefault(parent_path, {})
            if name in seen:
                raise IndicatorWorkbookError(f"与第{seen[name]}行重名：{name}", SHEET_NODES, number, column)
            seen[name] = number
            path = f"{parent_path} / {name}" if parent_path else name
            node = self.node(name, path, number, cells, columns)
            if chain:
                parent = chain[-1][0]
                if parent.get("rule"):
                    raise IndicatorWorkbookError(
                        f"“{parent['name']}”有评分规则，不能再有下级指标（下级指标：{name}）",
                        SHEET_NODES, self.rows[chain[-1][1]], "评分规则")
                parent.setdefault("children", []).append(node)
            else:
                top.append(node)
            chain.append((node, path))
        if not top:
            raise IndicatorWorkbookError("没有任何指标", SHEET_NODES)
        return top

    def node(self, name: str, path: str, number: int, cells: list[str],
             columns: dict[str, int]) -> dict[str, Any]:
        """One node's mapping from its row."""
        self.rows[path] = number
        weight = _get(cells, columns, "分值")
        if not weight:
            raise IndicatorWorkbookError(f"缺少分值（指标：{name}）", SHEET_NODES, number, "分值")
        node: dict[str, Any] = {"name": name, "weight": self.number(weight, SHEET_NODES, number, "分值")}
        reported = _get(cells, columns, "报告得分")
        if reported:
            node["reported"] = self.number(reported, SHEET_NODES, number, "报告得分")
        rule = _get(cells, columns, "评分规则")
        if rule:
            node["rule"] = _rule_name(rule, number)
            self.leaves[path] = node
        for column in ("参数", "输入"):
            for key, value in _pairs(_get(cells, columns, column), number, column):
                if key in node:
                    raise IndicatorWorkbookError(f"“{_label(key)}”写了两次", SHEET_NODES, number, column)
                node[key] = self.param(key, value, number, column)
        survey, measure = _get(cells, columns, "问卷"), _get(cells, columns, "测量")
        filters = _get(cells, columns, "筛选")
        if survey or measure or filters:
            if not survey or not measure:
                missing = "问卷" if not survey else "测量"
                raise IndicatorWorkbookError("问卷和测量要一起填写", SHEET_NODES, number, missing)
            node["source"] = {"survey": survey, "measure": measure}
            if filters:
                node["source"]["filters"] = {k: v for k, v in _pairs(filters, number, "筛选", raw=True)}
        note = _get(cells, columns, "说明")
        if note:
            node["note"] = note
        return node

    def param(self, key: str, value: str, number: int, column: str) -> Any:
        """A parameter's value: text keys as text (steps by label), the rest as numbers."""
        if key == "steps":
            return {v: k for k, v in STEP_LABELS.items()}.get(value, value)
        if key in TEXT_KEYS:
            return value
        if key in PARAM_LABELS or key in INPUT_LABELS:
            return self.number(value, SHEET_NODES, number, column, what=_label(key))
        try:  # a key of a rule registered elsewhere: a number if it reads as one
            return plain_number(to_decimal(value))
        except RuleInputError:
            return value

    @staticmethod
    def number(text: str, sheet: str, row: int, column: str, what: str | None = None,
               required: bool = False) -> int | float | str | None:
        """A cell's number (plain), or an error naming the cell: 不是数字."""
        if not text.strip():
            if required:
                raise IndicatorWorkbookError("缺少数字", sheet, row, column)
            return None
        cleaned = text.strip().replace(",", "")
        percent = cleaned.endswith("%")
        try:
            value = to_decimal(cleaned.rstrip("%"))
        except RuleInputError:
            label = f"{what} " if what else ""
            raise IndicatorWorkbookError(f"{label}不是数字：{text.strip()[:40]}", sheet, row, column) from None
        return plain_number(value / 100 if percent else value)

    # -- 评分要素 --

    def items(self, rows: list[tuple[int, list[str]]]) -> None:
        """Attach the checks and bands of the 评分要素 sheet to their leaves."""
        if not any(any(c.strip() for c in cells) for _, cells in rows):
            return
        columns, body = self.header(SHEET_ITEMS, rows, ITEM_COLUMNS, ("指标", "类型"))
        for number, cells in body:
            path = re.sub(r"\s*/\s*", " / ", _get(cells, columns, "指标"))
            if path not in self.rows:
                raise IndicatorWorkbookError(f"“指标”表里没有这个指标：{path}", SHEET_ITEMS, number, "指标")
            if path not in self.leaves:
                raise IndicatorWorkbookError(f"{path} 没有评分规则，不能有评分要素或分档",
                                             SHEET_ITEMS, number, "指标")
            kind = _get(cells, columns, "类型")
            if kind not in ITEM_KINDS:
                raise IndicatorWorkbookError(f"类型只能是“要素”或“分档”，不是“{kind}”", SHEET_ITEMS, number, "类型")
            item: dict[str, Any] = {}
            if kind == "要素":
                item["text"] = _get(cells, columns, "内容")
                item["ok"] = _yes_no(_get(cells, columns, "是否符合"), number)
                for column, key in (("扣分", "deduct"), ("占比", "share")):
                    if _get(cells, columns, column):
                        item[key] = self.number(_get(cells, columns, column), SHEET_ITEMS, number, column)
            else:
                item["min"] = self.number(_get(cells, columns, "下限"), SHEET_ITEMS, number, "下限", required=True)
                item["score"] = self.number(_get(cells, columns, "档得分"), SHEET_ITEMS, number, "档得分",
                                            required=True)
            if _get(cells, columns, "说明"):
                item["note"] = _get(cells, columns, "说明")
            self.leaves[path].setdefault(ITEM_KINDS[kind], []).append(item)

    # -- checks across rows --

    def check_sums(self, data: dict[str, Any]) -> None:
        """Refuse children whose weights do not add up to their parent's (naming the parent's row)."""
        stack = [(n, n["name"]) for n in data["indicators"]]
        while stack:
            node, path = stack.pop()
            children = node.get("children") or []
            if children:
                total = sum((to_decimal(c["weight"]) for c in children), Decimal(0))
                if total != to_decimal(node["weight"]):
                    raise IndicatorWorkbookError(
                        f"{path} 的下级指标分值合计 {fmt_num(total)}，与它的分值 "
                        f"{fmt_num(to_decimal(node['weight']))} 不符", SHEET_NODES, self.rows[path], "分值", path)
                stack += [(c, f"{path} / {c['name']}") for c in children]
        level1 = sum((to_decimal(n["weight"]) for n in data["indicators"]), Decimal(0))
        total = to_decimal(data.get("total", 100))
        if level1 != total:
            raise IndicatorWorkbookError(f"一级指标分值合计 {fmt_num(level1)}，与总分值 {fmt_num(total)} 不符",
                                         SHEET_SETTINGS, self.settings_rows.get("total"),
                                         "值" if "total" in self.settings_rows else None)

    def place(self, exc: IndicatorSystemError) -> IndicatorWorkbookError:
        """An engine error (named by node path) as an error naming the node's row."""
        text = str(exc)
        if exc.path and exc.path in self.rows:
            message = text[len(exc.path) + 2:] if text.startswith(f"{exc.path}: ") else text
            column = "分值" if "weight" in message else "评分规则" if "rule" in message else "输入"
            return IndicatorWorkbookError(f"{exc.path}：{message}", SHEET_NODES, self.rows[exc.path],
                                          column, exc.path)
        if text.startswith("grades"):
            return IndicatorWorkbookError(text, SHEET_SETTINGS, self.settings_rows.get("grades"), "最低分")
        return IndicatorWorkbookError(text, SHEET_NODES)


def _letter(index: int) -> str:
    """Excel column letters of a 0-based index (for a header cell without a name)."""
    from .files import column_letter

    return column_letter(index)


def _get(cells: list[str], columns: dict[str, int], name: str) -> str:
    """A cell's text by column name ('' when the column or cell is absent)."""
    index = columns.get(name)
    return cells[index].strip() if index is not None and index < len(cells) else ""


def _label(key: str) -> str:
    """The Chinese label of a parameter key."""
    return PARAM_LABELS.get(key) or INPUT_LABELS.get(key) or key


_KEYS_BY_LABEL = {**{v: k for k, v in PARAM_LABELS.items()}, **{v: k for k, v in INPUT_LABELS.items()}}


def _pairs(text: str, row: int, column: str, raw: bool = False) -> list[tuple[str, str]]:
    """'名称：值' lines of a cell; a line without a known name continues the previous value."""
    pairs: list[list[str]] = []
    for line in text.splitlines():
        found = _LINE.match(line)
        key = None
        if found:
            label = found.group(1).strip()
            key = label if raw else _KEYS_BY_LABEL.get(label) or (
                label if label in PARAM_LABELS or label in INPUT_LABELS or _RAW_KEY.fullmatch(label) else None)
        if key is not None:
            pairs.append([key, found.group(2).strip()])
        elif pairs:
            pairs[-1][1] += "\n" + line
        elif line.strip():
            known = "、".join([*PARAM_LABELS.values(), *INPUT_LABELS.values()])
            raise IndicatorWorkbookError(f"无法识别“{line.strip()[:30]}”：每行写“名称：值”，名称可用：{known}",
                                         SHEET_NODES, row, column)
    return [(k, v.strip()) for k, v in pairs]


def _rule_name(text: str, row: int) -> str:
    """The rule name of a 评分规则 cell: its Chinese label or the rule's own name."""
    by_label = {label: name for name, label in RULE_LABELS.items()}
    candidate = re.sub(r"[（(].*?[)）]\s*$", "", text).strip()
    for value in (text, candidate):
        if value in RULES:
            return value
        if value in by_label:
            return by_label[value]
    known = "、".join(f"{RULE_LABELS.get(n, n)}（{n}）" for n in sorted(RULES))
    raise IndicatorWorkbookError(f"未知的评分规则“{text[:30]}”（可用：{known}）", SHEET_NODES, row, "评分规则")


def _yes_no(text: str, row: int) -> bool:
    """是/否 (and the usual spellings) as a boolean, else an error naming the cell."""
    if text.lower() in YES:
        return True
    if text.lower() in NO:
        return False
    raise IndicatorWorkbookError(f"只能填“是”或“否”，不是“{text[:20]}”", SHEET_ITEMS, row, "是否符合")


def workbook_of_yaml(path: Path | str) -> bytes:
    """The workbook of a YAML file; an invalid system is written as it stands, so its
    workbook is refused on reading with the same error, naming the row (examples/ holds one)."""
    try:
        return write_workbook(load_system_file(path))
    except IndicatorWorkbookError:
        raise
    except IndicatorSystemError:
        from .files import load_yaml

        return write_workbook(load_yaml(_read(path)))


if __name__ == "__main__":  # python -m scoring.workbook examples/*.yaml: rewrite the workbooks beside them
    import sys

    for name in sys.argv[1:]:
        Path(name).with_suffix(".xlsx").write_bytes(workbook_of_yaml(name))
        print(Path(name).with_suffix(".xlsx"))
