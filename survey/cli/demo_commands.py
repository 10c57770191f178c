"""`demo`: demo sites, links, a roster, responses and accounts in one evaluation."""

import click
from flask.cli import with_appcontext

from survey import demo
from survey.cli import evaluation_option
from survey.storage.db import get_db


@click.command("demo")
@evaluation_option
@with_appcontext
def demo_command(evaluation):
    """Load demo sites, links, a roster, responses and demo accounts into an evaluation (safe to run again)."""
    db = get_db()
    created = demo.load_demo(db, evaluation)
    demo.load_demo_roster(db, evaluation)
    made = demo.load_demo_users(db, evaluation)
    click.echo(f"Demo data ready in '{evaluation.slug}' ({created} new responses).")
    if made:
        click.echo(f"Demo accounts {', '.join(made)} with password '{demo.DEMO_PASSWORD}' — for trying out only.")


def init_app(app):
    """Register the `demo` command."""
    app.cli.add_command(demo_command)
