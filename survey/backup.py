"""Online backup of the survey database: `flask --app app backup FILE`.

Uses SQLite's online backup API (`sqlite3.Connection.backup`), which copies a
consistent snapshot page by page while the server keeps running: in WAL mode the
copy is a read transaction, so respondents can go on submitting during it. The copy
is written to a temporary file next to FILE, switched to a self-contained rollback
journal (no -wal/-shm files to carry around), checked with `PRAGMA integrity_check`,
and only then renamed to FILE, so FILE is either a complete, verified backup or
absent. `flask --app app backup --check FILE` verifies an existing backup only.

Restore (also in docs/OPERATIONS.md):

1. Check the backup: `flask --app app backup --check FILE` (prints "ok" and counts).
2. Stop the server (every gunicorn worker) so nothing writes during the swap.
3. Move the live database aside, WITH its `-wal` and `-shm` files: a stale -wal
   left next to a restored file would be replayed into it and corrupt it:
   `mkdir -p instance/replaced && mv instance/survey.sqlite* instance/replaced/`
4. Copy the backup into place: `cp FILE instance/survey.sqlite`
5. Check it in place: `flask --app app backup --check instance/survey.sqlite`
6. Start the server again. Responses received after the backup was taken are in
   the set-aside file; re-send them from the staff app's queue or re-import them.
"""

import os
import sqlite3
import time

import click
from flask import current_app
from flask.cli import with_appcontext


class BackupError(RuntimeError):
    """A backup could not be made or a backup file is not sound."""


def check(path):
    """Verify a database file; return {"integrity": "ok", "responses": n, ...} or raise BackupError."""
    if not os.path.isfile(path):
        raise BackupError(f"{path}: no such file")
    conn = sqlite3.connect(f"file:{os.path.abspath(path)}?mode=ro", uri=True)
    try:
        result = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
        if result != ["ok"]:
            raise BackupError(f"{path}: integrity_check failed: {'; '.join(result[:5])}")
        tables = {row[0] for row in conn.execute("select name from sqlite_master where type = 'table'")}
        counts = {name: conn.execute(f'select count(*) from "{name}"').fetchone()[0]
                  for name in ("responses", "answers", "questionnaires", "users") if name in tables}
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not a readable SQLite database ({exc})") from None
    finally:
        conn.close()
    return {"integrity": "ok", **counts}


def backup(source, target, overwrite=False):
    """Copy the database at `source` to `target` online, verify it, and return check()'s result."""
    source, target = os.path.abspath(source), os.path.abspath(target)
    if source == target:
        raise BackupError("the backup file must not be the live database")
    if os.path.exists(target) and not overwrite:
        raise BackupError(f"{target} exists; choose another name or pass --overwrite")
    if not os.path.isdir(os.path.dirname(target)):
        raise BackupError(f"{os.path.dirname(target)}: no such folder")
    partial = f"{target}.partial-{os.getpid()}-{int(time.time())}"
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(partial)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
        dst.close()
        result = check(partial)
        os.replace(partial, target)
    except (sqlite3.Error, BackupError) as exc:
        dst.close()
        for leftover in (partial, partial + "-journal", partial + "-wal", partial + "-shm"):
            if os.path.exists(leftover):
                os.remove(leftover)
        if isinstance(exc, BackupError):
            raise
        raise BackupError(f"backup failed: {exc}") from None
    finally:
        src.close()
    return result


def _summary(result):
    """One line for the terminal."""
    return ", ".join(f"{key} {value}" for key, value in result.items())


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace FILE if it exists.")
@click.option("--check", "check_only", is_flag=True, help="Only verify an existing backup FILE.")
@with_appcontext
def backup_command(file, overwrite, check_only):
    """Copy the live database to FILE with SQLite's online backup API and verify the copy."""
    try:
        if check_only:
            result = check(file)
        else:
            result = backup(current_app.config["DATABASE"], file, overwrite=overwrite)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    verb = "Checked" if check_only else "Backed up to"
    click.echo(f"{verb} {click.format_filename(file)}: {_summary(result)}")


def init_app(app):
    """Register the backup command."""
    app.cli.add_command(backup_command)
