"""Paper questionnaires and bulk files: CSV import into one evaluation (all or nothing).

The commands (`flask --app app responses import|export ... --evaluation SLUG`) live in
survey/cli/collection_commands.py.
"""

import csv
import hashlib
import io
import sqlite3
import uuid

import click

from scoring.appendix import neutralise, safe_row  # noqa: F401  (survey.roster imports them from here)
from scoring.files import MAX_BYTES, FileRefused, csv_rows, decode_text, read_bytes, table_rows
from scoring.files import XLSX_MAX_ROWS as UPLOAD_MAX_ROWS
from survey import exports, questionnaires
from survey.storage import evaluations, responses, staged_import
from survey.storage.field_storage import evaluation_id_or_only, site_ids_by_code_and_name

# Columns besides question ids that a file may carry.
META_COLUMNS = ("submission_id", "site", "channel", "respondent_type", "submitted_at", "started_at")
# Columns `responses export` writes that an import reads past (with each question's
# `<id>_label`), so an export re-imports: e.g. the responses a restore recovered.
EXPORT_ONLY_COLUMNS = ("source", "questionnaire_version", "duration_s", "excluded")
LOCAL_TIME_PREFIX = "提交时间（"  # exports.local_time_header: shown to people, ignored on import
# Not 、: Chinese choice labels contain it (e.g. 海报、宣传单).
MULTI_SEPARATORS = (";", "；", "|")
IGNORED_SHOWN = 50  # hidden-question cells listed one by one after an import; the rest counted
# Words people write on paper forms for yes/no questions (codes 1/0), besides 是/否.
YESNO_WORDS = {"1": ("是", "知道", "有", "对", "yes", "y", "true", "√"),
               "0": ("否", "不知道", "没有", "无", "不", "不对", "no", "n", "false", "×")}
# Meta columns accept the words the pages show as well as the codes.
META_LABELS = {
    "respondent_type": {"self": ("本人", "老人本人"), "proxy": ("代答", "代填", "家属或照护人代答"),
                        "assisted": ("协助", "工作人员协助填写"), "public": ("公众", "社会公众")},
    "channel": {"qr": ("扫码", "通用二维码"), "poster": ("海报", "海报二维码"), "flyer": ("传单", "宣传单"),
                "door": ("入户", "入户调查"), "phone": ("电话", "电话回访"), "wechat": ("微信", "微信群"),
                "paper": ("纸质", "纸质问卷"), "import": ("导入",), "api": ("接口",),
                "household": ("入户卡片", "户专属链接")},
}


class FileImportError(ValueError):
    """A file cannot be imported; the message names the row and the column."""


def _split_multi(value):
    """Split a multiple-choice cell on ; ； or |."""
    for separator in MULTI_SEPARATORS[1:]:
        value = value.replace(separator, MULTI_SEPARATORS[0])
    return [part.strip() for part in value.split(MULTI_SEPARATORS[0]) if part.strip()]


def _choice_codes(questionnaire, question):
    """Map both codes and Chinese/English labels of a question's choices to codes.

    Yes/no questions also take 知道/不知道 and the like; English words in any case.
    """
    mapping = {}
    if question["type"] == "yesno":
        for code, words in YESNO_WORDS.items():
            mapping.update({word: code for word in words})
    for choice in questionnaire.choices(question):
        for key in ("value", "zh", "en"):
            if choice.get(key) is not None:
                mapping[str(choice[key]).strip()] = str(choice["value"])
    return mapping


def _lookup(mapping, value):
    """The code of a cell: exact first, then case-insensitive (Yes, YES)."""
    if value in mapping:
        return mapping[value]
    lowered = {k.lower(): v for k, v in mapping.items()}
    return lowered.get(value.lower())


def _choice_list(questionnaire, question):
    """'1 (是), 0 (否)': the codes with their labels, for an error message."""
    return ", ".join(f"{c['value']} ({c['zh']})" for c in questionnaire.choices(question))


def _meta_code(column, value):
    """A respondent_type or channel cell as its code; refuse it listing codes and labels."""
    table = META_LABELS[column]
    for code, words in table.items():
        if value == code or value in words:
            return code
    listed = ", ".join(f"{code} ({words[-1]})" for code, words in table.items()
                       if column != "channel" or code not in ("import", "api"))
    raise responses.SubmissionError(column, f"'{value}' is not one of: {listed}")


def parse_rows(db, questionnaire, text, source_name="file", ignored=None, max_rows=None, evaluation_id=None):
    """Check every row of a CSV text for an evaluation (default: the only one); return
    [(clean, row)] or raise naming row and column. Sites are the evaluation's own.

    Row numbers are the file's line numbers (the header is line 1), as a person
    looking at the file in a spreadsheet sees them. Cells answering a question that
    earlier answers hide are not stored; with a list `ignored`, (line, column, cell)
    of each is appended to it so the import can say so. `max_rows` defaults to the
    upload limit; the operator's CLI passes its own, larger one.
    """
    rows = _guarded(csv_rows(text, max_rows or UPLOAD_MAX_ROWS), source_name)
    try:
        _line, header = next(rows)
    except StopIteration:
        header = []
    header = [h.strip() for h in header]
    question_ids = {q["id"] for q in questionnaire.questions}
    label_columns = {f"{q}_label" for q in question_ids}
    # 提交时间（北京时间）: the export's local copy of submitted_at, read from submitted_at.
    unknown = [h for h in header if h not in question_ids and h not in META_COLUMNS
               and h not in EXPORT_ONLY_COLUMNS and h not in label_columns and not h.startswith(LOCAL_TIME_PREFIX)]
    if unknown:
        raise FileImportError(f"{source_name}: line 1, column '{unknown[0]}': not a question id of "
                           f"{questionnaire.id} nor one of {', '.join(META_COLUMNS)}")
    if not header:
        raise FileImportError(f"{source_name}: the file is empty")
    evaluation_id = evaluation_id_or_only(db, evaluation_id)
    sites = site_ids_by_code_and_name(db, evaluation_id)
    file_digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    items, seen_ids = [], set()
    for line, cells in rows:
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            raise FileImportError(f"{source_name}: line {line}: more cells than the header has columns")
        raw = {k: (v or "").strip() for k, v in zip(header, cells, strict=False)}
        try:
            items.append(_parse_row(questionnaire, raw, sites, file_digest, line, evaluation_id))
        except (responses.SubmissionError, questionnaires.AnswerError) as exc:
            field = getattr(exc, "field", None) or getattr(exc, "question_id", "?")
            raise FileImportError(f"{source_name}: line {line}, column '{field}': {exc.message}") from None
        if ignored is not None:
            ignored.extend(_hidden_cells(questionnaire, raw, items[-1][0], line))
        submission_id = items[-1][1]["submission_id"]
        if submission_id in seen_ids:
            raise FileImportError(f"{source_name}: line {line}, column 'submission_id': repeated in the file")
        seen_ids.add(submission_id)
    if not items:
        raise FileImportError(f"{source_name}: no rows to import")
    return items


def _hidden_cells(questionnaire, raw, clean, line):
    """(line, column, cell) of the filled cells of `raw` that were not stored: their
    questions are hidden by the row's other answers (show_if)."""
    return [(line, q["id"], raw[q["id"]]) for q in questionnaire.questions
            if raw.get(q["id"], "").strip() and not questionnaire.is_visible(q, clean)]


def _guarded(rows, source_name):
    """Yield the guarded loader's rows, turning a refusal into a FileImportError."""
    try:
        yield from rows
    except FileRefused as exc:
        raise FileImportError(f"{source_name}: {exc}") from None


def _parse_row(questionnaire, raw, sites, file_digest, line, evaluation_id):
    """Turn one CSV row into a checked (clean answers, response row)."""
    answers = {}
    for question in questionnaire.questions:
        cell = raw.get(question["id"], "")
        if cell == "":
            continue
        codes = _choice_codes(questionnaire, question)
        values = _split_multi(cell) if question["type"] == "multi" else [cell]
        mapped = [_lookup(codes, v) if codes else v for v in values]
        if codes and None in mapped:
            bad = values[mapped.index(None)]
            raise questionnaires.AnswerError(
                question["id"], f"'{bad}' is not one of: {_choice_list(questionnaire, question)}",
                "not_a_choice")
        answers[question["id"]] = mapped if question["type"] == "multi" else mapped[0]
    meta = {"channel": _meta_code("channel", raw["channel"]) if raw.get("channel") else "paper",
            "source": "import",
            "respondent_type": (_meta_code("respondent_type", raw["respondent_type"])
                                if raw.get("respondent_type") else None),
            "submitted_at": raw.get("submitted_at") or None, "started_at": raw.get("started_at") or None,
            "evaluation_id": evaluation_id}
    if raw.get("site"):
        if raw["site"] not in sites:
            raise responses.SubmissionError("site", f"no site with code or name '{raw['site']}'")
        meta["site_id"] = sites[raw["site"]]
    # Without an explicit id, the same file imported twice gives the same ids and
    # so is refused instead of doubling every response.
    submission_id = raw.get("submission_id") or str(uuid.uuid5(uuid.NAMESPACE_URL, f"import:{file_digest}:{line}"))
    return responses.build_row(questionnaire, submission_id, answers, meta)


def read_table_text(path, max_bytes=MAX_BYTES):
    """A .csv or .xlsx file as CSV text, read through the guarded loader.

    An .xlsx becomes CSV text here so that one parser (parse_rows) checks every row,
    whatever the file type; line numbers stay the sheet's row numbers. `max_bytes`
    defaults to the upload limit; the operator's CLI passes its own, larger one.
    """
    source = click.format_filename(path)
    lower = str(path).lower()
    try:
        if not lower.endswith((".csv", ".txt", ".tsv", ".xlsx")):
            table_rows(lower, b"")  # refuses .xls and unknown types, naming them
        data = read_bytes(path, max_bytes)
        if not lower.endswith(".xlsx"):
            return decode_text(data, max_bytes)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for _number, cells in table_rows(lower, data):
            writer.writerow(cells)
        return buffer.getvalue()
    except FileRefused as exc:
        raise FileImportError(f"{source}: {exc}") from None


# Ids looked up per query: far below SQLite's limit on bound variables (32,766 by
# default, 999 in older builds), which a 1,000,000-row file in one IN list exceeded.
STORED_CHECK_CHUNK = 500


def first_stored(db, ids):
    """The index in `ids` of the first submission id already stored, or None."""
    for start in range(0, len(ids), STORED_CHECK_CHUNK):
        chunk = ids[start:start + STORED_CHECK_CHUNK]
        found = {row[0] for row in db.execute(
            f"select submission_id from responses where submission_id in ({','.join('?' for _ in chunk)})",
            chunk).fetchall()}
        if found:
            return start + min(i for i, sid in enumerate(chunk) if sid in found)
    return None


def import_csv(db, questionnaire_id, text, source_name="file", ignored=None, stats=None, max_rows=None,
               evaluation_id=None):
    """Import a whole CSV text into an evaluation (default: the only one), all rows or none;
    return how many responses were stored.

    Every row is checked before anything is written; the rows are then committed in
    short steps (survey.storage.staged_import) so live submissions never wait long for the
    lock. `ignored`: see parse_rows; `stats`: see staged_import.commit.
    """
    try:
        questionnaire = questionnaires.get(db, questionnaire_id)
    except questionnaires.UnknownQuestionnaire:
        raise FileImportError(f"no questionnaire '{questionnaire_id}'") from None
    evaluation_id = evaluation_id_or_only(db, evaluation_id)
    if not evaluations.uses(db, evaluation_id, questionnaire.id):
        slug = evaluations.by_id(db, evaluation_id).slug
        raise FileImportError(f"the evaluation '{slug}' does not use the questionnaire '{questionnaire.id}'")
    items = parse_rows(db, questionnaire, text, source_name, ignored, max_rows, evaluation_id)
    ids = [row["submission_id"] for _clean, row in items]
    first = first_stored(db, ids)
    if first is not None:
        raise FileImportError(f"{source_name}: line {first + 2}, column 'submission_id': already imported "
                              f"({ids[first]}); nothing was imported")
    try:
        return staged_import.commit(db, questionnaire.id, items, source_name, stats=stats,
                                    evaluation_id=evaluation_id)
    except sqlite3.IntegrityError as exc:
        # A live submission took one of the ids after the check above.
        line = getattr(exc, "failed_at", 0) + 2
        raise FileImportError(f"{source_name}: line {line}, column 'submission_id': already stored "
                              f"({exc}); nothing was imported") from None


# The exports live in survey.exports (streamed, bounded memory); these names stay for callers.
export_rows = exports.response_rows
write_csv = exports.write_csv
write_xlsx = exports.write_xlsx
