"""The evaluators' view: measures with n, interval and margin, breakdowns, trends,
quality review, the problem list, charts, exports and a printable report.

Every page is for evaluators (and admins). Rates count valid responses only; the
quality rules (survey.quality) run on every dashboard load, so a new speeder or a
duplicate household is flagged before it reaches a number.
"""

import csv
import hashlib
import io
import json
import os
from datetime import datetime

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user

from scoring.filters import FILTER_KEYS, parse_filters
from scoring.filters import FilterError as BadFilter
from scoring.indicators import UnknownMeasureError
from scoring.measures import EXTRA_MEASURES, compute, compute_all, current_definition, measure_specs, value_counts
from scoring.statistics import cochran_sample_size
from survey import audit, quality, questionnaires
from survey.auth import add_nav, role_required
from survey.db import get_db
from survey.importer import export_rows, neutralise, safe_row

bp = Blueprint("evaluate", __name__, url_prefix="/evaluate")
add_nav("evaluate.dashboard", "调查结果", ["evaluator"])

TARGET_MARGIN = 0.05
CHART_VERSION = "1"  # bump when the drawing code changes, so cached images are redrawn
DIMENSIONS = {"site": "社区", "channel": "渠道", "respondent_type": "答题人", "age_band": "年龄段",
              "living_alone": "是否独居"}
RESPONDENT_LABELS = {"self": "老人本人", "proxy": "家属或照护人代答", "assisted": "工作人员协助填写",
                     "public": "社会公众", "unknown": "未注明"}
CHANNEL_LABELS = {"qr": "扫码", "poster": "海报二维码", "flyer": "宣传单", "door": "入户调查", "phone": "电话回访",
                  "wechat": "微信", "paper": "纸质问卷", "import": "导入", "api": "接口", "household": "户专属链接"}
LIVING_ALONE_LABELS = {"1": "独居", "0": "非独居", "-1": "未注明"}
MEASURE_LABELS = {
    "responses": "有效样本数",
    "satisfaction_rate": "满意度（非常满意＋满意）",
    "awareness_rate": "知晓率（热线号码与服务内容的平均）",
    "security_rate": "安全感提升度（三项同意率的平均）",
    "coverage_rate": "名册回访覆盖率",
    "followup_rate": "名册回访率",
}
CHARTS = ("distribution", "sites", "trend")


def _charts():
    """scoring.survey_charts, imported on first use: matplotlib adds about 2 s to a worker's start."""
    from scoring import survey_charts

    return survey_charts


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


def population_for(db, questionnaire_id, filters=None):
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
        sites = db.execute("select id, population from sites where code = ?", [filters["site"]]).fetchall()
    else:
        sites = db.execute("select id, population from sites where id in"
                           " (select distinct site_id from responses where questionnaire_id = ?)",
                           [questionnaire_id]).fetchall()
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


def measure_rows(db, questionnaire_id, filters):
    """Every measure of a questionnaire (plus registered extra ones like coverage) as display rows."""
    definition = current_definition(db, questionnaire_id)
    specs = measure_specs(definition)
    population = population_for(db, questionnaire_id, filters)
    rates = compute_all(db, questionnaire_id, filters)
    rows = []
    for name, rate in rates.items():
        kind = "count" if name == "responses" or specs.get(name, {}).get("kind") == "yes_count" else "rate"
        rows.append(rate_row(name, rate, measure_label(name, definition), kind, population))
    for name in EXTRA_MEASURES:
        try:
            rate = compute(db, questionnaire_id, name, filters)
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


def breakdowns(db, questionnaire_id, filters, dimensions=DIMENSIONS):
    """{dimension: {"label", "measures": [(name, label)], "rows": [(group label, [rate row per measure])]}}."""
    definition = current_definition(db, questionnaire_id)
    names = main_measures(definition)
    result = {}
    for dimension, dimension_label in dimensions.items():
        per_measure = {name: compute(db, questionnaire_id, name, filters, dimension) for name in names}
        per_measure["responses"] = compute(db, questionnaire_id, "responses", filters, dimension)
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


def trend(db, questionnaire_id, filters, name):
    """[(month, Rate)] of one measure, in month order."""
    if name is None:
        return []
    return [(str(month), rate) for month, rate in compute(db, questionnaire_id, name, filters, "month").items()]


def scale_distribution(db, questionnaire_id, filters):
    """[(question text, {value: count})] for every scale5 question, and the scale's words."""
    questionnaire = questionnaires.get(db, questionnaire_id)
    rows, words = [], {}
    for question in questionnaire.questions:
        if question["type"] != "scale5":
            continue
        counts = value_counts(db, questionnaire_id, question["id"], filters).get(None, {})
        rows.append((question["text"]["zh"], counts))
        words = words or {c["value"]: c["zh"] for c in questionnaire.choices(question)}
    return rows, words


def problems(db, questionnaire_id, filters):
    """The problem list: open-text answers, and each yes-count measure with its count and texts.

    Returns {"texts": [...], "counts": [...]}; texts are plain strings (escaped when rendered).
    """
    from scoring.measures import _where

    definition = current_definition(db, questionnaire_id)
    text_questions = {q["id"]: q["text"]["zh"] for q in definition["questions"] if q["type"] == "text"}
    where, params = _where(questionnaire_id, filters)
    texts = []
    if text_questions:
        marks = ",".join("?" for _ in text_questions)
        for rid, qid, value, site, submitted in db.execute(
                f"select r.id, a.question_id, a.value, s.name, r.submitted_at from answers a"
                f" join responses r on r.id = a.response_id left join sites s on s.id = r.site_id"
                f" where {where} and a.question_id in ({marks}) order by r.submitted_at, r.id",
                [*params, *text_questions]).fetchall():
            texts.append({"response_id": rid, "question": text_questions[qid], "text": value,
                          "site": site or "（未注明）", "date": (submitted or "")[:10]})
    by_response = {}
    for item in texts:
        by_response.setdefault(item["response_id"], []).append(item["text"])
    counts = []
    for name, spec in measure_specs(definition).items():
        if spec.get("kind") != "yes_count":
            continue
        yes_ids = [row[0] for row in db.execute(
            f"select r.id from answers a join responses r on r.id = a.response_id"
            f" left join sites s on s.id = r.site_id where {where} and a.question_id = ? and a.value = '1'"
            f" order by r.submitted_at, r.id", [*params, spec["question"]]).fetchall()]
        rate = compute(db, questionnaire_id, name, filters)
        counts.append({"name": name, "label": measure_label(name, definition), "count": len(yes_ids),
                       "n": rate.n, "texts": [t for rid in yes_ids for t in by_response.get(rid, [])]})
    return {"texts": texts, "counts": counts}


def chart_key(db, questionnaire_id, kind, fmt, filters, measure):
    """The cache key of a chart image.

    It hashes everything the picture depends on: the questionnaire and its current
    version (labels), the chart kind, format and measure, the filters (sorted), the number
    of responses and the highest response id (a new or removed response changes one of
    them; ids only grow), the quality flags version (an exclusion or reinstatement changes
    rates without changing the counts), and CHART_VERSION (the drawing code).
    """
    count, max_id = db.execute("select count(*), coalesce(max(id), 0) from responses where questionnaire_id = ?",
                               [questionnaire_id]).fetchone()
    version = db.execute("select current_version from questionnaires where id = ?", [questionnaire_id]).fetchone()
    material = json.dumps([CHART_VERSION, questionnaire_id, version[0] if version else None, kind, fmt, measure,
                           sorted((k, str(v)) for k, v in filters.items()), count, max_id,
                           quality.flags_version(db)], ensure_ascii=False)
    return hashlib.sha256(material.encode()).hexdigest()


def draw_chart(db, questionnaire_id, kind, fmt, filters, measure):
    """The chart image bytes (drawn now, no cache)."""
    definition = current_definition(db, questionnaire_id)
    title = definition["title"]["zh"]
    if kind == "distribution":
        rows, words = scale_distribution(db, questionnaire_id, filters)
        return _charts().distribution_chart(rows, words, f"{title}：各题回答分布", fmt)
    label = measure_label(measure, definition).split("（")[0]
    if kind == "sites":
        groups = compute(db, questionnaire_id, measure, filters, "site")
        data = [(str(g), r.value, r.ci95, r.n) for g, r in groups.items()]
        return _charts().rates_chart(data, f"{label}（分社区）", fmt,
                                         target=0.9 if "satisfaction" in measure else None)
    points = [(month, r.value, r.ci95, r.n) for month, r in trend(db, questionnaire_id, filters, measure)]
    return _charts().trend_chart(points, f"{label}：月度趋势", fmt)


def cached_chart(db, questionnaire_id, kind, fmt, filters, measure, folder):
    """The chart from the on-disk cache in `folder`, drawn and stored on a miss."""
    key = chart_key(db, questionnaire_id, kind, fmt, filters, measure)
    path = os.path.join(folder, f"{key}.{fmt}")
    if os.path.exists(path):
        with open(path, "rb") as handle:
            return handle.read(), True
    image = draw_chart(db, questionnaire_id, kind, fmt, filters, measure)
    os.makedirs(folder, exist_ok=True)
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "wb") as handle:
        handle.write(image)
    os.replace(temporary, path)  # atomic: a concurrent reader never sees half a file
    return image, False


def measures_table(db, questionnaire_id, filters):
    """Rows for the measures export: header first, every cell neutralised."""
    header = ["measure", "label", "value", "n", "successes", "ci95_low", "ci95_high", "margin",
              "needed_for_5_points", "filters"]
    rows = [header]
    described = ";".join(f"{k}={v}" for k, v in sorted(filters.items()))
    for row in measure_rows(db, questionnaire_id, filters):
        rate = row["rate"]
        rows.append([neutralise(str(c)) if isinstance(c, str) else c for c in [
            row["name"], row["label"], None if rate.value is None else round(rate.value, 4), rate.n,
            rate.successes, round(rate.ci95[0], 4), round(rate.ci95[1], 4), round(rate.margin, 4),
            row["note"]["needed"] if row["note"] else None, described]])
    return rows


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
    """The questionnaire, or 404."""
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

    Also brings the quality flags up to date, since every such page counts only valid
    responses (idempotent; a reviewer's decision is never undone by it).
    """
    db = get_db()
    questionnaire = _questionnaire_or_404(questionnaire_id)
    filters = _filters_or_400()
    quality.run(db, questionnaire_id, current_app.config)
    sites = db.execute("select code, name from sites order by name").fetchall()
    channels = [row[0] for row in db.execute(
        "select distinct channel from responses where questionnaire_id = ? order by channel",
        [questionnaire_id]).fetchall()]
    return {"q": questionnaire, "filters": filters, "sites": sites,
            "channels": [(c, CHANNEL_LABELS.get(c, c)) for c in channels],
            "respondent_types": list(RESPONDENT_LABELS.items())[:4],
            "query": {k: v for k, v in request.args.items() if k in FILTER_KEYS and v}}


def chart_cache_dir():
    """Where chart images are cached: CHART_CACHE_DIR, else beside the database file.

    Beside the database, so two databases (two deployments, or tests) never share images.
    """
    configured = current_app.config.get("CHART_CACHE_DIR")
    if configured:
        return configured
    return os.path.join(os.path.dirname(os.path.abspath(current_app.config["DATABASE"])), "chart-cache")


def _scores_url():
    """The scored indicator table's page, when that feature is installed."""
    for rule in current_app.url_map.iter_rules():
        if rule.rule.rstrip("/") == "/scores" and "GET" in rule.methods:
            return rule.rule
    return None


# ---------------------------------------------------------------- pages

@bp.get("/")
@role_required("evaluator")
def dashboard():
    """Questionnaires with their response counts; pick one to see its measures."""
    db = get_db()
    rows = db.execute(
        "select q.id, q.title_zh, count(r.id), coalesce(sum(r.excluded), 0) from questionnaires q"
        " left join responses r on r.questionnaire_id = q.id group by q.id order by q.id").fetchall()
    return render_template("evaluate/index.html", rows=rows)


@bp.get("/<questionnaire_id>")
@role_required("evaluator")
def questionnaire(questionnaire_id):
    """One questionnaire: every measure with n, interval, margin and sample note; breakdowns; trend."""
    context = _context(questionnaire_id)
    db = get_db()
    definition = context["q"].definition
    headline = headline_measure(definition)
    return render_template(
        "evaluate/dashboard.html", **context, rows=measure_rows(db, questionnaire_id, context["filters"]),
        breakdowns=breakdowns(db, questionnaire_id, context["filters"]),
        trend=[(month, rate_row(headline, rate, "", "rate", None))
               for month, rate in trend(db, questionnaire_id, context["filters"], headline)],
        headline=headline, headline_label=measure_label(headline, definition) if headline else "",
        population=population_for(db, questionnaire_id, context["filters"]),
        excluded=db.execute("select count(*) from responses where questionnaire_id = ? and excluded = 1",
                            [questionnaire_id]).fetchone()[0],
        charts=CHARTS, scores_url=_scores_url())


@bp.get("/<questionnaire_id>/chart/<kind>.<fmt>")
@role_required("evaluator")
def chart(questionnaire_id, kind, fmt):
    """A chart as PNG or SVG, from the cache; `?download=1` saves it as a file."""
    if kind not in CHARTS or fmt not in _charts().FORMATS:
        abort(404)
    _questionnaire_or_404(questionnaire_id)
    filters = _filters_or_400()
    db = get_db()
    definition = current_definition(db, questionnaire_id)
    measure = request.args.get("measure") or headline_measure(definition)
    if measure not in measure_specs(definition) and measure not in EXTRA_MEASURES:
        abort(404)
    try:
        image, hit = cached_chart(db, questionnaire_id, kind, fmt, filters, measure, chart_cache_dir())
    except _charts().ChartError:
        image, hit = _charts().empty_chart("暂无可画的数据（当前筛选下没有有效答卷）", fmt), False
    response = Response(image, mimetype=_charts().FORMATS[fmt])
    response.headers["X-Chart-Cache"] = "hit" if hit else "miss"
    response.headers["Cache-Control"] = "private, max-age=300"
    if request.args.get("download"):
        response.headers["Content-Disposition"] = f'attachment; filename="{questionnaire_id}-{kind}.{fmt}"'
    return response


@bp.get("/<questionnaire_id>/problems")
@role_required("evaluator")
def problem_list(questionnaire_id):
    """Open-text answers and the yes-count problems (hotline unanswered, no channel to learn)."""
    context = _context(questionnaire_id)
    return render_template("evaluate/problems.html", **context,
                           problems=problems(get_db(), questionnaire_id, context["filters"]))


@bp.get("/<questionnaire_id>/quality")
@role_required("evaluator")
def quality_list(questionnaire_id):
    """The responses the quality rules flagged, for review."""
    context = _context(questionnaire_id)
    db = get_db()
    return render_template("evaluate/quality.html", **context, items=quality.flagged_responses(db, questionnaire_id),
                           rule_labels=quality.RULE_LABELS)


@bp.post("/<questionnaire_id>/quality/<int:response_id>")
@role_required("evaluator")
def quality_review(questionnaire_id, response_id):
    """Reinstate or exclude one response; the reason is mandatory."""
    _questionnaire_or_404(questionnaire_id)
    db = get_db()
    row = db.execute("select questionnaire_id from responses where id = ?", [response_id]).fetchone()
    if row is None or row[0] != questionnaire_id:
        abort(404)
    try:
        quality.review(db, response_id, request.form.get("action", ""), request.form.get("reason", ""),
                       user=current_user.username)
    except quality.ReviewError:
        flash(f"第 {response_id} 份答卷：请填写理由，未作任何更改。")
        return redirect(url_for("evaluate.quality_list", questionnaire_id=questionnaire_id)), 303
    done = "已恢复计入" if request.form.get("action") == "reinstate" else "已排除"
    flash(f"第 {response_id} 份答卷{done}。")
    return redirect(url_for("evaluate.quality_list", questionnaire_id=questionnaire_id), 303)


@bp.get("/<questionnaire_id>/report")
@role_required("evaluator")
def report(questionnaire_id):
    """A printable report: measures with n and interval, charts, problem list, link to the scores."""
    context = _context(questionnaire_id)
    db = get_db()
    definition = context["q"].definition
    return render_template(
        "evaluate/report.html", **context, rows=measure_rows(db, questionnaire_id, context["filters"]),
        problems=problems(db, questionnaire_id, context["filters"]),
        breakdowns=breakdowns(db, questionnaire_id, context["filters"], {"site": "社区",
                                                                         "respondent_type": "答题人"}),
        headline=headline_measure(definition), charts=CHARTS, scores_url=_scores_url(),
        population=population_for(db, questionnaire_id, context["filters"]),
        generated=datetime.now().strftime("%Y-%m-%d %H:%M"))


# ---------------------------------------------------------------- exports

def _csv_lines(rows):
    """Yield CSV text line by line (BOM first, so Excel reads the Chinese)."""
    yield "\ufeff"
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(safe_row(row))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _xlsx(rows, sheet):
    """An XLSX workbook (bytes) of rows; text cells go in as strings, never formulas."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(sheet)
    for row in rows:
        worksheet.append(safe_row(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.get("/<questionnaire_id>/export/<what>.<fmt>")
@role_required("evaluator")
def export(questionnaire_id, what, fmt):
    """Download responses (code and label columns) or measures as CSV (streamed) or XLSX."""
    if what not in ("responses", "measures") or fmt not in ("csv", "xlsx"):
        abort(404)
    _questionnaire_or_404(questionnaire_id)
    filters = _filters_or_400()
    db = get_db()
    audit.log(db, f"export_{what}", f"{questionnaire_id}.{fmt} {json.dumps(filters, ensure_ascii=False)}")
    name = f"{questionnaire_id}-{what}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if what == "responses":
        def rows():
            """Rows from the stored responses, read while streaming."""
            yield from export_rows(get_db(), questionnaire_id)
    else:
        table = measures_table(db, questionnaire_id, filters)

        def rows():
            """The measures table."""
            yield from table
    if fmt == "csv":
        return Response(stream_with_context(_csv_lines(rows())), mimetype="text/csv; charset=utf-8",
                        headers=headers)
    return Response(_xlsx(rows(), what), mimetype=XLSX, headers=headers)


def init_app(app):
    """Register the blueprint and the quality CLI."""
    app.register_blueprint(bp)
    quality.init_app(app)
