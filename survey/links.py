"""Links and QR codes: a generic link per questionnaire, tracked links per site,
channel or household (short codes under /s/), and printable A4 posters."""

import io
import re
import secrets
from datetime import date

import click
import qrcode
import qrcode.image.svg
from flask import Blueprint, Response, abort, current_app, render_template, request, url_for
from flask.cli import AppGroup

from survey import questionnaires, vocabulary
from survey.db import get_db, transaction
from survey.responses import CHANNELS, now_iso

bp = Blueprint("links", __name__, cli_group="links")

# No 0/o, 1/l/i: codes are sometimes typed by hand from a printed card.
CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
CHANNEL_LABELS = vocabulary.CHANNELS


class LinkError(ValueError):
    """A link cannot be created as asked."""


# What a poster or card prints so elders can tell it from a scam QR code: who runs the
# survey, a number to check with, and until when it is open. Set per link; the app-wide
# defaults come from config (POSTER_ORGANISER, POSTER_CONTACT_PHONE, POSTER_CLOSES_ON).
CONTACT_FIELDS = ("organiser", "contact_phone", "closes_on")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def check_contact(organiser, contact_phone, closes_on):
    """Check a link's poster contact details; return them cleaned or raise LinkError naming the field."""
    from survey.roster import PhoneError, check_phone  # roster imports this module

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


def contact_for(link):
    """The organiser, contact phone and closing date a poster of `link` prints (link, else config)."""
    keys = link.keys() if hasattr(link, "keys") else []
    config = current_app.config
    return {field: (link[field] if field in keys else None) or config.get(f"POSTER_{field.upper()}")
            for field in CONTACT_FIELDS}


def new_code(length=6):
    """A random short code (31^6 ≈ 887 million possibilities)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def get_link(db, code):
    """The link row for a short code, or None."""
    rows = list(db.query("select * from links where code = ?", [code]))
    return rows[0] if rows else None


def link_used(db, code):
    """Whether a response already came in through this link."""
    return db.execute("select 1 from responses where link_code = ? limit 1", [code]).fetchone() is not None


def meta_for(link):
    """The response meta a link gives: its code, site, channel and household."""
    return {"link_code": link["code"], "site_id": link["site_id"], "channel": link["channel"],
            "household_id": link["household_id"]}


def create_site(db, code, name, kind="社区", population=None):
    """Add a site (社区/街道/乡镇) unless its code exists; return its id."""
    with transaction(db):
        db.execute(
            "insert into sites (code, name, kind, population) values (?, ?, ?, ?)"
            " on conflict(code) do nothing", [code, name, kind, population])
    return db.execute("select id from sites where code = ?", [code]).fetchone()[0]


def create_link(db, questionnaire_id, channel, site_id=None, household_id=None, label=None, code=None):
    """Create a tracked link and return its code. Household links are single-use."""
    if channel not in CHANNELS:
        raise LinkError(f"channel must be one of {sorted(CHANNELS)}")
    questionnaires.get(db, questionnaire_id)  # raises UnknownQuestionnaire
    code = code or new_code()
    with transaction(db):
        db.execute(
            "insert into links (code, questionnaire_id, site_id, channel, label, household_id,"
            " single_use, created_at) values (?, ?, ?, ?, ?, ?, ?, ?)",
            [code, questionnaire_id, site_id, channel, label, household_id,
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


@bp.get("/q/<questionnaire_id>/qr.<fmt>")
def generic_qr(questionnaire_id, fmt):
    """The QR code of a questionnaire's generic public link."""
    try:
        questionnaires.get(get_db(), questionnaire_id)
    except questionnaires.UnknownQuestionnaire:
        abort(404)
    return _qr_response(absolute_url("respond.start_generic", questionnaire_id=questionnaire_id), fmt)


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
    site = db.execute("select name from sites where id = ?", [link["site_id"]]).fetchone()
    questionnaire = questionnaires.get(db, link["questionnaire_id"])
    return render_template("links/poster.html", link=link, q=questionnaire,
                           site_name=site[0] if site else "", contact=contact_for(link),
                           url=absolute_url("respond.start_tracked", code=code))


@bp.cli.command("create")
@click.argument("questionnaire_id")
@click.option("--channel", default="poster", show_default=True, type=click.Choice(sorted(CHANNELS)))
@click.option("--site", "site_code", help="Site code (created with `sites add`).")
@click.option("--label", help="A note for staff, e.g. where the poster hangs.")
def create_link_command(questionnaire_id, channel, site_code, label):
    """Create a tracked link and print its URL and QR addresses."""
    db = get_db()
    site_id = None
    if site_code:
        row = db.execute("select id from sites where code = ?", [site_code]).fetchone()
        if row is None:
            raise click.ClickException(f"no site with code '{site_code}'")
        site_id = row[0]
    try:
        code = create_link(db, questionnaire_id, channel, site_id=site_id, label=label)
    except (LinkError, questionnaires.UnknownQuestionnaire) as exc:
        raise click.ClickException(str(exc)) from None
    base = (current_app.config.get("BASE_URL") or "http://localhost:5000").rstrip("/")
    click.echo(f"{base}/s/{code}  (QR: {base}/s/{code}/qr.png, poster: {base}/s/{code}/poster)")


@click.group("sites", cls=AppGroup)
def sites_cli():
    """Sites (社区/街道/乡镇)."""


@sites_cli.command("add")
@click.argument("code")
@click.argument("name")
@click.option("--kind", default="社区", show_default=True)
@click.option("--population", type=int, help="Number of service recipients, if known.")
def add_site_command(code, name, kind, population):
    """Add a site (an existing code is refused: nothing would change)."""
    existing = get_db().execute("select name from sites where code = ?", [code]).fetchone()
    if existing:
        raise click.ClickException(f"site code '{code}' already exists ({existing[0]}); nothing changed")
    site_id = create_site(get_db(), code, name, kind, population)
    click.echo(f"site {code} ({name}) id {site_id}")
