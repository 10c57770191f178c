"""Links and QR codes: a generic link per questionnaire, tracked links per site,
channel or household (short codes under /s/), and printable A4 posters."""

import io
import re
import secrets
from datetime import date

import qrcode
import qrcode.image.svg
from flask import Blueprint, Response, abort, current_app, render_template, request, url_for

from survey import questionnaires, vocabulary
from survey.phones import PhoneError, check_phone
from survey.storage import evaluations
from survey.storage.db import get_db, transaction
from survey.storage.responses import CHANNELS, now_iso

bp = Blueprint("links", __name__)

# No 0/o, 1/l/i: codes are sometimes typed by hand from a printed card.
CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
CHANNEL_LABELS = vocabulary.CHANNELS


class LinkError(ValueError):
    """A link cannot be created as asked; `field` names the offending field when known."""

    def __init__(self, message, field=None):
        """Keep the field next to the message."""
        super().__init__(message)
        self.field = field


# What a poster or card prints so elders can tell it from a scam QR code: who runs the
# survey, a number to check with, and until when it is open. Set per link; the app-wide
# defaults come from config (POSTER_ORGANISER, POSTER_CONTACT_PHONE, POSTER_CLOSES_ON).
CONTACT_FIELDS = ("organiser", "contact_phone", "closes_on")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def check_contact(organiser, contact_phone, closes_on):
    """Check a link's poster contact details; return them cleaned or raise LinkError naming the field."""
    organiser = (organiser or "").strip() or None
    if organiser and len(organiser) > 60:
        raise LinkError("组织单位：不超过 60 个字")
    try:
        contact_phone = check_phone(contact_phone) if (contact_phone or "").strip() else None
    except PhoneError as exc:
        raise LinkError(f"咨询电话：{exc}") from None
    closes_on = (closes_on or "").strip() or None
    if closes_on:
        try:
            date.fromisoformat(closes_on)
        except ValueError:
            raise LinkError(f"截止日期：“{closes_on}”不是日期，请写成 2025-06-30") from None
        if not DATE.match(closes_on):
            raise LinkError(f"截止日期：“{closes_on}”请写成 2025-06-30")
    return organiser, contact_phone, closes_on


def set_contact(db, codes, organiser, contact_phone, closes_on):
    """Store the poster contact details on one or more links (already checked)."""
    with transaction(db):
        for code in codes:
            db.execute("update links set organiser = ?, contact_phone = ?, closes_on = ? where code = ?",
                       [organiser, contact_phone, closes_on, code])


def contact_for(link, evaluation=None):
    """The organiser, contact phone and closing date a poster of `link` prints: the link's own,
    else (organiser) the evaluation's project unit, else the config defaults."""
    keys = link.keys() if hasattr(link, "keys") else []
    config = current_app.config
    contact = {field: link[field] if field in keys else None for field in CONTACT_FIELDS}
    if not contact["organiser"] and evaluation is not None:
        contact["organiser"] = evaluation.unit
    return {field: value or config.get(f"POSTER_{field.upper()}") for field, value in contact.items()}


def new_code(length=6):
    """A random short code (31^6 ≈ 887 million possibilities)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def get_link(db, code):
    """The link row (a dict by column name, evaluation_id included) for a short code, or None."""
    rows = list(db.query("select * from links where code = ?", [code]))
    return rows[0] if rows else None


def site_name(db, site_id):
    """The name of a site, or '' for a link without one."""
    row = db.execute("select name from sites where id = ?", [site_id]).fetchone()
    return row[0] if row else ""


def site_id_for(db, evaluation_id, code):
    """The id of the site with `code` in an evaluation, or None."""
    row = db.execute("select id from sites where evaluation_id = ? and code = ?", [evaluation_id, code]).fetchone()
    return row[0] if row else None


def link_used(db, code):
    """Whether a response already came in through this link."""
    return db.execute("select 1 from responses where link_code = ? limit 1", [code]).fetchone() is not None


def meta_for(link):
    """The response meta a link gives: its evaluation, code, site, channel and household."""
    return {"evaluation_id": link["evaluation_id"], "link_code": link["code"], "site_id": link["site_id"],
            "channel": link["channel"], "household_id": link["household_id"]}


def _evaluation_or_only(db, evaluation_id):
    """The evaluation with this id; with None, the only one in the database (a single-campaign
    database, as before evaluations existed). Raises LinkError naming the field otherwise."""
    if evaluation_id is None:
        try:
            return evaluations.choose(db)
        except evaluations.EvaluationChoiceError as exc:
            raise LinkError(f"evaluation: {exc}", "evaluation") from None
    evaluation = evaluations.by_id(db, evaluation_id)
    if evaluation is None:
        raise LinkError(f"evaluation: there is no evaluation {evaluation_id}", "evaluation")
    return evaluation


def create_site(db, code, name, kind="社区", population=None, *, evaluation_id=None):
    """Add a site (社区/街道/乡镇) to an evaluation (default: the only one) unless its code exists
    there; return its id."""
    evaluation_id = _evaluation_or_only(db, evaluation_id).id
    with transaction(db):
        db.execute(
            "insert into sites (evaluation_id, code, name, kind, population) values (?, ?, ?, ?, ?)"
            " on conflict(evaluation_id, code) do nothing", [evaluation_id, code, name, kind, population])
    return site_id_for(db, evaluation_id, code)


def _owner(db, table, row_id):
    """The evaluation_id of a site or household row, or None when there is no such row."""
    row = db.execute(f"select evaluation_id from {table} where id = ?", [row_id]).fetchone()
    return row[0] if row else None


def create_link(db, questionnaire_id, channel, site_id=None, household_id=None, label=None, code=None, *,
                evaluation_id=None):
    """Create a tracked link of an evaluation (default: the only one) and return its code.
    Household links are single-use.

    Raises LinkError naming the field when the evaluation does not use the questionnaire, or
    the site or household belongs to another evaluation (its answers would land in the wrong one).
    """
    if channel not in CHANNELS:
        raise LinkError(f"channel must be one of {sorted(CHANNELS)}", "channel")
    questionnaires.get(db, questionnaire_id)  # raises UnknownQuestionnaire
    evaluation = _evaluation_or_only(db, evaluation_id)
    if not evaluations.uses(db, evaluation.id, questionnaire_id):
        raise LinkError(f"questionnaire: evaluation '{evaluation.slug}' does not use '{questionnaire_id}'",
                        "questionnaire")
    for field, table, row_id in (("site", "sites", site_id), ("household", "households", household_id)):
        if row_id is not None and _owner(db, table, row_id) != evaluation.id:
            raise LinkError(f"{field}: {field} {row_id} is not one of evaluation '{evaluation.slug}'", field)
    code = code or new_code()
    with transaction(db):
        db.execute(
            "insert into links (code, evaluation_id, questionnaire_id, site_id, channel, label, household_id,"
            " single_use, created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [code, evaluation.id, questionnaire_id, site_id, channel, label, household_id,
             int(household_id is not None), now_iso()])
    return code


@bp.app_template_global("base_url")
def base_url():
    """The site's address for absolute links: BASE_URL; without it (development only,
    PRODUCTION requires it) this request's host, which TRUSTED_HOSTS checks when set."""
    return (current_app.config.get("BASE_URL") or request.url_root).rstrip("/")


def absolute_url(endpoint, **values):
    """An absolute URL for QR codes and printed pages, never built from a forged Host."""
    return base_url() + url_for(endpoint, **values)


def qr_png(data, box_size=10):
    """PNG bytes of a QR code (error correction M survives a crease or a smudge)."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=4)
    qr.add_data(data)
    buffer = io.BytesIO()
    qr.make_image().save(buffer, format="PNG")
    return buffer.getvalue()


def qr_svg(data):
    """SVG bytes of a QR code (scales to any print size)."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4,
                       image_factory=qrcode.image.svg.SvgPathImage)
    qr.add_data(data)
    buffer = io.BytesIO()
    qr.make_image().save(buffer)
    return buffer.getvalue()


def _qr_response(url, fmt):
    """Answer a QR image of `url` in png or svg."""
    if fmt == "png":
        return Response(qr_png(url), mimetype="image/png", headers={"Cache-Control": "public, max-age=3600"})
    if fmt == "svg":
        return Response(qr_svg(url), mimetype="image/svg+xml", headers={"Cache-Control": "public, max-age=3600"})
    abort(404)


def generic_evaluation_or_404(slug, questionnaire_id):
    """The evaluation a generic link answers for (`slug`'s, or the legacy one for /q/...), or 404
    when it does not exist or does not use the questionnaire."""
    db = get_db()
    if slug is None:
        evaluation = evaluations.for_legacy_link(db, questionnaire_id)
    else:
        evaluation = evaluations.get(db, slug)
    if evaluation is None or not evaluations.uses(db, evaluation.id, questionnaire_id):
        abort(404)
    return evaluation


# Two addresses, one endpoint: url_for with `evaluation` builds /e/<slug>/q/..., without it
# the unscoped /q/... that QR codes printed before evaluations existed carry.
@bp.get("/e/<evaluation>/q/<questionnaire_id>/qr.<fmt>")
@bp.get("/q/<questionnaire_id>/qr.<fmt>", defaults={"evaluation": None})
def generic_qr(questionnaire_id, fmt, evaluation):
    """The QR code of a questionnaire's generic public link (of one evaluation, or the legacy one)."""
    generic_evaluation_or_404(evaluation, questionnaire_id)
    # The legacy address keeps its old image: it encodes /q/<id>, as printed before.
    return _qr_response(absolute_url("respond.start_generic", questionnaire_id=questionnaire_id,
                                     evaluation=evaluation), fmt)


@bp.get("/s/<code>/qr.<fmt>")
def tracked_qr(code, fmt):
    """The QR code of a tracked link."""
    if get_link(get_db(), code) is None:
        abort(404)
    return _qr_response(absolute_url("respond.start_tracked", code=code), fmt)


@bp.get("/s/<code>/poster")
def poster(code):
    """A printable A4 poster: a large QR code, big instructions, the site's name."""
    db = get_db()
    link = get_link(db, code)
    if link is None:
        abort(404)
    questionnaire = questionnaires.get(db, link["questionnaire_id"])
    evaluation = evaluations.by_id(db, link["evaluation_id"])
    return render_template("links/poster.html", link=link, q=questionnaire,
                           site_name=site_name(db, link["site_id"]), contact=contact_for(link, evaluation),
                           url=absolute_url("respond.start_tracked", code=code))

