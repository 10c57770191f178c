"""Build small XLSForm workbooks in tests (openpyxl, no binary fixtures)."""

import copy
import io

from openpyxl import Workbook

SURVEY_HEADER = ["type", "name", "label::zh", "label::en", "hint::zh", "required", "relevant", "constraint",
                 "constraint_message::zh", "appearance"]

# A small questionnaire using every type: rows are (type, name, label::zh, label::en, hint::zh,
# required, relevant, constraint, constraint_message::zh, appearance).
BASE = {
    "survey": [
        SURVEY_HEADER,
        ["note", "welcome", "欢迎参加", "Welcome", "", "", "", "", "", ""],
        ["select_one who", "respondent", "谁在回答？", "Who answers?", "", "yes", "", "", "", ""],
        ["select_multiple services", "services", "用过哪些服务？", "Which services?", "可以多选", "yes", "", "",
         "", ""],
        ["select_one sat", "overall", "总体满意吗？", "Satisfied overall?", "", "yes", "", "", "", "likert"],
        ["select_one yn", "knows", "知道热线吗？", "Know the hotline?", "", "", "", "", "", ""],
        ["integer", "age", "您多大岁数？", "How old are you?", "", "", "", ". >= 60 and . <= 120",
         "年龄应在60到120岁之间", ""],
        ["decimal", "spend", "每月花多少钱？", "Monthly spend?", "", "", "selected(${services}, 'meals')",
         ". >= 0", "", ""],
        ["text", "suggestion", "还有什么建议？", "Suggestions?", "", "", "${knows} = '1' or ${age} >= 80", "", "",
         ""],
    ],
    "choices": [
        ["list_name", "name", "label::zh", "label::en"],
        ["who", "self", "本人", "Self"],
        ["who", "proxy", "代答", "Proxy"],
        ["services", "meals", "助餐", "Meals"],
        ["services", "cleaning", "助洁", "Cleaning"],
        ["sat", "5", "非常满意", "Very satisfied"],
        ["sat", "4", "满意", "Satisfied"],
        ["sat", "3", "一般", "Neutral"],
        ["sat", "2", "不满意", "Dissatisfied"],
        ["sat", "1", "非常不满意", "Very dissatisfied"],
        ["yn", "1", "是", "Yes"],
        ["yn", "0", "否", "No"],
    ],
    "settings": [
        ["form_id", "version", "form_title::zh", "form_title::en", "intro::zh", "thanks::zh"],
        ["xl-test", 1, "测试问卷", "Test questionnaire", "您好", "谢谢"],
    ],
    "measures": [
        ["name", "kind", "question"],
        ["satisfaction_rate", "top2", "overall"],
        ["knows_rate", "mean_yes", "knows"],
    ],
}


def sheets(**changes):
    """A deep copy of BASE with whole sheets replaced (a value of None drops the sheet)."""
    result = copy.deepcopy(BASE)
    for name, rows in changes.items():
        if rows is None:
            result.pop(name, None)
        else:
            result[name] = rows
    return result


def build(book=None):
    """XLSX bytes of {sheet name: [header, *rows]} (default: BASE)."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, rows in (book or BASE).items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def with_survey_cell(row, column, value, book=None):
    """BASE (or `book`) with one survey cell changed: `row` as Excel numbers it (header = 1)."""
    book = copy.deepcopy(book or BASE)
    header = book["survey"][0]
    if column not in header:
        header.append(column)
        for line in book["survey"][1:]:
            line.append("")
    book["survey"][row - 1][header.index(column)] = value
    return book
