"""`tokens create|revoke`: the API tokens of managers, evaluators, viewers and admins."""

import click
from flask.cli import AppGroup

from survey.storage import audit
from survey.storage.db import get_db
from survey.web import api

tokens_cli = AppGroup("tokens", help="API tokens (admins, managers, evaluators, viewers).")


@tokens_cli.command("create")
@click.argument("username")
def create_token_command(username):
    """Create an API token for USERNAME and print it (it is shown only this once)."""
    db = get_db()
    try:
        token = api.create_token(db, username)
    except api.TokenError as exc:
        raise click.ClickException(str(exc)) from None
    audit.log(db, "api_token_created", username, user="cli")
    click.echo(token)


@tokens_cli.command("revoke")
@click.argument("username")
def revoke_tokens_command(username):
    """Revoke every API token of USERNAME."""
    db = get_db()
    count = api.revoke_tokens(db, username)
    audit.log(db, "api_tokens_revoked", f"{username} ({count})", user="cli")
    click.echo(f"Revoked {count} token(s) of '{username}'.")


def init_app(app):
    """Register the tokens group."""
    app.cli.add_command(tokens_cli)
