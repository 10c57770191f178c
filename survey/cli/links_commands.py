"""`links create` and `sites add`: tracked links and the sites they belong to, per evaluation."""

import click
from flask import current_app
from flask.cli import AppGroup

from survey import questionnaires
from survey.cli import evaluation_option
from survey.storage.db import get_db
from survey.storage.responses import CHANNELS
from survey.web import links

links_cli = AppGroup("links", help="Tracked links (short codes under /s/) and their QR codes.")
sites_cli = AppGroup("sites", help="Sites (社区/街道/乡镇).")


@links_cli.command("create")
@click.argument("questionnaire_id")
@click.option("--channel", default="poster", show_default=True, type=click.Choice(sorted(CHANNELS)))
@click.option("--site", "site_code", help="Site code (created with `sites add`) of the same evaluation.")
@click.option("--label", help="A note for staff, e.g. where the poster hangs.")
@evaluation_option
def create_link_command(questionnaire_id, channel, site_code, label, evaluation):
    """Create a tracked link and print its URL and QR addresses."""
    db = get_db()
    site_id = None
    if site_code:
        site_id = links.site_id_for(db, evaluation.id, site_code)
        if site_id is None:
            raise click.ClickException(f"no site with code '{site_code}' in evaluation '{evaluation.slug}'")
    try:
        code = links.create_link(db, questionnaire_id, channel, site_id=site_id, label=label,
                                 evaluation_id=evaluation.id)
    except (links.LinkError, questionnaires.UnknownQuestionnaire) as exc:
        raise click.ClickException(str(exc)) from None
    base = (current_app.config.get("BASE_URL") or "http://localhost:5000").rstrip("/")
    click.echo(f"{base}/s/{code}  (QR: {base}/s/{code}/qr.png, poster: {base}/s/{code}/poster)")


@sites_cli.command("add")
@click.argument("code")
@click.argument("name")
@click.option("--kind", default="社区", show_default=True)
@click.option("--population", type=int, help="Number of service recipients, if known.")
@evaluation_option
def add_site_command(code, name, kind, population, evaluation):
    """Add a site to an evaluation (a code it has already is refused: nothing would change)."""
    db = get_db()
    existing = links.site_id_for(db, evaluation.id, code)
    if existing is not None:
        raise click.ClickException(f"site code '{code}' already exists in evaluation '{evaluation.slug}'"
                                   f" ({links.site_name(db, existing)}); nothing changed")
    site_id = links.create_site(db, code, name, kind, population, evaluation_id=evaluation.id)
    click.echo(f"site {code} ({name}) id {site_id}")


def init_app(app):
    """Register the `links` and `sites` groups."""
    app.cli.add_command(links_cli)
    app.cli.add_command(sites_cli)
