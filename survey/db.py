"""The SQLite database: one connection per request on `g`, schema creation, CLI."""

import os
import sqlite3
import threading

import click
import sqlite_utils
from flask import current_app, g
from flask.cli import with_appcontext

from survey import migrations


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


# One connection per server thread, reused across its requests. Opening and closing a
# connection per request costs more than the request itself: when the last connection
# to a WAL database closes, SQLite checkpoints the WAL and fsyncs on the request's time.
_thread = threading.local()


def get_db():
    """Return this request's database: the current thread's connection to it."""
    if "db" not in g:
        g.db = _thread_connection(current_app.config["DATABASE"])
    return g.db


def _thread_connection(path):
    """The thread's open connection to `path`, opened (and a stale one closed) when needed."""
    cached = getattr(_thread, "connection", None)
    if cached is not None and cached[0] == str(path):
        return cached[1]
    if cached is not None:
        cached[1].conn.close()
    db = connect(path)
    _thread.connection = (str(path), db)
    return db


def release_thread_connection():
    """Close this thread's cached connection (before a restore swaps the file under it)."""
    cached = getattr(_thread, "connection", None)
    if cached is not None:
        cached[1].conn.close()
        _thread.connection = None
    g.pop("db", None)


def close_db(e=None):
    """End this request's use of the connection; roll back anything left open by an error."""
    db = g.pop("db", None)
    if db is not None and db.conn.in_transaction:
        db.conn.rollback()


def init_db(db=None):
    """Apply pending schema migrations, then load the questionnaire definitions.

    An existing database with data is backed up into instance/backups/ before the
    first pending migration runs.
    """
    from survey import questionnaires

    db = db or get_db()
    migrations.upgrade(db, backup_dir=os.path.join(current_app.instance_path, "backups"))
    return questionnaires.load_all(db, current_app.config["QUESTIONNAIRE_DIR"])


@click.command("init-db")
@with_appcontext
def init_db_command():
    """Create the tables and load the questionnaires (safe to run again)."""
    from survey.questionnaires import QuestionnaireError

    try:
        loaded = init_db()
    except QuestionnaireError as exc:
        raise click.ClickException(str(exc)) from None
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
