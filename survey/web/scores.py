"""Indicator systems of an evaluation: the evaluators' pages and the storage they read.

Pages under /e/<evaluation>/scores: the score table, its chart and its XLSX are
statistics (manager, evaluator, viewer); uploading a system or loading an example is
for evaluators. An indicator system belongs to one evaluation, and its survey leaves
read that evaluation's answers only. The `score` and `measures` commands live in
survey/cli/results_commands.py and call the functions here.

Charts are cached in the `score_chart_cache` table, keyed by the sha256 of the
evaluation, the YAML, the filters and the state of every questionnaire the system's
survey leaves read (response count, last response id, excluded count, current version).
A table rather than files in the instance folder: it goes with the database (tests,
backups and several gunicorn workers all see the same cache, with no file locking), and
a changed response moves the key, so an entry can never be stale; older entries of the
same system are pruned.
"""

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from scoring import IndicatorSystemError, UnknownMeasureError, load_system_yaml, score_system
from scoring.appendix import appendix_rows, title
from scoring.files import MAX_BYTES, FileRefused, decode_text
from scoring.report import display_width
from scoring.workbook import is_workbook, read_workbook, system_yaml, write_workbook
from survey import exports
from survey.storage import audit, measures_store
from survey.storage.db import get_db, transaction
from survey.web import scope
from survey.web.auth import add_nav

bp = Blueprint("scores", __name__, url_prefix="/e/<evaluation>/scores")
scope.scope_blueprint(bp)
ROOT = Path(__file__).resolve().parents[2]
CHART_VERSION = "1"
FILTER_KEYS = ("period_from", "period_to", "site")
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class UploadError(ValueError):
    """An uploaded indicator-system file is refused; the message says why (and where)."""


def create_schema(db):
    """The uploaded indicator systems and the chart cache (as release 1; migration 2 adds
    `set_aside_note`)."""
    db["indicator_systems"].create(
        {"id": int, "name": str, "filename": str, "yaml": str, "sha256": str,
         "uploaded_by": str, "uploaded_at": str},
        pk="id", not_null={"name", "yaml", "sha256", "uploaded_at"}, if_not_exists=True,
    )
    db["score_chart_cache"].create(
        {"key": str, "system_id": int, "fmt": str, "data": bytes, "created_at": str},
        pk="key", not_null={"system_id", "fmt", "data"}, if_not_exists=True,
    )
    db["score_chart_cache"].create_index(["system_id", "fmt"], if_not_exists=True)


# --- helpers shared by the CLI and the pages -------------------------------------------


def example_files():
    """The built-in examples: {filename: path} of examples/*.yaml and the shared hotline example."""
    found = {p.name: p for p in sorted((ROOT / "examples").glob("*.yaml"))}
    shared = ROOT.parent / "shared" / "examples" / "hotline-2024.yaml"
    if shared.is_file():
        found[shared.name] = shared
    return found


def source_leaves(system):
    """Every leaf node of a system that takes its value from a survey `source`."""
    stack = list(system.indicators)
    while stack:
        node = stack.pop(0)
        if node.children:
            stack[0:0] = node.children
        elif "source" in node.params:
            yield node


def _source_key(survey, measure, filters):
    """A hashable key for one measure request."""
    return survey, measure, json.dumps(filters or {}, sort_keys=True, ensure_ascii=False)


def score_with_surveys(db, evaluation_id, system, filters=None):
    """Score a system with survey leaves fed from the evaluation's answers; return (result, {path: Rate})."""
    lookup = measures_store.source_for(db, evaluation_id, {k: v for k, v in (filters or {}).items() if v})
    seen = {}

    def recording(survey, measure, leaf_filters=None):
        """Compute a measure and remember it for the leaf's evidence."""
        rate = lookup(survey, measure, leaf_filters)
        seen[_source_key(survey, measure, leaf_filters)] = rate
        return rate

    result = score_system(system, recording)
    measured = {}
    for node in source_leaves(system):
        source = node.params["source"]
        key = _source_key(source["survey"], source["measure"], dict(source.get("filters") or {}))
        if key in seen:
            measured[node.path] = seen[key]
    return result, measured


def check_sources(db, evaluation_id, system):
    """Refuse a system whose survey leaves name an unknown questionnaire or measure."""
    for node in source_leaves(system):
        source = node.params["source"]
        try:
            measures_store.compute(db, evaluation_id, source["survey"], source["measure"],
                                    dict(source.get("filters") or {}))
        except UnknownMeasureError as exc:
            raise IndicatorSystemError(
                f"{node.path}: unknown survey measure {source['survey']}/{source['measure']}: {exc}",
                node.path) from None


def parse_upload(db, evaluation_id, text):
    """Parse and validate YAML text through the guarded loader; raise IndicatorSystemError."""
    system = load_system_yaml(text)
    check_sources(db, evaluation_id, system)
    return system


def store_system(db, evaluation_id, name, filename, data):
    """Validate and store an indicator system of an evaluation: YAML (text or bytes in
    UTF-8/UTF-16/GB18030) or an XLSX workbook in the appendix layout (scoring.workbook).

    Returns its id; nothing is stored on error. The text is stored decoded, so a GBK
    file reads back the same from the database; a workbook is stored as the YAML of
    the system it holds, so the table, chart and API pages read it like any other.
    """
    if isinstance(data, bytes) and is_workbook(filename, data):
        system = read_workbook(data)
        check_sources(db, evaluation_id, system)
        text = system_yaml(system)
    else:
        try:
            text = decode_text(data) if isinstance(data, bytes) else data
        except FileRefused as exc:
            raise IndicatorSystemError(str(exc)) from None
        system = parse_upload(db, evaluation_id, text)
    name = (name or "").strip() or " ".join(p for p in (system.project, system.period) if p) or filename
    user = current_user.username if current_user and current_user.is_authenticated else None
    with transaction(db):
        cursor = db.execute(
            "insert into indicator_systems (evaluation_id, name, filename, yaml, sha256, uploaded_by, uploaded_at)"
            " values (?, ?, ?, ?, ?, ?, ?)",
            [evaluation_id, name, filename, text, hashlib.sha256(text.encode()).hexdigest(), user,
             datetime.now(timezone.utc).isoformat(timespec="seconds")])
    system_id = cursor.lastrowid
    audit.log(db, "indicator_system_uploaded", f"#{system_id} {name} ({filename})", evaluation_id=evaluation_id)
    return system_id


def filters_of(period_from, period_to, site):
    """The measure filters given on the command line or the query string (empty dropped)."""
    given = {"period_from": period_from, "period_to": period_to, "site": site}
    return {k: v for k, v in given.items() if v}


# --- text output (the CLI prints these) ------------------------------------------------


def _rate_cells(label, rate):
    """One text-table row: name, value %, n, 95% interval."""
    if rate.value is None:
        return [label, "—", str(rate.n), "—"]
    low, high = rate.ci95
    return [label, f"{rate.value * 100:.2f}", str(rate.n), f"{low * 100:.2f}–{high * 100:.2f}"]


def measures_table(results, by=None):
    """A readable table of measures (and their items, or their breakdown groups)."""
    rows = [["指标", "值 %", "n", "95% 区间"]]
    for name, got in results.items():
        if by:
            rows.append([name, "", "", ""])
            rows += [_rate_cells(f"  {group}", rate) for group, rate in got.items()]
            continue
        if name == "responses":
            rows.append([name, "", str(got.n), ""])
            continue
        rows.append(_rate_cells(name, got))
        rows += [_rate_cells(f"  {item}", rate) for item, rate in got.items.items()]
    widths = [max(display_width(r[i]) for r in rows) for i in range(4)]
    lines = []
    for row in rows:
        cells = [row[0] + " " * (widths[0] - display_width(row[0]))]
        cells += [row[i].rjust(widths[i]) for i in range(1, 4)]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "-" * (sum(widths) + 6))
    return "\n".join(lines)


# --- pages -----------------------------------------------------------------------------


def stored_systems(db, evaluation_id):
    """The evaluation's stored indicator systems, newest first (dict rows)."""
    return list(db.query("select id, name, filename, uploaded_by, uploaded_at from indicator_systems"
                         " where evaluation_id = ? order by id desc", [evaluation_id]))


def system_row(db, evaluation_id, system_id):
    """One stored system of the evaluation (a dict row), or None (also when another evaluation's)."""
    rows = list(db.query("select * from indicator_systems where id = ? and evaluation_id = ?",
                         [system_id, evaluation_id]))
    return rows[0] if rows else None


def _load_row(system_id):
    """The stored system row of this evaluation, or 404."""
    row = system_row(get_db(), g.evaluation.id, system_id)
    if row is None:
        abort(404)
    return row


def _request_filters():
    """Survey filters from the query string (period_from, period_to, site)."""
    return filters_of(*(request.args.get(k, "").strip() for k in FILTER_KEYS))


def stored_system(row):
    """The IndicatorSystem of a stored row; a row set aside on upgrade is refused by its note."""
    if row["set_aside_note"]:
        raise IndicatorSystemError(row["set_aside_note"])
    return load_system_yaml(row["yaml"])


def _scored(row, filters):
    """Score a stored system: (system, result, measured), or raise IndicatorSystemError."""
    system = stored_system(row)
    result, measured = score_with_surveys(get_db(), g.evaluation.id, system, filters)
    return system, result, measured


@bp.get("/")
@scope.requires("statistics")
def index():
    """The stored indicator systems, the upload form and the built-in examples."""
    systems = stored_systems(get_db(), g.evaluation.id)
    return render_template("scores/index.html", systems=systems, examples=sorted(example_files()))


@bp.post("/upload")
@scope.requires("results")
def upload():
    """Store an uploaded YAML file or XLSX workbook after validation; an invalid file is refused,
    nothing stored."""
    upload_file = request.files.get("file")
    filename = (upload_file.filename if upload_file else "") or ""
    try:
        if not upload_file or not filename:
            raise UploadError(_("请选择一个 YAML 或 XLSX 文件。"))
        # One byte past the cap is enough to know the file is too big.
        data = upload_file.read(MAX_BYTES + 1)
        system_id = store_system(get_db(), g.evaluation.id, request.form.get("name"), filename, data)
    except (UploadError, IndicatorSystemError) as exc:
        return _refuse(str(exc), filename)
    flash(f"已上传指标体系 {filename}。")
    return redirect(url_for("scores.table", system_id=system_id))


def _refuse(message, filename):
    """Show the list page again with the error of a refused file (422)."""
    systems = stored_systems(get_db(), g.evaluation.id)
    return render_template("scores/index.html", systems=systems, examples=sorted(example_files()),
                           error=message, filename=filename), 422


@bp.post("/examples/<filename>")
@scope.requires("results")
def load_example(filename):
    """Store one of the built-in example files (one click)."""
    path = example_files().get(filename)
    if path is None:
        abort(404)
    try:
        system_id = store_system(get_db(), g.evaluation.id, None, filename, path.read_text(encoding="utf-8"))
    except IndicatorSystemError as exc:
        return _refuse(str(exc), filename)
    flash(f"已载入示例 {filename}。")
    return redirect(url_for("scores.table", system_id=system_id))


@bp.get("/<int:system_id>")
@scope.requires("statistics")
def table(system_id):
    """The score table laid out like a report's appendix table, with the chart."""
    row = _load_row(system_id)
    filters = _request_filters()
    try:
        system, result, measured = _scored(row, filters)
    except IndicatorSystemError as exc:
        return render_template("scores/table.html", row=row, error=str(exc), filters=filters), 409
    return render_template("scores/table.html", row=row, result=result, system=system,
                           rows=appendix_rows(result, measured), title=title(result),
                           filters=filters, measured=measured)


def _cache_key(db, evaluation_id, row, system, filters, fmt):
    """sha256 of the evaluation, YAML, filters, chart version and the state of the surveys it
    reads (in that evaluation: two evaluations never share a cached chart)."""
    surveys = sorted({node.params["source"]["survey"] for node in source_leaves(system)})
    state = [evaluation_id]
    for survey in surveys:
        counts = db.execute(
            "select count(*), max(id), coalesce(sum(excluded), 0) from responses"
            " where evaluation_id = ? and questionnaire_id = ?", [evaluation_id, survey]).fetchone()
        version = db.execute("select current_version from questionnaires where id = ?", [survey]).fetchone()
        state.append([survey, *counts, version[0] if version else None])
    material = json.dumps([row["sha256"], filters, state, fmt, CHART_VERSION], sort_keys=True, default=str)
    return hashlib.sha256(material.encode()).hexdigest()


def _chart(system_id, fmt):
    """The chart bytes of a system in a format, from the cache or freshly rendered."""
    row = _load_row(system_id)
    filters = _request_filters()
    db = get_db()
    try:
        system = stored_system(row)
        key = _cache_key(db, g.evaluation.id, row, system, filters, fmt)
        cached = db.execute("select data from score_chart_cache where key = ?", [key]).fetchone()
        if cached is not None:
            return cached[0], True
        result, _ = score_with_surveys(db, g.evaluation.id, system, filters)
    except IndicatorSystemError as exc:
        abort(Response(str(exc), status=409, mimetype="text/plain"))
    # Imported here: matplotlib adds about 2 s to every worker's start.
    from scoring.charts import score_weight_chart, score_weight_chart_svg

    data = score_weight_chart_svg(result) if fmt == "svg" else score_weight_chart(result)
    with transaction(db):
        db.execute("delete from score_chart_cache where system_id = ? and fmt = ?", [system_id, fmt])
        db.execute("insert or replace into score_chart_cache (key, system_id, fmt, data, created_at)"
                   " values (?, ?, ?, ?, ?)",
                   [key, system_id, fmt, data, datetime.now(timezone.utc).isoformat(timespec="seconds")])
    return data, False


@bp.get("/<int:system_id>/chart.png")
@scope.requires("statistics")
def chart_png(system_id):
    """The score-against-weight chart as PNG (cached)."""
    data, hit = _chart(system_id, "png")
    return Response(data, mimetype="image/png", headers={"X-Chart-Cache": "hit" if hit else "miss"})


@bp.get("/<int:system_id>/chart.svg")
@scope.requires("statistics")
def chart_svg(system_id):
    """The score-against-weight chart as SVG (cached)."""
    data, hit = _chart(system_id, "svg")
    return Response(data, mimetype="image/svg+xml", headers={"X-Chart-Cache": "hit" if hit else "miss"})


@bp.get("/<int:system_id>/system.xlsx")
@scope.requires("statistics")
def system_xlsx(system_id):
    """The stored system itself as an appendix-layout workbook, to correct in Excel and upload again."""
    row = _load_row(system_id)
    try:
        data = write_workbook(stored_system(row))
    except IndicatorSystemError as exc:
        abort(Response(str(exc), status=409, mimetype="text/plain"))
    return Response(data, mimetype=XLSX_MIME,
                    headers={"Content-Disposition": f"attachment; filename=indicator-system-{system_id}.xlsx"})


@bp.get("/<int:system_id>/table.xlsx")
@scope.requires("statistics")
def table_xlsx(system_id):
    """The score table as an XLSX appendix table (download)."""
    row = _load_row(system_id)
    try:
        _, result, measured = _scored(row, _request_filters())
    except IndicatorSystemError as exc:
        abort(Response(str(exc), status=409, mimetype="text/plain"))
    audit.log(get_db(), "score_table_exported", f"#{system_id} {row['name']}")
    return Response(exports.score_table_xlsx(result, measured), mimetype=XLSX_MIME,
                    headers={"Content-Disposition": f"attachment; filename=score-table-{system_id}.xlsx"})


def init_app(app):
    """Register the blueprint and the menu entry (the commands: survey/cli/results_commands.py)."""
    app.register_blueprint(bp)
    add_nav("scores.index", "指标体系评分", ["statistics"])
