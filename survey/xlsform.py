"""Questionnaires written as XLSForm-style Excel workbooks, read and written.

A workbook has the sheets `survey` (one row per question), `choices` (the answer lists),
`settings` (id, version, titles, intro and thank-you texts) and `measures` (the rates the
questionnaire yields). `read_workbook` turns one into the definition dict that
`survey.questionnaires.validate_definition` / `store_definition` take, or raises
WorkbookError listing every problem found with its sheet, row and column; `write_workbook`
is its inverse, so the standard questionnaires round-trip. `paper_template` is the blank
sheet for paper answers that `flask --app app responses import` reads.

What XLSForm means is kept where the subset overlaps: `select_one LIST`, `select_multiple
LIST`, `integer`, `decimal`, `text`, `note`; `relevant` and `constraint` as XPath-like
expressions (parsed to a small tree here, never evaluated as code). Mapping onto the
definition format:

- a `select_one` list of exactly the names 1-5 with `appearance: likert` is the faces scale
  (`scale5`; the agreement words give `scale: agree`, other words `labels`);
- a `select_one` list of exactly the names 1 and 0 is a yes/no question (`yesno`; words other
  than 是/否 give `labels`);
- `integer` is `number` with `integer: true`, `decimal` is `number`;
- `begin group` / `end group` are accepted and dropped (a group's `relevant` is joined with
  `and` into each question inside it); `start`, `end` and `today` are dropped too, since every
  response records its start and submit times anyway. Repeats and every other type are refused.

Columns beyond XLSForm carry what the app's definitions have besides: `meta` (e.g.
respondent_type), `item` (an item-satisfaction scale), `max_length`, `wording_proxy::zh|en` and
`wording_assisted::zh|en` (the words for a relative or a staff member answering), `exclusive`
on a choice; `minutes` and `audience` in settings; `satisfied` in measures.
"""

import csv
import io
import re
from dataclasses import dataclass

from scoring.files import FileRefused, check_xlsx
from survey import questionnaires
from survey.importer import EXPORT_ONLY_COLUMNS, META_COLUMNS
from survey.questionnaires import SCALE5, SCALE5_AGREE, YESNO

SURVEY_COLUMNS = ("type", "name", "label::zh", "label::en", "hint::zh", "hint::en", "required", "relevant",
                  "constraint", "constraint_message::zh", "constraint_message::en", "appearance",
                  "meta", "item", "max_length", "wording_proxy::zh", "wording_proxy::en",
                  "wording_assisted::zh", "wording_assisted::en")
CHOICES_COLUMNS = ("list_name", "name", "label::zh", "label::en", "exclusive")
# XLSForm's form_title is one text (pyxform fails on a translated `form_title::en`), so the
# writer puts the Chinese title in `form_title` and the English one beside it in
# `form_title_en`; the reader also takes `form_title::zh` and `form_title::en`.
SETTINGS_COLUMNS = ("form_id", "version", "form_title", "form_title_en", "intro::zh", "intro::en",
                    "thanks::zh", "thanks::en", "minutes", "audience")
HEADER_ALIASES = {"form_title_en": "form_title::en"}
MEASURES_COLUMNS = ("name", "kind", "question", "satisfied")
REQUIRED_COLUMNS = {"survey": ("type", "name", "label::zh"), "choices": ("list_name", "name", "label::zh"),
                    "settings": ("form_id", "version", "form_title::zh"),
                    "measures": ("name", "kind", "question")}
MEASURE_KINDS = {"top2", "mean_yes", "mean_top2", "yes_count"}
# Types XLSForm has that the app does not ask; named so the refusal says 不支持 geopoint.
DROPPED_TYPES = {"start", "end", "today"}
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
CHOICE_NAME = re.compile(r"[^\s;；|]+\Z")
# Names the paper import and the exports already use for their own columns.
RESERVED_NAMES = set(META_COLUMNS) | set(EXPORT_ONLY_COLUMNS)
YES = {"yes", "true", "true()", "1", "是", "y"}
NO = {"", "no", "false", "false()", "0", "否", "n"}
MAX_ROWS = 2000  # a questionnaire has tens of questions; this bounds a hostile workbook


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a workbook: sheet, row (1-based as Excel shows it), column header."""

    sheet: str
    row: int | None
    column: str | None
    message: str

    def __str__(self):
        """`survey 表第3行“type”列：不支持 geopoint` (the parts that are known)."""
        where = f"{self.sheet} 表"
        if self.row is not None:
            where += f"第{self.row}行"
        if self.column:
            where += f"“{self.column}”列"
        return f"{where}：{self.message}"


class WorkbookError(ValueError):
    """A workbook cannot be read as a questionnaire; `problems` lists every Problem found."""

    def __init__(self, problems):
        """Keep the problems; the message lists them one per line."""
        self.problems = list(dict.fromkeys(problems))  # a group's problem once, not per question
        super().__init__("\n".join(str(p) for p in self.problems))


class ExpressionError(ValueError):
    """A relevant or constraint expression cannot be read; the message is in Chinese."""


# --- expressions ------------------------------------------------------------------------

_TOKEN = re.compile(r"""\s*(?:
    (?P<ref>\$\{[^}]*\})
  | (?P<string>'[^']*'|"[^"]*")
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op>!=|>=|<=|=|>|<)
  | (?P<punct>[(),])
  | (?P<dot>\.(?![\w.]))
  | (?P<word>[A-Za-z_][\w:.-]*)
  | (?P<bad>\S)
)""", re.VERBOSE)
FUNCTIONS = {"selected", "not"}


def _tokens(text):
    """The tokens of an expression as (kind, text); refuses a character that has no place."""
    tokens = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            break
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "bad":
            raise ExpressionError(f"看不懂“{value}”（第{match.start(kind) + 1}个字符）")
        tokens.append((kind, value))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent over `or` / `and` / `not()` / parentheses / comparisons.

    `subject` is "ref" for `relevant` (comparisons of ${q}) or "dot" for `constraint`
    (comparisons of `.`). The result is the definition's rule tree; nothing is evaluated.
    """

    def __init__(self, text, subject):
        """Tokenise `text`; the subject decides what a comparison may start with."""
        self.tokens = _tokens(text)
        self.position = 0
        self.subject = subject
        if not self.tokens:
            raise ExpressionError("表达式是空的")

    def peek(self):
        """The next token, or (None, None) at the end."""
        return self.tokens[self.position] if self.position < len(self.tokens) else (None, None)

    def take(self, kind=None, value=None):
        """Consume the next token, refusing it unless it has this kind (and text)."""
        token = self.peek()
        if token[0] is None:
            raise ExpressionError("表达式不完整（缺少右括号或比较的值？）")
        if (kind and token[0] != kind) or (value and token[1] != value):
            wanted = value or {"ref": "${题目名}", "punct": "括号或逗号"}.get(kind, kind)
            raise ExpressionError(f"“{token[1]}”处应为 {wanted}")
        self.position += 1
        return token

    def parse(self):
        """The whole expression as a tree; refuses anything left over."""
        tree = self.parse_or()
        if self.position < len(self.tokens):
            raise ExpressionError(f"“{self.tokens[self.position][1]}”处多出了内容")
        return tree

    def parse_or(self):
        """a or b or c -> {any: [...]}."""
        parts = [self.parse_and()]
        while self.peek() == ("word", "or"):
            self.take()
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else {"any": _flatten(parts, "any")}

    def parse_and(self):
        """a and b and c -> {all: [...]}."""
        parts = [self.parse_unary()]
        while self.peek() == ("word", "and"):
            self.take()
            parts.append(self.parse_unary())
        return parts[0] if len(parts) == 1 else {"all": _flatten(parts, "all")}

    def parse_unary(self):
        """not(...), a parenthesised expression, selected(...) or one comparison."""
        kind, text = self.peek()
        if kind == "punct" and text == "(":
            self.take()
            tree = self.parse_or()
            self.take("punct", ")")
            return tree
        if kind == "word" and self.tokens[self.position + 1:self.position + 2] == [("punct", "(")]:
            if text not in FUNCTIONS:
                raise ExpressionError(f"不支持函数 {text}()（只支持 selected() 和 not()）")
            self.take()
            self.take("punct", "(")
            if text == "not":
                inner = self.parse_or()
                self.take("punct", ")")
                return {"not": inner}
            subject = self.subject_token()
            self.take("punct", ",")
            value = self.literal()
            self.take("punct", ")")
            leaf = {"includes": str(value)}
            return dict({"question": subject}, **leaf) if self.subject == "ref" else leaf
        return self.comparison()

    def subject_token(self):
        """${q} in a relevant (its name), `.` in a constraint (None)."""
        kind, text = self.peek()
        if kind is None:
            raise ExpressionError("表达式不完整（and / or 后面缺少条件？）")
        if self.subject == "ref":
            if kind != "ref":
                raise ExpressionError(f"“{text}”处应为 ${{题目名}}")
            self.take()
            name = text[2:-1].strip()
            if not name:
                raise ExpressionError("${} 中缺少题目名")
            return name
        if kind != "dot":
            raise ExpressionError(f"约束只能比较本题的回答“.”，不能比较“{text}”")
        self.take()
        return None

    def literal(self):
        """A quoted text or a number."""
        kind, text = self.peek()
        if kind == "string":
            self.take()
            return text[1:-1]
        if kind == "number":
            self.take()
            return float(text) if "." in text else int(text)
        if kind is None:
            raise ExpressionError("表达式不完整（缺少比较的值）")
        raise ExpressionError(f"“{text}”处应为带引号的文字或数字")

    def comparison(self):
        """${q} = 'v' / ${q} != 'v' / ${q} >= 3 (relevant); . >= 0 (constraint)."""
        subject = self.subject_token()
        kind, op = self.peek()
        if kind != "op":
            raise ExpressionError(f"“{op or '结尾'}”处应为比较符号 = != > >= < <=")
        self.take()
        value = self.literal()
        if isinstance(value, str) and op not in ("=", "!="):
            raise ExpressionError(f"“{op}”只能和数字比较，不能和“{value}”比较")
        if self.subject == "dot":
            return {"op": op, "value": value}
        if op in ("=", "!="):
            leaf = {"question": subject, "equals": str(value)}
            return leaf if op == "=" else {"not": leaf}
        return {"question": subject, "op": op, "value": value}


def _flatten(parts, key):
    """Merge nested all-in-all (or any-in-any) into one list: a and (b and c) = a and b and c."""
    flat = []
    for part in parts:
        flat.extend(part[key] if key in part else [part])
    return flat


def parse_relevant(text):
    """A `relevant` expression as a show-if tree; ExpressionError (Chinese) if malformed."""
    return _Parser(text, "ref").parse()


def parse_constraint(text):
    """A `constraint` expression as a constraint tree; ExpressionError (Chinese) if malformed."""
    return _Parser(text, "dot").parse()


# --- reading ----------------------------------------------------------------------------


def _header_key(text):
    """A header as its canonical name: case and spaces ignored, `label` alone is
    `label::zh`, and `label::Chinese (zh)` (the XLSForm way of naming a language) is `label::zh`."""
    key = re.sub(r"\s+", " ", str(text or "")).strip().lower()
    found = re.fullmatch(r"([\w]+)::.*\((\w+)\)", key)
    if found:
        key = f"{found.group(1)}::{found.group(2)}"
    if key in ("label", "hint", "constraint_message", "form_title", "intro", "thanks"):
        key += "::zh"
    return HEADER_ALIASES.get(key, key)


def _cell(value):
    """A cell's value as trimmed text: whole numbers without '.0', booleans as true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


class _Sheet:
    """The rows of one sheet as {column: text} with their Excel row numbers."""

    def __init__(self, name, rows):
        """Read the header (first non-empty row) and the rows below it."""
        self.name = name
        self.header_row = None
        self.columns = []
        self.rows = []
        for number, cells in rows:
            texts = [_cell(c) for c in cells]
            if not any(texts):
                continue
            if self.header_row is None:
                self.header_row = number
                self.columns = [_header_key(t) for t in texts]
                continue
            self.rows.append((number, {col: text for col, text in zip(self.columns, texts, strict=False)
                                       if col}))


def _load_sheets(data):
    """{sheet name (lower case): _Sheet} of a workbook, after the guarded check; WorkbookError if unreadable."""
    try:
        check_xlsx(data, MAX_ROWS, all_sheets=True)
    except FileRefused as exc:
        raise WorkbookError([Problem("survey", None, None, f"文件无法读取：{exc}")]) from None
    from openpyxl import load_workbook  # imported here: only workbook readers pay for it

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a damaged file
        raise WorkbookError([Problem("survey", None, None,
                                     f"不是可读的 .xlsx 文件（{type(exc).__name__}）")]) from None
    sheets = {}
    try:
        for sheet in workbook.worksheets:
            rows = []
            for number, row in enumerate(sheet.iter_rows(values_only=True), 1):
                if number > MAX_ROWS:
                    raise WorkbookError([Problem(sheet.title, number, None, f"行数超过 {MAX_ROWS}")])
                rows.append((number, row[:len(SURVEY_COLUMNS) * 3]))
            sheets[sheet.title.strip().lower()] = _Sheet(sheet.title.strip(), rows)
    except WorkbookError:
        raise
    except Exception as exc:  # a damaged sheet part
        raise WorkbookError([Problem("survey", None, None, f"工作表无法读取（{type(exc).__name__}）")]) from None
    finally:
        workbook.close()
    return sheets


def _yes(value, problems, sheet, row, column):
    """A yes/no cell (yes, true, 1, 是; blank is no) as a bool; a Problem for anything else."""
    lowered = value.strip().lower()
    if lowered in YES:
        return True
    if lowered not in NO:
        problems.append(Problem(sheet, row, column, f"应填 yes 或 no，不是“{value}”"))
    return False


def _localised(row, key):
    """{zh, en} of `key::zh` / `key::en` (en only when given), or None without Chinese."""
    words = {}
    for lang in ("zh", "en"):
        if row.get(f"{key}::{lang}"):
            words[lang] = row[f"{key}::{lang}"]
    return words or None


class _Reader:
    """One pass over a workbook's sheets, collecting every problem before giving up."""

    def __init__(self, sheets):
        """Start with the loaded sheets and no problems."""
        self.sheets = sheets
        self.problems = []

    def problem(self, sheet, row, column, message):
        """Note one problem and carry on."""
        self.problems.append(Problem(sheet, row, column, message))

    def sheet(self, name, required=True):
        """A sheet by name with its required columns checked; None if missing (noted when required)."""
        sheet = self.sheets.get(name)
        if sheet is None:
            if required:
                self.problem(name, None, None, f"缺少工作表“{name}”")
            return None
        missing = [c for c in REQUIRED_COLUMNS[name] if c not in sheet.columns]
        for column in missing:
            self.problem(name, sheet.header_row or 1, column, f"缺少必需的列“{column}”")
        return None if missing else sheet

    def read(self):
        """The definition dict, or WorkbookError with every problem."""
        settings = self.settings()
        lists = self.choices()
        questions = self.questions(lists)
        measures = self.measures(questions)
        if self.problems:
            raise WorkbookError(self.problems)
        definition = dict(settings, questions=questions)
        if measures:
            definition["measures"] = measures
        try:
            questionnaires.validate_definition(definition, "survey")
        except questionnaires.QuestionnaireError as exc:  # a gap this reader did not catch itself
            raise WorkbookError([Problem("survey", None, None, str(exc))]) from None
        return definition

    def settings(self):
        """id, version, title, intro, thanks, minutes, audience from the `settings` sheet."""
        sheet = self.sheet("settings")
        if sheet is None:
            return {}
        if not sheet.rows:
            self.problem("settings", (sheet.header_row or 1) + 1, "form_id", "缺少 form_id 和 version 这一行")
            return {}
        number, row = sheet.rows[0]
        result = {}
        form_id = row.get("form_id", "")
        if not NAME.match(form_id):
            self.problem("settings", number, "form_id", f"问卷编号“{form_id}”只能用英文字母、数字和 _ . -，"
                                                        "且以字母开头")
        result["id"] = form_id
        version = row.get("version", "")
        if not version.isdigit() or int(version) < 1:
            self.problem("settings", number, "version", f"版本号应为正整数，不是“{version}”")
        else:
            result["version"] = int(version)
        for key, column in (("title", "form_title"), ("intro", "intro"), ("thanks", "thanks")):
            words = _localised(row, column)
            if words and "zh" not in words:
                self.problem("settings", number, f"{column}::zh", "缺少中文")
            if words:
                result[key] = words
        if "title" not in result:
            self.problem("settings", number, "form_title::zh", "缺少问卷标题")
        if row.get("minutes"):
            if row["minutes"].isdigit():
                result["minutes"] = int(row["minutes"])
            else:
                self.problem("settings", number, "minutes", f"应为整数分钟，不是“{row['minutes']}”")
        if row.get("audience"):
            result["audience"] = row["audience"]
        return result

    def choices(self):
        """{list name: (first row, [choice dicts])} from the `choices` sheet."""
        sheet = self.sheets.get("choices")
        if sheet is None:
            return {}
        sheet = self.sheet("choices")
        if sheet is None:
            return {}
        lists = {}
        for number, row in sheet.rows:
            list_name, name = row.get("list_name", ""), row.get("name", "")
            if not list_name:
                self.problem("choices", number, "list_name", "缺少列表名")
                continue
            first, items = lists.setdefault(list_name, (number, []))
            if not CHOICE_NAME.match(name):
                self.problem("choices", number, "name", f"选项代码“{name}”不能为空，也不能含空格或 ; |")
                continue
            if any(item["value"] == name for item in items):
                self.problem("choices", number, "name", f"列表 {list_name} 中选项代码 {name} 重复")
                continue
            if not row.get("label::zh"):
                self.problem("choices", number, "label::zh", "缺少中文选项文字")
            choice = {"value": name, "zh": row.get("label::zh", "")}
            if row.get("label::en"):
                choice["en"] = row["label::en"]
            if _yes(row.get("exclusive", ""), self.problems, "choices", number, "exclusive"):
                choice["exclusive"] = True
            items.append(choice)
        return lists

    def questions(self, lists):
        """The questions of the `survey` sheet, groups dissolved, expressions parsed."""
        sheet = self.sheet("survey")
        if sheet is None:
            return []
        rows = self._question_rows(sheet)
        names = {}
        for number, row, _group in rows:
            name = row.get("name", "")
            if not NAME.match(name):
                self.problem("survey", number, "name", f"题目名“{name}”只能用英文字母、数字和 _ . -，且以字母开头")
            elif name in RESERVED_NAMES:
                self.problem("survey", number, "name", f"题目名“{name}”是纸质录入表的保留列名，请换一个")
            elif name in names:
                self.problem("survey", number, "name", f"题目名 {name} 重复（第{names[name]}行已用过）")
            else:
                names[name] = number
        questions = []
        order = {name: index for index, name in enumerate(names)}
        for number, row, group_rules in rows:
            question = self.question(number, row, lists)
            if question is None:
                continue
            rules = list(group_rules)
            if row.get("relevant"):
                rule = self.expression(number, "relevant", row["relevant"], parse_relevant)
                if rule is not None:
                    rules.append(rule)
            for rule_number, column, rule in rules:
                self.check_refs(rule_number, column, rule, row["name"], order, names)
            trees = [rule for _n, _c, rule in rules]
            if trees:
                question["show_if"] = trees[0] if len(trees) == 1 else {"all": _flatten(trees, "all")}
            questions.append(question)
        if not questions and not any(p.sheet == "survey" for p in self.problems):
            self.problem("survey", (sheet.header_row or 1) + 1, "type", "没有题目")
        return questions

    def _question_rows(self, sheet):
        """[(row, cells, group rules)] of the question rows; groups' relevant passed down."""
        rows, groups = [], []
        for number, row in sheet.rows:
            qtype = re.sub(r"\s+", " ", row.get("type", "")).strip().lower()
            if qtype in ("begin group", "begin_group"):
                rule = None
                if row.get("relevant"):
                    rule = self.expression(number, "relevant", row["relevant"], parse_relevant)
                groups.append((number, rule))
                continue
            if qtype in ("end group", "end_group"):
                if not groups:
                    self.problem("survey", number, "type", "end group 前没有 begin group")
                else:
                    groups.pop()
                continue
            if qtype in DROPPED_TYPES:
                continue
            if not qtype and not row.get("name"):
                continue
            group_rules = [rule for _n, rule in groups if rule is not None]
            rows.append((number, row, group_rules))
        for number, _rule in groups:
            self.problem("survey", number, "type", "begin group 没有对应的 end group")
        return rows

    def expression(self, number, column, text, parse):
        """(row, column, tree) of one expression cell, or None with the problem noted."""
        try:
            return number, column, parse(text)
        except ExpressionError as exc:
            self.problem("survey", number, column, f"表达式“{text}”有误：{exc}")
            return None

    def check_refs(self, number, column, rule, name, order, names):
        """Note a relevant naming an unknown question, the question itself, or a later one."""
        for ref in questionnaires.rule_questions(rule):
            if ref not in order:
                self.problem("survey", number, column, f"引用了不存在的题目 ${{{ref}}}")
            elif ref == name or order[ref] >= order.get(name, len(order)):
                self.problem("survey", number, column,
                             f"引用的题目 ${{{ref}}}（第{names[ref]}行）不在本题之前，只能引用前面的题目")

    def question(self, number, row, lists):
        """One question dict from a survey row, or None (problems noted)."""
        raw_type = re.sub(r"\s+", " ", row.get("type", "")).strip()
        parts = raw_type.split(" ")
        kind = parts[0].lower()
        if kind in ("select", "select_one", "select_multiple") and kind == "select" and len(parts) > 1:
            kind, parts = f"select_{parts[1].lower()}", [f"select_{parts[1].lower()}"] + parts[2:]
        appearance = row.get("appearance", "").strip().lower()
        question = {"id": row.get("name", "")}
        if kind in ("select_one", "select_multiple"):
            if len(parts) != 2:
                self.problem("survey", number, "type", f"“{raw_type}”应写成 {kind} 列表名"
                             + ("（不支持 or_other）" if len(parts) > 2 else ""))
                return None
            if parts[1] not in lists:
                self.problem("survey", number, "type", f"choices 表中没有列表 {parts[1]}")
                return None
            first, choices = lists[parts[1]]
            self._choice_type(question, kind, choices, appearance, number)
        elif kind in ("integer", "int", "decimal"):
            question["type"] = "number"
            if kind != "decimal":
                question["integer"] = True
        elif kind in ("text", "string"):
            question["type"] = "text"
        elif kind == "note":
            question["type"] = "note"
        else:
            self.problem("survey", number, "type", f"不支持 {raw_type or '空的类型'}"
                         if raw_type else "缺少题型")
            return None
        if "type" not in question:
            return None
        text = _localised(row, "label")
        if not text or "zh" not in text:
            self.problem("survey", number, "label::zh", "缺少中文题目文字")
        question["text"] = text or {}
        for key in ("hint", "constraint_message"):
            words = _localised(row, key)
            if words:
                question[key] = words
        for kind_of in ("proxy", "assisted"):
            words = _localised(row, f"wording_{kind_of}")
            if words:
                question.setdefault("wording", {})[kind_of] = words
        if _yes(row.get("required", ""), self.problems, "survey", number, "required"):
            if question["type"] == "note":
                self.problem("survey", number, "required", "说明（note）不能设为必答")
            question["required"] = True
        if _yes(row.get("item", ""), self.problems, "survey", number, "item"):
            question["item"] = True
        if row.get("meta"):
            question["meta"] = row["meta"]
        if row.get("max_length"):
            if row["max_length"].isdigit() and question["type"] == "text":
                question["max_length"] = int(row["max_length"])
            else:
                self.problem("survey", number, "max_length", "只有文字题（text）可以设最大字数，且应为正整数")
        if row.get("constraint"):
            if question["type"] in ("note", "multi"):
                self.problem("survey", number, "constraint", "说明和多选题不能设约束")
            else:
                found = self.expression(number, "constraint", row["constraint"], parse_constraint)
                if found is not None:
                    question["constraint"] = found[2]
        if appearance and appearance != "likert" and appearance not in ("minimal", "multiline", "numbers"):
            self.problem("survey", number, "appearance", f"不支持外观 {appearance}（只支持 likert）")
        return question

    def _choice_type(self, question, kind, choices, appearance, number):
        """single/multi with choices, or the faces scale, or yes/no, by the list's codes."""
        codes = {c["value"] for c in choices}
        if kind == "select_one" and appearance == "likert":
            if codes != {"1", "2", "3", "4", "5"}:
                self.problem("survey", number, "appearance", "likert（笑脸量表）的选项代码应为 1 到 5")
                return
            question["type"] = "scale5"
            words = {c["value"]: {k: c[k] for k in ("zh", "en") if k in c} for c in choices}
            if words == _words(SCALE5_AGREE):
                question["scale"] = "agree"
            elif words != _words(SCALE5):
                question["labels"] = words
            return
        if kind == "select_one" and codes == {"1", "0"} and not any(c.get("exclusive") for c in choices):
            question["type"] = "yesno"
            words = {c["value"]: {k: c[k] for k in ("zh", "en") if k in c} for c in choices}
            if words != _words(YESNO):
                question["labels"] = words
            return
        question["type"] = "single" if kind == "select_one" else "multi"
        question["choices"] = [dict(c) for c in choices]

    def measures(self, questions):
        """{name: spec} from the `measures` sheet (optional), each question checked."""
        if "measures" not in self.sheets:
            return {}
        sheet = self.sheet("measures")
        if sheet is None:
            return {}
        by_id = {q["id"]: q for q in questions}
        result = {}
        for number, row in sheet.rows:
            name, kind = row.get("name", ""), row.get("kind", "")
            if not NAME.match(name) or name in result:
                self.problem("measures", number, "name", f"指标名“{name}”为空、不合规或重复")
                continue
            if kind not in MEASURE_KINDS:
                self.problem("measures", number, "kind",
                             f"不支持 {kind or '空的类型'}（可用：{', '.join(sorted(MEASURE_KINDS))}）")
                continue
            refs = [ref.strip("${} ") for ref in re.split(r"[\s,，;；]+", row.get("question", "")) if ref.strip("${} ")]
            wanted = "yesno" if kind in ("mean_yes", "yes_count") else "scale5"
            bad = False
            if not refs or (kind in ("top2", "yes_count") and len(refs) != 1):
                how_many = "一道" if kind in ("top2", "yes_count") else "至少一道"
                self.problem("measures", number, "question", f"{kind} 需要{how_many}题目")
                continue
            for ref in refs:
                if ref not in by_id:
                    self.problem("measures", number, "question", f"没有题目 {ref}")
                    bad = True
                elif by_id[ref]["type"] != wanted and not row.get("satisfied"):
                    self.problem("measures", number, "question",
                                 f"{kind} 需要{'是/否题' if wanted == 'yesno' else '笑脸量表题（likert）'}，{ref} 不是")
                    bad = True
            if bad:
                continue
            spec = {"kind": kind}
            if kind in ("mean_yes", "mean_top2"):
                spec["questions"] = refs
            else:
                spec["question"] = refs[0]
            if row.get("satisfied"):
                spec["satisfied"] = [v for v in re.split(r"[\s,，;；]+", row["satisfied"]) if v]
            result[name] = spec
        return result


def _words(scale):
    """{code: {zh, en}} of a built-in scale, to recognise it in a workbook's list."""
    return {c["value"]: {"zh": c["zh"], "en": c["en"]} for c in scale}


def read_workbook(data):
    """A questionnaire definition from XLSX bytes, or WorkbookError listing every problem.

    The bytes go through the guarded check (size, zip bomb, external links, every sheet's
    dimension and cell count) before openpyxl parses them.
    """
    return _Reader(_load_sheets(data)).read()


# --- writing ----------------------------------------------------------------------------


def _question_list(question, lists):
    """The list name a question's choices are written under (shared when identical), or None."""
    qtype = question["type"]
    if qtype not in ("single", "multi", "scale5", "yesno"):
        return None
    if qtype == "scale5":
        base = SCALE5_AGREE if question.get("scale") == "agree" else SCALE5
        default = "agree5" if question.get("scale") == "agree" else "likert5"
    elif qtype == "yesno":
        base, default = YESNO, "yesno"
    else:
        base, default = question["choices"], question["id"]
    labels = {str(code): words for code, words in (question.get("labels") or {}).items()}
    items = [dict({k: v for k, v in c.items() if k in ("value", "zh", "en", "exclusive")},
                  **labels.get(str(c["value"]), {})) for c in base]
    name = default if not labels else question["id"]
    while name in lists and lists[name] != items:
        name += "_"
    lists[name] = items
    return name


def _survey_row(question, list_name):
    """The survey sheet's cells of one question, by column."""
    qtype = question["type"]
    row = {"name": question["id"]}
    if qtype in ("single", "scale5", "yesno"):
        row["type"] = f"select_one {list_name}"
    elif qtype == "multi":
        row["type"] = f"select_multiple {list_name}"
    elif qtype == "number":
        row["type"] = "integer" if question.get("integer") else "decimal"
    else:
        row["type"] = qtype
    if qtype == "scale5":
        row["appearance"] = "likert"
    for key, column in (("text", "label"), ("hint", "hint"), ("constraint_message", "constraint_message")):
        for lang, words in (question.get(key) or {}).items():
            row[f"{column}::{lang}"] = words
    for kind, words in (question.get("wording") or {}).items():
        for lang, text in words.items():
            row[f"wording_{kind}::{lang}"] = text
    if question.get("required"):
        row["required"] = "yes"
    if question.get("item"):
        row["item"] = "yes"
    if question.get("meta"):
        row["meta"] = question["meta"]
    if question.get("max_length"):
        row["max_length"] = question["max_length"]
    if question.get("show_if"):
        row["relevant"] = questionnaires.relevant_text(question["show_if"])
    constraint = question.get("constraint")
    # A YAML number question's min/max are written as the constraint they mean.
    bounds = [{"op": op, "value": question[key]} for key, op in (("min", ">="), ("max", "<="))
              if question.get(key) is not None]
    if bounds:
        constraint = {"all": _flatten(([constraint] if constraint else []) + bounds, "all")}
    if constraint:
        row["constraint"] = questionnaires.constraint_text(constraint)
    return row


def _write_sheet(workbook, title, columns, rows):
    """One sheet: a bold header and the rows, every text cell stored as text (never a formula)."""
    from openpyxl.styles import Font

    sheet = workbook.create_sheet(title)
    sheet.append(list(columns))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([row.get(column, "") for column in columns])
    for line in sheet.iter_rows(min_row=2):
        for cell in line:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # "=..." in a label stays words, not a formula
    for index, column in enumerate(columns, 1):
        sheet.column_dimensions[sheet.cell(1, index).column_letter].width = 28 if "::" in column else 14
    sheet.freeze_panes = "A2"
    return sheet


def write_workbook(definition):
    """A definition as XLSX bytes in the layout read_workbook reads (its inverse)."""
    from openpyxl import Workbook

    lists = {}
    survey_rows = [_survey_row(q, _question_list(q, lists)) for q in definition["questions"]]
    choice_rows = [dict({"list_name": name, "name": c["value"], "label::zh": c.get("zh", "")},
                        **({"label::en": c["en"]} if c.get("en") else {}),
                        **({"exclusive": "yes"} if c.get("exclusive") else {}))
                   for name, items in lists.items() for c in items]
    settings = {"form_id": definition["id"], "version": definition["version"]}
    for key, column in (("title", "form_title"), ("intro", "intro"), ("thanks", "thanks")):
        for lang, words in (definition.get(key) or {}).items():
            settings[f"{column}::{lang}"] = words
    settings["form_title"] = settings.pop("form_title::zh")
    if "form_title::en" in settings:
        settings["form_title_en"] = settings.pop("form_title::en")
    for key in ("minutes", "audience"):
        if definition.get(key) is not None:
            settings[key] = definition[key]
    measure_rows = []
    for name, spec in (definition.get("measures") or {}).items():
        row = {"name": name, "kind": spec["kind"],
               "question": " ".join(spec.get("questions") or [spec.get("question", "")])}
        if spec.get("satisfied"):
            row["satisfied"] = " ".join(str(v) for v in spec["satisfied"])
        measure_rows.append(row)
    workbook = Workbook()
    workbook.remove(workbook.active)
    _write_sheet(workbook, "survey", SURVEY_COLUMNS, survey_rows)
    _write_sheet(workbook, "choices", CHOICES_COLUMNS, choice_rows)
    _write_sheet(workbook, "settings", SETTINGS_COLUMNS, [settings])
    _write_sheet(workbook, "measures", MEASURES_COLUMNS, measure_rows)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- paper entry -----------------------------------------------------------------------------

KIND_WORDS = {"single": "单选，填代码或选项文字", "multi": "多选，代码或文字用 ; 分隔",
              "scale5": "单选（1-5，5 最好）", "yesno": "是/否：填 1 或 0（也可写 是/否）",
              "text": "文字", "number": "数字"}


def paper_columns(definition):
    """The columns of the paper-entry sheet: site, who answered (unless a question asks it),
    then every question that takes an answer, in order."""
    asks_who = any(q.get("meta") == "respondent_type" for q in definition["questions"])
    return (["site"] + ([] if asks_who else ["respondent_type"])
            + [q["id"] for q in definition["questions"] if q["type"] != "note"])


def _code_rows(definition):
    """(column, question words, kind, code, label zh, label en) for the codes sheet."""
    q = questionnaires.Questionnaire(definition)
    rows = [("site", "调查站点", "站点代码或名称（可空）", "", "", "")]
    if "respondent_type" in paper_columns(definition):
        rows += [("respondent_type", "谁在回答", "单选", code, zh, "")
                 for code, zh in (("self", "本人"), ("proxy", "代答"), ("assisted", "协助"))]
    for question in definition["questions"]:
        if question["type"] == "note":
            continue
        kind = KIND_WORDS[question["type"]]
        if question["type"] == "number" and question.get("integer"):
            kind = "整数"
        if question.get("required"):
            kind += "；必答"
        if question.get("show_if"):
            kind += f"；仅当 {questionnaires.relevant_text(question['show_if'])} 时回答"
        if question.get("constraint"):
            kind += f"；须满足 {questionnaires.constraint_text(question['constraint'])}"
        words = question["text"]["zh"]
        choices = q.choices(question)
        if not choices:
            rows.append((question["id"], words, kind, "", "", ""))
        for choice in choices:
            rows.append((question["id"], words, kind, str(choice["value"]), choice["zh"], choice.get("en", "")))
    return rows


def paper_template(definition, fmt="csv"):
    """The blank paper-entry sheet of a questionnaire as CSV (UTF-8 with BOM, for Excel) or
    XLSX bytes; the XLSX has a second sheet `codes` with every question's codes and labels.

    Its columns are what `flask --app app responses import` reads (survey.importer).
    """
    columns = paper_columns(definition)
    if fmt == "csv":
        buffer = io.StringIO()
        csv.writer(buffer).writerow(columns)
        return ("\ufeff" + buffer.getvalue()).encode("utf-8")
    if fmt != "xlsx":
        raise ValueError(f"format must be csv or xlsx, not {fmt!r}")
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    _write_sheet(workbook, "answers", columns, [])
    header = ("column", "question", "kind", "code", "label::zh", "label::en")
    _write_sheet(workbook, "codes", header, [dict(zip(header, row, strict=True)) for row in _code_rows(definition)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
