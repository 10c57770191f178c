"""Gathers one evaluation's data for the Word report (survey/word_report.py builds it).

Reads the database through the same helpers as the evaluators' pages (survey.web.evaluate:
measures with n and interval, breakdowns, the Cochran sample note, charts), so the report
and the pages never disagree; scores the evaluation's indicator system with its survey
leaves fed from the answers (survey.web.scores.score_with_surveys).
"""

import json
from datetime import datetime, timezone

from scoring import IndicatorSystemError
from scoring.charts import ChartFontMissing, score_weight_chart
from scoring.survey_charts import ChartError
from survey import quality, vocabulary
from survey.localtime import DEFAULT_ZONE, to_local
from survey.problems import group_comments
from survey.storage import evaluations
from survey.storage.measures_store import current_definition, where
from survey.web import evaluate, scores
from survey.word_report import (
    Breakdown,
    Cover,
    MeasureLine,
    Picture,
    ReportData,
    ScoreSection,
    SurveySection,
    build_docx,
)

REPORT_DIMENSIONS = {"site": "社区", "channel": "渠道", "respondent_type": "答题人", "age_band": "年龄段"}
CHART_KINDS = (("distribution", "各题回答分布"), ("sites", "分社区比率与95%置信区间"), ("trend", "月度趋势"))
MAX_TEXTS = 20000  # open-text answers read for the problem list (the newest), so memory stays bounded
AUDIENCE_WORDS = {"elders": "服务对象（老年人本人或代答的家属、照护人）", "public": "社会公众"}

# ---------------------------------------------------------------- the parts


def _local_date(moment):
    """A date in the report's words: 2024年9月2日."""
    return f"{moment.year}年{moment.month}月{moment.day}日"


def period_text(db, evaluation, zone_name):
    """The evaluation's period in real dates: its own dates, else the first and last answer's local dates."""
    if evaluation.period_from or evaluation.period_to:
        return f"{evaluation.period_from or '（未定）'} 至 {evaluation.period_to or '（未定）'}"
    first, last = db.execute("select min(submitted_at), max(submitted_at) from responses where evaluation_id = ?",
                             [evaluation.id]).fetchone()
    if first:
        start, end = (to_local(first, zone_name), to_local(last, zone_name))
        return f"{start:%Y-%m-%d} 至 {end:%Y-%m-%d}（按答卷提交时间）"
    if evaluation.year:
        return f"{evaluation.year}年度"
    return "（未设定，尚无答卷）"


def _channels(db, evaluation_id, questionnaire_id):
    """[(channel words, received, counted)] of one questionnaire, most answers first."""
    rows = db.execute(
        "select channel, count(*), sum(excluded = 0) from responses where evaluation_id = ? and questionnaire_id = ?"
        " group by channel order by count(*) desc, channel", [evaluation_id, questionnaire_id]).fetchall()
    return [(vocabulary.label(vocabulary.CHANNELS, channel) or "（未注明）", got, valid or 0)
            for channel, got, valid in rows]


def _exclusions(db, evaluation_id, questionnaire_id):
    """[(reason, responses)] of the excluded responses: the quality rules that flagged them, or a review."""
    found = {}
    for flags, count in db.execute(
            "select flags, count(*) from responses where evaluation_id = ? and questionnaire_id = ? and excluded = 1"
            " group by flags", [evaluation_id, questionnaire_id]).fetchall():
        names = [f for f in (json.loads(flags) if flags else []) if f in quality.RULE_LABELS]
        reason = "、".join(quality.RULE_LABELS[f] for f in names) if names else "评价组复核后排除"
        found[reason] = found.get(reason, 0) + count
    return sorted(found.items(), key=lambda item: (-item[1], item[0]))


def _texts(db, evaluation_id, questionnaire_id, definition):
    """(text, site) of the open-text answers of valid responses, newest first, at most MAX_TEXTS."""
    question_ids = [q["id"] for q in definition["questions"] if q["type"] == "text"]
    if not question_ids:
        return []
    clause, params = where(evaluation_id, questionnaire_id, {})
    marks = ",".join("?" for _ in question_ids)
    return db.execute(
        f"select a.value, coalesce(s.name, '（未注明）') from responses r"
        f" join answers a on a.response_id = r.id and a.question_id in ({marks})"
        f" left join sites s on s.id = r.site_id where {clause} and trim(a.value) != ''"
        f" order by r.id desc limit ?", [*question_ids, *params, MAX_TEXTS]).fetchall()


def _pictures(db, evaluation_id, questionnaire_id, headline):
    """The questionnaire's charts as PNGs (those with something to draw)."""
    pictures = []
    title = current_definition(db, questionnaire_id)["title"]["zh"]
    for kind, words in CHART_KINDS:
        if kind != "distribution" and headline is None:
            continue
        try:
            png = evaluate.draw_chart(db, evaluation_id, questionnaire_id, kind, "png", {}, headline)
        except ChartError:
            continue
        pictures.append(Picture(f"{title}：{words}", png))
    return pictures


def _method(db, questionnaire_id, channels):
    """The method sentence: who was asked, how, through which channels."""
    audience = db.execute("select audience from questionnaires where id = ?", [questionnaire_id]).fetchone()
    who = AUDIENCE_WORDS.get(audience[0] if audience else None, "调查对象")
    used = "、".join(f"{name} {got} 份" for name, got, _valid in channels) or "尚无答卷"
    return (f"问卷调查，调查对象为{who}。答卷来自：{used}。各渠道的答卷按同一问卷计入；"
            f"家属代答与工作人员协助填写的答卷计入统计，并在按答题人分组的表中单独列出。")


def survey_section(db, evaluation_id, questionnaire_id, charts=True):
    """Everything the report says about one questionnaire of the evaluation."""
    definition = current_definition(db, questionnaire_id)
    rows = evaluate.measure_rows(db, evaluation_id, questionnaire_id, {})
    valid = next((row["rate"].n for row in rows if row["name"] == "responses"), 0)
    channels = _channels(db, evaluation_id, questionnaire_id)
    received = sum(got for _name, got, _valid in channels)
    population = evaluate.population_for(db, evaluation_id, questionnaire_id, {})
    note = evaluate.sample_note(valid, population)
    measures, yes_counts = [], []
    declared = evaluate.main_measures(definition)
    for row in rows:
        if row["name"] == "responses":
            continue
        if row["kind"] == "count":
            yes_counts.append((row["label"], row["rate"].successes, row["rate"].n))
        else:
            measures.append(MeasureLine(row["label"].rstrip("？?"), row["rate"], row["kind"],
                                        row["name"] in declared))
    tables = []
    for dimension, found in evaluate.breakdowns(db, evaluation_id, questionnaire_id, {},
                                                REPORT_DIMENSIONS).items():
        if not found["rows"]:
            continue
        tables.append(Breakdown(
            f"按{REPORT_DIMENSIONS[dimension]}分组", REPORT_DIMENSIONS[dimension],
            [label.split("（")[0] for _name, label in found["measures"]],
            [(row["group"], row["responses"], [cell["rate"] if cell else None for cell in row["cells"]])
             for row in found["rows"]]))
    texts = _texts(db, evaluation_id, questionnaire_id, definition)
    headline = evaluate.headline_measure(definition)
    return SurveySection(
        title=definition["title"]["zh"], method=_method(db, questionnaire_id, channels), channels=channels,
        received=received, valid=valid, excluded=received - valid,
        exclusions=_exclusions(db, evaluation_id, questionnaire_id), sample_note=note["text"],
        needed=note["needed"], population=population, measures=measures, breakdowns=tables,
        pictures=_pictures(db, evaluation_id, questionnaire_id, headline) if charts and valid else [],
        problems=group_comments(texts), yes_counts=yes_counts, texts=len(texts))


def score_section(db, evaluation_id, system=None, source=""):
    """The scored system: the one given (errors raised), else the evaluation's newest stored one
    (an error becomes the section's words), else none."""
    if system is None:
        stored = scores.stored_systems(db, evaluation_id)
        if not stored:
            return ScoreSection(missing="本评价项目尚未上传指标体系，报告不含评分表。")
        row = scores.system_row(db, evaluation_id, stored[0]["id"])
        source = f"已上传的“{row['name']}”（{row['filename'] or '无文件名'}，#{row['id']}）"
        try:
            system = scores.stored_system(row)
            result, measured = scores.score_with_surveys(db, evaluation_id, system)
        except IndicatorSystemError as exc:
            return ScoreSection(source=source, missing=f"指标体系{source}无法评分：{exc}")
    else:
        result, measured = scores.score_with_surveys(db, evaluation_id, system)
    return ScoreSection(result=result, measured=measured, source=source, chart=_score_chart(result))


def _score_chart(result):
    """The score-against-weight chart, or None without a CJK font."""
    try:
        return score_weight_chart(result)
    except ChartFontMissing:
        return None


def gather(db, evaluation, system=None, system_source="", zone_name=DEFAULT_ZONE, now=None, charts=True):
    """The report's data for one evaluation (an Evaluation)."""
    now = now or datetime.now(timezone.utc)
    cover = Cover(evaluation=evaluation.name, project=evaluation.project or "", unit=evaluation.unit or "",
                  period=period_text(db, evaluation, zone_name),
                  report_date=_local_date(to_local(now, zone_name)))
    used = evaluations.questionnaire_ids(db, evaluation.id)
    surveys = [survey_section(db, evaluation.id, questionnaire_id, charts) for questionnaire_id in used]
    return ReportData(cover, surveys, score_section(db, evaluation.id, system, system_source))


def report_docx(db, evaluation, system=None, system_source="", zone_name=DEFAULT_ZONE, now=None):
    """The .docx bytes of one evaluation's report."""
    return build_docx(gather(db, evaluation, system, system_source, zone_name, now))
