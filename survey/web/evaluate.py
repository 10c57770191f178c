"""The evaluators' view: measures with n, interval and margin, breakdowns, trends,
quality review, the problem list, charts, exports and a printable report.

Every page is for evaluators (and admins). Rates count valid responses only. Reads
never write: the quality rules (survey.quality) flag a response when it arrives and in
`flask quality run`, never on a page load. Every page costs about the same whatever the
number of responses: counts come from the tallies (survey.storage.tallies), and lists (open-text
answers, flagged responses, responses) are paged, PAGE_SIZE rows at a time.
"""

import hashlib
import json
import os
import threading
from collections import OrderedDict
from datetime import datetime, timezone
from typing import NamedTuple

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user

from scoring import IndicatorSystemError
from scoring.appendix import appendix_rows, neutralise
from scoring.appendix import title as appendix_title
from scoring.coverage import COVERAGE_MEASURES
from scoring.filters import FILTER_KEYS, parse_filters
from scoring.filters import FilterError as BadFilter
from scoring.indicators import UnknownMeasureError
from scoring.measures import measure_specs
from scoring.statistics import cochran_sample_size
from survey import exports, localtime, quality, questionnaires, vocabulary
from survey.problems import group_comments
from survey.storage import audit, evaluations, tallies
from survey.storage.db import get_db
from survey.storage.measures_store import (
    compute,
    compute_all,
    compute_each,
    counts,
    current_definition,
    value_counts,
    where,
)
from survey.web import i18n, scope, scores
from survey.web.auth import add_nav

bp = Blueprint("evaluate", __name__, url_prefix="/e/<evaluation>/evaluate")
scope.scope_blueprint(bp)
add_nav("evaluate.dashboard", "调查结果", ["statistics"])

TARGET_MARGIN = 0.05
CHART_VERSION = "1"  # bump when the drawing code changes, so cached images are redrawn
DIMENSIONS = vocabulary.DIMENSIONS
RESPONDENT_LABELS = vocabulary.RESPONDENT_TYPES
CHANNEL_LABELS = vocabulary.CHANNELS
LIVING_ALONE_LABELS = vocabulary.LIVING_ALONE
MEASURE_LABELS = {
    "responses": "有效样本数",
    "satisfaction_rate": "满意度（非常满意＋满意）",
    "awareness_rate": "知晓率（热线号码与服务内容的平均）",
    "security_rate": "安全感提升度（三项同意率的平均）",
    "coverage_rate": "名册回访覆盖率",
    "followup_rate": "名册回访率",
}
CHARTS = ("distribution", "sites", "trend")
PAGE_SIZE = 50
REPORT_TEXTS = 100  # the printable report lists the newest open-text answers, then points to the list
YES_TEXTS = 20  # texts shown under each yes-count problem (the newest)


def _charts():
    """scoring.survey_charts, imported on first use: matplotlib adds about 2 s to a worker's start."""
    from scoring import survey_charts

    return survey_charts


class TextRow(NamedTuple):
    """One open-text answer of a valid response."""

    response_id: int
    question_id: str
    text: str
    site: str | None
    submitted_at: str | None


class FilterError(ValueError):
    """A filter in the query string is malformed; the message names it."""


# ---------------------------------------------------------------- helpers (no request)

def sample_note(n, population=None, margin=TARGET_MARGIN):
    """Cochran's sample size for ±margin (finite population correction when N is known) and the words.

    Returns {"needed", "short", "enough", "text"}; "short" is how many more answers are needed.
    """
    needed = cochran_sample_size(population, margin)
    points = round(margin * 100)
    short = max(0, needed - n)
    if short:
        text = f"样本量 {n}，要达到±{points}个百分点需要 {needed} 份，还差 {short} 份"
    else:
        text = f"样本量 {n}，已达到±{points}个百分点所需的 {needed} 份"
    if population:
        text += f"（总体 {population}，已作有限总体校正）"
    return {"needed": needed, "short": short, "enough": not short, "text": text}


def population_for(db, evaluation_id, questionnaire_id, filters=None):
    """The known population a sample is drawn from, or None (then no finite population correction).

    Service recipients: the sites' `population` summed (the filtered site, or every site with
    responses to this questionnaire); if a site's population is unknown, the roster size (households).
    A questionnaire for the general public (`audience: public`) has no known population.
    """
    row = db.execute("select audience from questionnaires where id = ?", [questionnaire_id]).fetchone()
    if row is None or row[0] == "public":
        return None
    filters = filters or {}
    if filters.get("site"):
        sites = db.execute("select id, population from sites where evaluation_id = ? and code = ?",
                           [evaluation_id, filters["site"]]).fetchall()
    else:
        present = [i for i in tallies.present_values(db, evaluation_id, questionnaire_id, "site_id") if i is not None]
        sites = db.execute(f"select id, population from sites where id in ({','.join('?' for _ in present)})",
                           present).fetchall() if present else []
    if not sites:
        return None
    if all(population for _id, population in sites):
        return sum(population for _id, population in sites)
    ids = [site_id for site_id, _population in sites]
    households = db.execute(f"select count(*) from households where site_id in ({','.join('?' for _ in ids)})",
                            ids).fetchone()[0]
    return households or None


def measure_label(name, definition):
    """Words for a measure: a known name, or the text of the question it counts."""
    if name in MEASURE_LABELS:
        return MEASURE_LABELS[name]
    questions = {q["id"]: q["text"]["zh"] for q in definition["questions"]}
    if name.startswith("item_satisfaction:"):
        return "分项：" + questions.get(name.split(":", 1)[1], name)
    if name.startswith("yes_rate:"):
        return "答“是”的比例：" + questions.get(name.split(":", 1)[1], name)
    spec = measure_specs(definition).get(name, {})
    if spec.get("kind") == "yes_count":
        return "答“是”的人数：" + questions.get(spec["question"], name)
    if spec.get("question"):
        return "同意/满意比例：" + questions.get(spec["question"], name)
    return name


def group_label(dimension, group):
    """Words for a breakdown group (a site name is already words)."""
    key = "" if group is None else str(group)
    if dimension == "respondent_type":
        return RESPONDENT_LABELS.get(key, key)
    if dimension == "channel":
        return CHANNEL_LABELS.get(key, key)
    if dimension == "living_alone":
        return LIVING_ALONE_LABELS.get(key, key)
    if dimension == "age_band" and key == "unknown":
        return "未注明"
    return key or "（未注明）"


def pct(value, digits=1):
    """A share as a percentage string ('—' when there is none)."""
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def rate_row(name, rate, label, kind, population):
    """A measure as display strings: value, n, interval, margin and the sample note."""
    row = {"name": name, "label": label, "kind": kind, "n": rate.n, "successes": rate.successes,
           "value": pct(rate.value), "ci": f"{pct(rate.ci95[0])} – {pct(rate.ci95[1])}" if rate.n else "—",
           "margin": f"±{rate.margin * 100:.1f}个百分点" if rate.n else "—", "rate": rate, "note": None}
    if kind == "rate":
        row["note"] = sample_note(rate.n, population)
    return row


def measure_rows(db, evaluation_id, questionnaire_id, filters):
    """Every measure of a questionnaire (plus registered extra ones like coverage) as display rows."""
    definition = current_definition(db, questionnaire_id)
    specs = measure_specs(definition)
    population = population_for(db, evaluation_id, questionnaire_id, filters)
    rates = compute_all(db, evaluation_id, questionnaire_id, filters)
    rows = []
    for name, rate in rates.items():
        kind = "count" if name == "responses" or specs.get(name, {}).get("kind") == "yes_count" else "rate"
        rows.append(rate_row(name, rate, measure_label(name, definition), kind, population))
    for name in COVERAGE_MEASURES:
        try:
            rate = compute(db, evaluation_id, questionnaire_id, name, filters)
        except UnknownMeasureError:
            continue  # not defined for this questionnaire
        # A roster measure counts the whole roster, not a sample: no sample-size note.
        rows.append(rate_row(name, rate, measure_label(name, definition), "roster", population))
    return rows


def main_measures(definition):
    """The declared rate measures (not counts, not per-item), shown in the breakdowns."""
    return [name for name, spec in (definition.get("measures") or {}).items() if spec["kind"] != "yes_count"]


def headline_measure(definition):
    """The measure charts show by default: satisfaction if any, else the first declared rate."""
    names = main_measures(definition)
    if "satisfaction_rate" in names:
        return "satisfaction_rate"
    return names[0] if names else None


def breakdowns(db, evaluation_id, questionnaire_id, filters, dimensions=DIMENSIONS):
    """{dimension: {"label", "measures": [(name, label)], "rows": [(group label, [rate row per measure])]}}."""
    definition = current_definition(db, questionnaire_id)
    names = main_measures(definition)
    result = {}
    # Every measure of every breakdown from two grouped queries each (not two per measure),
    # or two for all of them when they read the same fine tally rows (grouped_each).
    each = compute_each(db, evaluation_id, questionnaire_id, filters, list(dimensions))
    for dimension, dimension_label in dimensions.items():
        everything = each[dimension]
        per_measure = {name: everything[name] for name in [*names, "responses"]}
        groups = sorted(set().union(*(set(g) for g in per_measure.values())), key=lambda g: str(g))
        rows = []
        for group in groups:
            cells = []
            for name in names:
                rate = per_measure[name].get(group)
                cells.append(rate_row(name, rate, "", "rate", None) if rate else None)
            count = per_measure["responses"].get(group)
            rows.append({"group": group_label(dimension, group), "responses": count.n if count else 0,
                         "cells": cells})
        result[dimension] = {"label": dimension_label,
                             "measures": [(n, measure_label(n, definition)) for n in names], "rows": rows}
    return result


def trend(db, evaluation_id, questionnaire_id, filters, name):
    """[(month, Rate)] of one measure, in month order."""
    if name is None:
        return []
    by_month = compute(db, evaluation_id, questionnaire_id, name, filters, "month")
    return [(str(month), rate) for month, rate in by_month.items()]


def scale_distribution(db, evaluation_id, questionnaire_id, filters):
    """[(question text, {value: count})] for every scale5 question, and the scale's words."""
    questionnaire = questionnaires.get(db, questionnaire_id)
    rows, words = [], {}
    for question in questionnaire.questions:
        if question["type"] != "scale5":
            continue
        found = value_counts(db, evaluation_id, questionnaire_id, question["id"], filters).get(None, {})
        rows.append((question["text"]["zh"], found))
        words = words or {c["value"]: c["zh"] for c in questionnaire.choices(question)}
    return rows, words


def _text_rows(db, evaluation_id, questionnaire_id, filters, question_ids, limit, offset=0, yes_question=None):
    """Open-text answers to `question_ids` of valid responses matching the filters, newest
    response first, `limit` from `offset`: [(response id, question id, text, site, date)].

    Walks the responses newest first and stops after `limit` rows, so a page costs about
    the same at any number of responses. With `yes_question`, only responses that
    answered yes (1) to it.
    """
    clause, params = where(evaluation_id, questionnaire_id, filters)
    marks = ",".join("?" for _ in question_ids)
    yes = ""
    if yes_question:
        yes = " and exists (select 1 from answers y where y.response_id = r.id and y.question_id = ? and y.value = '1')"
        params = [*params, yes_question]
    rows = db.execute(
        f"select r.id, a.question_id, a.value, s.name, r.submitted_at from responses r"
        f" join answers a on a.response_id = r.id and a.question_id in ({marks})"
        f" left join sites s on s.id = r.site_id where {clause}{yes} order by r.id desc limit ? offset ?",
        [*question_ids, *params, limit, offset]).fetchall()
    return [TextRow(*row) for row in rows]


def _all_texts(db, evaluation_id, questionnaire_id, filters, question_ids):
    """Every open-text answer to `question_ids` of the valid responses matching the filters,
    as (text, site name) pairs, read from the cursor as they are grouped."""
    clause, params = where(evaluation_id, questionnaire_id, filters)
    marks = ",".join("?" for _ in question_ids)
    cursor = db.execute(
        f"select a.value, s.name from responses r"
        f" join answers a on a.response_id = r.id and a.question_id in ({marks})"
        f" left join sites s on s.id = r.site_id where {clause} order by r.id desc",
        [*question_ids, *params])
    while True:
        batch = cursor.fetchmany(2000)
        if not batch:
            return
        yield from batch


_GROUP_CACHE = OrderedDict()  # key -> [ProblemGroup], the PROBLEM_CACHE_SIZE most recent
_GROUP_CACHE_LOCK = threading.Lock()
PROBLEM_CACHE_SIZE = 32
PROBLEMS_VERSION = "1"  # bump when survey.problems changes how comments are merged


def _group_key(db, evaluation_id, questionnaire_id, filters):
    """What a grouping depends on: the database, evaluation, questionnaire and its version, the
    filters, the numbers of responses and of excluded ones, the highest response id and the
    quality flags version (as chart_key), and the grouping rule's version."""
    # (responses, excluded): an exclusion changes the second even when no review recorded it.
    totals = tallies.response_totals(db, evaluation_id, questionnaire_id).get(questionnaire_id, (0, 0))
    max_id = db.execute("select coalesce(max(id), 0) from responses where evaluation_id = ?",
                        [evaluation_id]).fetchone()[0]
    version = db.execute("select current_version from questionnaires where id = ?", [questionnaire_id]).fetchone()
    # The database file too: one process may serve several (tests, a restore check).
    return json.dumps([PROBLEMS_VERSION, current_app.config["DATABASE"], evaluation_id, questionnaire_id,
                       version[0] if version else None, sorted((k, str(v)) for k, v in filters.items()),
                       list(totals), max_id, quality.flags_version(db, evaluation_id)], ensure_ascii=False)


def problem_groups(db, evaluation_id, questionnaire_id, filters):
    """The open-text answers of the valid responses matching the filters, merged into
    counted groups (survey.problems), most frequent first.

    Grouping reads every comment, so the result is kept in a small per-process cache keyed
    by _group_key: a new, removed, excluded or reinstated response gives a new key, and
    the pages of one list, its export and the report share one grouping.
    """
    key = _group_key(db, evaluation_id, questionnaire_id, filters)
    with _GROUP_CACHE_LOCK:
        if key in _GROUP_CACHE:
            _GROUP_CACHE.move_to_end(key)
            return _GROUP_CACHE[key]
    definition = current_definition(db, questionnaire_id)
    text_questions = [q["id"] for q in definition["questions"] if q["type"] == "text"]
    groups = group_comments(_all_texts(db, evaluation_id, questionnaire_id, filters, text_questions)) \
        if text_questions else []
    with _GROUP_CACHE_LOCK:
        _GROUP_CACHE[key] = groups
        while len(_GROUP_CACHE) > PROBLEM_CACHE_SIZE:
            _GROUP_CACHE.popitem(last=False)
    return groups


def problems(db, evaluation_id, questionnaire_id, filters, page=1, per_page=PAGE_SIZE, yes_texts=YES_TEXTS):
    """The problem list: open-text answers merged into counted groups (one page of them,
    most frequent first), and each yes-count measure with its count and the newest texts
    of those who said yes (merged too).

    Returns {"groups", "groups_total", "total" (answers), "page", "pages", "counts"};
    texts are plain strings (escaped when rendered).
    """
    definition = current_definition(db, questionnaire_id)
    text_questions = {q["id"]: q["text"]["zh"] for q in definition["questions"] if q["type"] == "text"}
    total = 0
    groups = []
    if text_questions:
        total = sum(_counts_of(db, evaluation_id, questionnaire_id, list(text_questions), filters).values())
        groups = problem_groups(db, evaluation_id, questionnaire_id, filters)
    shown = groups[(page - 1) * per_page:page * per_page]
    counts = []
    for name, spec in measure_specs(definition).items():
        if spec.get("kind") != "yes_count":
            continue
        rate = compute(db, evaluation_id, questionnaire_id, name, filters)
        said = group_comments(_text_rows(db, evaluation_id, questionnaire_id, filters, list(text_questions),
                                         yes_texts, yes_question=spec["question"])) if text_questions else []
        counts.append({"name": name, "label": measure_label(name, definition), "count": rate.successes,
                       "n": rate.n, "texts": said})
    return {"groups": shown, "groups_total": len(groups), "total": total, "page": page,
            "pages": max(1, -(-len(groups) // per_page)), "counts": counts}


PROBLEM_HEADER = ["意见", "次数", "社区（次数）", "其他说法（次数）"]


def problems_table(groups):
    """Rows of the problem-list export, header first: the wording, count, sites and the other wordings."""
    rows = [list(PROBLEM_HEADER)]
    for group in groups:
        others = "；".join(f"{text} ×{n}" for text, n in group.members.items() if text != group.text)
        rows.append([neutralise(group.text), group.count, neutralise(group.site_list()), neutralise(others)])
    return rows


def _counts_of(db, evaluation_id, questionnaire_id, question_ids, filters):
    """{question_id: number of answers among valid responses} from the tallies."""
    return {qid: sum(sum(values.values()) for values in groups.values())
            for qid, groups in counts(db, evaluation_id, questionnaire_id, question_ids, filters, None).items()}


def chart_key(db, evaluation_id, questionnaire_id, kind, fmt, filters, measure):
    """The cache key of a chart image.

    It hashes everything the picture depends on: the questionnaire and its current
    version (labels), the chart kind, format and measure, the filters (sorted), the number
    of responses and the highest response id (a new or removed response changes one of
    them; ids only grow), the quality flags version (an exclusion or reinstatement changes
    rates without changing the counts), and CHART_VERSION (the drawing code).
    """
    # From the tallies and the rowid (a new response in any questionnaire changes the key:
    # a harmless redraw), so the key costs the same at any number of responses.
    count = tallies.response_totals(db, evaluation_id, questionnaire_id).get(questionnaire_id, (0, 0))[0]
    max_id = db.execute("select coalesce(max(id), 0) from responses where evaluation_id = ?",
                        [evaluation_id]).fetchone()[0]
    version = db.execute("select current_version from questionnaires where id = ?", [questionnaire_id]).fetchone()
    # The evaluation is part of the key: two evaluations never share a cached picture.
    material = json.dumps([CHART_VERSION, evaluation_id, questionnaire_id, version[0] if version else None, kind,
                           fmt, measure, sorted((k, str(v)) for k, v in filters.items()), count, max_id,
                           quality.flags_version(db, evaluation_id)], ensure_ascii=False)
    return hashlib.sha256(material.encode()).hexdigest()


def draw_chart(db, evaluation_id, questionnaire_id, kind, fmt, filters, measure):
    """The chart image bytes (drawn now, no cache)."""
    definition = current_definition(db, questionnaire_id)
    title = definition["title"]["zh"]
    if kind == "distribution":
        rows, words = scale_distribution(db, evaluation_id, questionnaire_id, filters)
        return _charts().distribution_chart(rows, words, f"{title}：各题回答分布", fmt)
    label = measure_label(measure, definition).split("（")[0]
    if kind == "sites":
        groups = compute(db, evaluation_id, questionnaire_id, measure, filters, "site")
        data = [(str(g), r.value, r.ci95, r.n) for g, r in groups.items()]
        return _charts().rates_chart(data, f"{label}（分社区）", fmt,
                                         target=0.9 if "satisfaction" in measure else None)
    points = [(month, r.value, r.ci95, r.n)
              for month, r in trend(db, evaluation_id, questionnaire_id, filters, measure)]
    return _charts().trend_chart(points, f"{label}：月度趋势", fmt)


def cached_chart(db, evaluation_id, questionnaire_id, kind, fmt, filters, measure, folder):
    """The chart from the on-disk cache in `folder`, drawn and stored on a miss."""
    key = chart_key(db, evaluation_id, questionnaire_id, kind, fmt, filters, measure)
    path = os.path.join(folder, f"{key}.{fmt}")
    if os.path.exists(path):
        with open(path, "rb") as handle:
            return handle.read(), True
    image = draw_chart(db, evaluation_id, questionnaire_id, kind, fmt, filters, measure)
    os.makedirs(folder, exist_ok=True)
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "wb") as handle:
        handle.write(image)
    os.replace(temporary, path)  # atomic: a concurrent reader never sees half a file
    return image, False


MEASURE_HEADER = ["指标代码", "指标", "比率", "样本量 n", "符合人数", "95%置信区间下限", "95%置信区间上限",
                  "误差范围（±）", "±5个百分点所需样本量", "筛选条件"]
MEASURE_PERCENT_COLUMNS = (2, 5, 6, 7)
MEASURE_WIDTHS = [22, 44, 10, 10, 10, 12, 12, 12, 14, 24]
# The breakdowns of the measures workbook, one sheet each, in this order.
EXPORT_BREAKDOWNS = {"site": "站点", "channel": "渠道", "respondent_type": "受访者类型", "age_band": "年龄段"}
BREAKDOWN_HEADER = ["有效样本数", "指标", "比率", "样本量 n", "符合人数", "95%置信区间下限", "95%置信区间上限",
                    "误差范围（±）"]


def _filters_text(filters):
    """The filters as words for the export's 筛选条件 column ('' when none)."""
    return "；".join(f"{k}={v}" for k, v in sorted(filters.items()))


def measures_table(db, evaluation_id, questionnaire_id, filters):
    """Rows for the measures export, header first (Chinese): rates as fractions (the XLSX shows
    them as 0.0%), none for a count; every text cell neutralised."""
    rows = [list(MEASURE_HEADER)]
    described = _filters_text(filters)
    for row in measure_rows(db, evaluation_id, questionnaire_id, filters):
        rate = row["rate"]
        counted = row["kind"] == "count"
        rows.append([neutralise(str(c)) if isinstance(c, str) else c for c in [
            row["name"], row["label"], None if counted or rate.value is None else round(rate.value, 4), rate.n,
            rate.successes, None if counted or not rate.n else round(rate.ci95[0], 4),
            None if counted or not rate.n else round(rate.ci95[1], 4),
            None if counted or not rate.n else round(rate.margin, 4),
            row["note"]["needed"] if row["note"] else None, described]])
    return rows


def breakdown_tables(db, evaluation_id, questionnaire_id, filters, dimensions=EXPORT_BREAKDOWNS):
    """{dimension: rows, header first}: each group of the dimension, each main measure in it."""
    found = breakdowns(db, evaluation_id, questionnaire_id, filters, dimensions)
    tables = {}
    for dimension, label in dimensions.items():
        part = found[dimension]
        rows = [[label, *BREAKDOWN_HEADER]]
        for group in part["rows"]:
            for (_name, measure), cell in zip(part["measures"], group["cells"], strict=True):
                rate = cell["rate"] if cell else None
                has = rate is not None and rate.n
                rows.append([neutralise(group["group"]), group["responses"], neutralise(measure),
                             round(rate.value, 4) if has and rate.value is not None else None,
                             rate.n if rate else 0, rate.successes if rate else 0,
                             round(rate.ci95[0], 4) if has else None, round(rate.ci95[1], 4) if has else None,
                             round(rate.margin, 4) if has else None])
        tables[dimension] = rows
    return tables


def measures_workbook(db, evaluation_id, questionnaire_id, filters):
    """The measures XLSX: sheet 指标 (every measure), then one sheet per breakdown."""
    sheets = [exports.TableSheet("指标", measures_table(db, evaluation_id, questionnaire_id, filters),
                                 MEASURE_PERCENT_COLUMNS, MEASURE_WIDTHS)]
    for dimension, rows in breakdown_tables(db, evaluation_id, questionnaire_id, filters).items():
        sheets.append(exports.TableSheet(EXPORT_BREAKDOWNS[dimension], rows, (3, 6, 7, 8),
                                         [18, 10, 40, 10, 10, 10, 12, 12, 12]))
    return exports.table_workbook(sheets)


# ---------------------------------------------------------------- request helpers

def _filters():
    """The filters in the query string, checked; raises FilterError naming the bad one."""
    try:
        return parse_filters(request.args)
    except BadFilter as exc:
        if exc.expected == "period":
            raise FilterError(f"{exc.key}：请用 年-月（如 2024-09）或 年-月-日，收到“{exc.value}”") from None
        raise FilterError(f"{exc.key}：只能是 0 或 1，收到“{exc.value}”") from None


def _questionnaire_or_404(questionnaire_id):
    """The questionnaire, or 404 (also when this evaluation does not use it)."""
    if not evaluations.uses(get_db(), g.evaluation.id, questionnaire_id):
        abort(404)
    try:
        return questionnaires.get(get_db(), questionnaire_id)
    except questionnaires.UnknownQuestionnaire:
        abort(404)


def _filters_or_400():
    """The checked filters, or a 400 page naming the bad filter."""
    try:
        return _filters()
    except FilterError as exc:
        abort(Response(render_template("evaluate/error.html", message=str(exc)), status=400))


def _context(questionnaire_id):
    """What every questionnaire page needs: questionnaire, filters, filter choices.

    Reads only: quality flags are set when responses arrive and by `flask quality run`.
    """
    db = get_db()
    questionnaire = _questionnaire_or_404(questionnaire_id)
    filters = _filters_or_400()
    sites = db.execute("select code, name from sites where evaluation_id = ? order by name",
                       [g.evaluation.id]).fetchall()
    channels = [c for c in tallies.present_values(db, g.evaluation.id, questionnaire_id, "channel") if c is not None]
    return {"q": questionnaire, "filters": filters, "sites": sites,
            "channels": [(c, CHANNEL_LABELS.get(c, c)) for c in channels],
            "respondent_types": list(RESPONDENT_LABELS.items())[:4],
            "query": {k: v for k, v in request.args.items() if k in FILTER_KEYS and v}}


def _page():
    """The page number in the query string (1 when absent); 400 naming it when malformed."""
    raw = request.args.get("page", "1").strip() or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= 1_000_000:
        abort(Response(render_template("evaluate/error.html",
                                       message=f"page：请用从 1 开始的页码，收到“{raw}”"), status=400))
    return int(raw)


def pager(page, total, per_page=PAGE_SIZE):
    """Paging words for a list: {"page", "pages", "total", "first", "last"} (1-based rows)."""
    pages = max(1, -(-total // per_page))
    return {"page": page, "pages": pages, "total": total, "first": min(total, (page - 1) * per_page + 1),
            "last": min(total, page * per_page)}


def chart_cache_dir():
    """Where chart images are cached: CHART_CACHE_DIR, else beside the database file.

    Beside the database, so two databases (two deployments, or tests) never share images.
    """
    configured = current_app.config.get("CHART_CACHE_DIR")
    if configured:
        return configured
    return os.path.join(os.path.dirname(os.path.abspath(current_app.config["DATABASE"])), "chart-cache")


def _scores_url():
    """The scored indicator table's page of this evaluation."""
    return url_for("scores.index")


# ---------------------------------------------------------------- pages

@bp.get("/")
@scope.requires("statistics")
def dashboard():
    """Questionnaires with their response counts; pick one to see its measures."""
    db = get_db()
    totals = tallies.response_totals(db, g.evaluation.id)
    used = evaluations.questionnaire_ids(db, g.evaluation.id)
    rows = [(qid, title, *totals.get(qid, (0, 0))) for qid, title in db.execute(
        f"select id, title_zh from questionnaires where id in ({','.join('?' for _ in used)}) order by id",
        used).fetchall()]
    return render_template("evaluate/index.html", rows=rows)


@bp.get("/<questionnaire_id>")
@scope.requires("statistics")
def questionnaire(questionnaire_id):
    """One questionnaire: every measure with n, interval, margin and sample note; breakdowns; trend."""
    evaluation_id = g.evaluation.id
    context = _context(questionnaire_id)
    db = get_db()
    definition = context["q"].definition
    headline = headline_measure(definition)
    return render_template(
        "evaluate/dashboard.html", **context,
        rows=measure_rows(db, evaluation_id, questionnaire_id, context["filters"]),
        breakdowns=breakdowns(db, evaluation_id, questionnaire_id, context["filters"]),
        trend=[(month, rate_row(headline, rate, "", "rate", None))
               for month, rate in trend(db, evaluation_id, questionnaire_id, context["filters"], headline)],
        headline=headline, headline_label=measure_label(headline, definition) if headline else "",
        population=population_for(db, evaluation_id, questionnaire_id, context["filters"]),
        excluded=tallies.response_totals(db, evaluation_id, questionnaire_id).get(questionnaire_id, (0, 0))[1],
        charts=CHARTS, scores_url=_scores_url())


@bp.get("/<questionnaire_id>/chart/<kind>.<fmt>")
@scope.requires("statistics")
def chart(questionnaire_id, kind, fmt):
    """A chart as PNG or SVG, from the cache; `?download=1` saves it as a file."""
    evaluation_id = g.evaluation.id
    if kind not in CHARTS or fmt not in _charts().FORMATS:
        abort(404)
    _questionnaire_or_404(questionnaire_id)
    filters = _filters_or_400()
    db = get_db()
    definition = current_definition(db, questionnaire_id)
    measure = request.args.get("measure") or headline_measure(definition)
    if measure not in measure_specs(definition) and measure not in COVERAGE_MEASURES:
        abort(404)
    try:
        image, hit = cached_chart(db, evaluation_id, questionnaire_id, kind, fmt, filters, measure, chart_cache_dir())
    except _charts().ChartError:
        image, hit = _charts().empty_chart("暂无可画的数据（当前筛选下没有有效答卷）", fmt), False
    response = Response(image, mimetype=_charts().FORMATS[fmt])
    response.headers["X-Chart-Cache"] = "hit" if hit else "miss"
    response.headers["Cache-Control"] = "private, max-age=300"
    if request.args.get("download"):
        response.headers["Content-Disposition"] = f'attachment; filename="{questionnaire_id}-{kind}.{fmt}"'
    return response


@bp.get("/<questionnaire_id>/problems")
@scope.requires("results")
def problem_list(questionnaire_id):
    """Open-text answers and the yes-count problems (hotline unanswered, no channel to learn)."""
    evaluation_id = g.evaluation.id
    context = _context(questionnaire_id)
    page = _page()
    found = problems(get_db(), evaluation_id, questionnaire_id, context["filters"], page, PAGE_SIZE)
    return render_template("evaluate/problems.html", **context, problems=found,
                           paging=pager(page, found["groups_total"], PAGE_SIZE))


@bp.get("/<questionnaire_id>/problems/export.<fmt>")
@scope.requires("results")
def problem_export(questionnaire_id, fmt):
    """The whole merged problem list (every group, the page's filters) as CSV or XLSX."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    _questionnaire_or_404(questionnaire_id)
    filters = _filters_or_400()
    db = get_db()
    audit.log(db, "export_problems", f"{questionnaire_id}.{fmt} {json.dumps(filters, ensure_ascii=False)}")
    rows = problems_table(problem_groups(db, g.evaluation.id, questionnaire_id, filters))
    headers = {"Content-Disposition": f'attachment; filename="{questionnaire_id}-problems.{fmt}"'}
    if fmt == "csv":
        return Response(exports.csv_chunks(rows, made_safe=True), mimetype="text/csv; charset=utf-8",
                        headers=headers)
    return Response(exports.table_workbook([exports.TableSheet("问题清单", rows, (), [50, 8, 40, 60])]),
                    mimetype=XLSX, headers=headers)


@bp.get("/<questionnaire_id>/quality")
@scope.requires("results")
def quality_list(questionnaire_id):
    """The responses the quality rules flagged, for review."""
    evaluation_id = g.evaluation.id
    context = _context(questionnaire_id)
    db = get_db()
    page = _page()
    rule, status = request.args.get("rule") or None, request.args.get("status") or None
    try:
        total = quality.count_flagged(db, evaluation_id, questionnaire_id, rule, status)
    except quality.ReviewError as exc:
        abort(Response(render_template("evaluate/error.html", message=str(exc)), status=400))
    items = quality.flagged_responses(db, evaluation_id, questionnaire_id, rule, status, PAGE_SIZE,
                                      (page - 1) * PAGE_SIZE)
    return render_template("evaluate/quality.html", **context, items=items, rule_labels=quality.RULE_LABELS,
                           rule=rule, status=status, paging=pager(page, total),
                           list_query={k: v for k, v in {"rule": rule, "status": status}.items() if v})


@bp.post("/<questionnaire_id>/quality/<int:response_id>")
@scope.requires("results")
def quality_review(questionnaire_id, response_id):
    """Reinstate or exclude one response; the reason is mandatory."""
    _questionnaire_or_404(questionnaire_id)
    db = get_db()
    row = db.execute("select questionnaire_id from responses where id = ? and evaluation_id = ?",
                     [response_id, g.evaluation.id]).fetchone()
    if row is None or row[0] != questionnaire_id:
        abort(404)
    try:
        quality.review(db, g.evaluation.id, response_id, request.form.get("action", ""),
                       request.form.get("reason", ""),
                       user=current_user.username)
    except quality.ReviewError:
        flash(f"第 {response_id} 份答卷：请填写理由，未作任何更改。")
        return redirect(url_for("evaluate.quality_list", questionnaire_id=questionnaire_id)), 303
    done = "已恢复计入" if request.form.get("action") == "reinstate" else "已排除"
    flash(f"第 {response_id} 份答卷{done}。")
    return redirect(url_for("evaluate.quality_list", questionnaire_id=questionnaire_id), 303)


def report_period(db, evaluation, questionnaire_id, filters, zone):
    """(first, last) dates of the report's period, each end on its own: the filter's, else the
    evaluation's period, else the first / last local submission date of the valid
    responses ('—' when there are none)."""
    first, last = filters.get("period_from"), filters.get("period_to")
    first = first or evaluation.period_from
    last = last or evaluation.period_to
    if not first or not last:
        # Two queries, not one: SQLite reads a lone min() or max() as one step down the index
        # (evaluation, questionnaire, excluded, submitted_at), but both in one statement as a
        # walk over every entry (0.1 s at 200,000 responses).
        row = [db.execute(f"select {end}(submitted_at) from responses"
                          " where evaluation_id = ? and questionnaire_id = ? and excluded = 0",
                          [evaluation.id, questionnaire_id]).fetchone()[0] for end in ("min", "max")]
        first = first or localtime.format_local(row[0], zone, "%Y-%m-%d") or "—"
        last = last or localtime.format_local(row[1], zone, "%Y-%m-%d") or "—"
    return str(first), str(last)


def report_scores(db, evaluation_id, filters):
    """The newest stored indicator system of the evaluation, scored with the report's period and
    site: {"row", "result", "rows", "title"} or {"row", "error"}; None when none is stored."""
    systems = scores.stored_systems(db, evaluation_id)
    if not systems:
        return None
    row = scores.system_row(db, evaluation_id, systems[0]["id"])
    wanted = {k: v for k, v in filters.items() if k in scores.FILTER_KEYS and v}
    try:
        system = scores.stored_system(row)
        result, measured = scores.score_with_surveys(db, evaluation_id, system, wanted)
    except (IndicatorSystemError, UnknownMeasureError) as exc:
        return {"row": row, "error": str(exc), "others": len(systems) - 1}
    return {"row": row, "result": result, "rows": appendix_rows(result, measured), "title": appendix_title(result),
            "others": len(systems) - 1}


@bp.get("/<questionnaire_id>/report")
@scope.requires("statistics")
def report(questionnaire_id):
    """A printable report: the period, measures with n and interval, charts, breakdowns, the
    merged problem list and the evaluation's score table."""
    evaluation_id = g.evaluation.id
    context = _context(questionnaire_id)
    db = get_db()
    definition = context["q"].definition
    zone = i18n.timezone_name()
    return render_template(
        "evaluate/report.html", **context, rows=measure_rows(db, evaluation_id, questionnaire_id, context["filters"]),
        # A viewer's report has the rates and charts only: no open text.
        problems=problems(db, evaluation_id, questionnaire_id, context["filters"], per_page=REPORT_TEXTS)
        if scope.may("results") else None,
        breakdowns=breakdowns(db, evaluation_id, questionnaire_id, context["filters"], {"site": "社区",
                                                                         "respondent_type": "答题人"}),
        headline=headline_measure(definition), charts=CHARTS, scores_url=_scores_url(),
        population=population_for(db, evaluation_id, questionnaire_id, context["filters"]),
        period=report_period(db, g.evaluation, questionnaire_id, context["filters"], zone),
        score=report_scores(db, evaluation_id, context["filters"]),
        generated=localtime.format_local(datetime.now(timezone.utc), zone))


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@bp.get("/report.docx")
@scope.requires("results")
def report_docx():
    """The evaluation's Word report (every questionnaire, the score table) as a download."""
    # Imported here: python-docx and the report's charts would slow every worker's start.
    from survey.localtime import DEFAULT_ZONE
    from survey.word_report_data import report_docx as build

    data = build(get_db(), g.evaluation, zone_name=current_app.config.get("TIMEZONE", DEFAULT_ZONE))
    audit.log(get_db(), "report_docx_exported", g.evaluation.slug)
    return Response(data, mimetype=DOCX, headers={
        "Content-Disposition": f'attachment; filename="{g.evaluation.slug}-report.docx"'})


# ---------------------------------------------------------------- exports

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.get("/<questionnaire_id>/export/<what>.<fmt>")
@scope.requires("statistics")
def export(questionnaire_id, what, fmt):
    """Download responses (code and label columns; `?titles=zh` heads them with the question
    titles) or measures (XLSX: a sheet of every measure and one per breakdown) as CSV
    (streamed) or XLSX."""
    evaluation_id = g.evaluation.id
    if what not in ("responses", "measures") or fmt not in ("csv", "xlsx"):
        abort(404)
    if what == "responses" and not scope.may("results"):
        abort(403)  # response rows: evaluators only; the measures table is statistics
    _questionnaire_or_404(questionnaire_id)
    filters = _filters_or_400()
    titles = request.args.get("titles") or None
    if titles is not None and titles not in exports.TITLE_CHOICES:
        abort(Response(render_template("evaluate/error.html",
                                       message=f"titles：只能是 zh（用中文题目作表头），收到“{titles}”"), status=400))
    db = get_db()
    audit.log(db, f"export_{what}", f"{questionnaire_id}.{fmt} {json.dumps(filters, ensure_ascii=False)}")
    name = f"{questionnaire_id}-{what}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if what == "measures" and fmt == "xlsx":
        return Response(measures_workbook(db, evaluation_id, questionnaire_id, filters), mimetype=XLSX,
                        headers=headers)
    if what == "responses":
        zone = i18n.timezone_name()

        def rows():
            """Rows from the stored responses, read while streaming (times also in local time)."""
            yield from exports.response_rows(get_db(), evaluation_id, questionnaire_id, zone=zone, titles=titles)
    else:
        table = measures_table(db, evaluation_id, questionnaire_id, filters)

        def rows():
            """The measures table."""
            yield from table
    # Both streamed: the CSV as it is written, the XLSX from a temporary file once built.
    # Response rows are made safe as they are read; the measures table by measures_table.
    if fmt == "csv":
        return Response(stream_with_context(exports.csv_chunks(rows(), made_safe=True)),
                        mimetype="text/csv; charset=utf-8", headers=headers)
    return Response(stream_with_context(exports.xlsx_chunks(rows(), what, made_safe=True)), mimetype=XLSX,
                    headers=headers)


def init_app(app):
    """Register the blueprint (the quality CLI: survey/cli/results_commands.py)."""
    app.register_blueprint(bp)
