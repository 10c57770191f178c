"""The SQLite database: one connection per request on `g`, schema creation, CLI."""

import sqlite3

import click
import sqlite_utils
from flask import current_app, g
from flask.cli import with_appcontext

from survey import schema


def connect(path):
    """Open the database at `path` with the durability settings every writer needs.

    WAL lets the respondent pages read while a submission writes; synchronous=FULL
    makes an acknowledged commit survive a power cut or a SIGKILL of the server.
    """
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return sqlite_utils.Database(conn)


def get_db():
    """Return this request's database, opening it on first use."""
    if "db" not in g:
        g.db = connect(current_app.config["DATABASE"])
    return g.db


def close_db(e=None):
    """Close this request's database connection, if one was opened."""
    db = g.pop("db", None)
    if db is not None:
        db.conn.close()


def init_db(db=None):
    """Create the schema (idempotent) and load the questionnaire definitions."""
    from survey import questionnaires

    db = db or get_db()
    schema.create(db)
    return questionnaires.load_all(db, current_app.config["QUESTIONNAIRE_DIR"])


@click.command("init-db")
@with_appcontext
def init_db_command():
    """Create the tables and load the questionnaires (safe to run again)."""
    loaded = init_db()
    for qid, version, status in loaded:
        click.echo(f"{qid} v{version}: {status}")
    click.echo("Database ready.")


def init_app(app):
    """Register teardown and the init-db command; create the schema on first run."""
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)


class transaction:
    """`with transaction(db):` runs the block as one IMMEDIATE transaction.

    IMMEDIATE takes the write lock up front, so two concurrent submitters queue on
    busy_timeout instead of failing half way with SQLITE_BUSY on lock upgrade.
    Inside, write with `db.execute` only: sqlite-utils' table helpers commit on
    their own and would end the transaction early.
    """

    def __init__(self, db):
        """Remember the database to run the transaction on."""
        self.db = db

    def __enter__(self):
        """Begin the transaction."""
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb):
        """Commit on success, roll back on any exception (which then propagates)."""
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
        return False
