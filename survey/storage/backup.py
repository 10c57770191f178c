"""Online backup of the survey database: `flask --app app backup FILE`.

Uses SQLite's online backup API (`sqlite3.Connection.backup`), which copies a
consistent snapshot page by page while the server keeps running: in WAL mode the
copy is a read transaction, so respondents can go on submitting during it. The copy
is written to a temporary file next to FILE, switched to a self-contained rollback
journal (no -wal/-shm files to carry around), checked with `PRAGMA integrity_check`,
and only then renamed to FILE, so FILE is either a complete, verified backup or
absent. `flask --app app backup --check FILE` verifies an existing backup only.

Restore: `flask --app app restore FILE` (also in docs/OPERATIONS.md). It checks FILE
(integrity, this app's tables, not from a newer release), copies it next to the live
database and checks the copy, sets the live database aside WITH its -wal and -shm
files in a new folder `replaced/<UTC time>/` next to it (instance/ by default; never
nested in an earlier one), and then swaps the copy in with one atomic rename. Responses stored after the
backup was taken are written, per questionnaire, as re-importable CSV files into that
folder (`responses-after-backup-<questionnaire>.csv`); re-import them with
`flask --app app responses import <questionnaire> FILE`.
"""

import os
import shutil
import sqlite3
import time

import click
import sqlite_utils
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


def _ours(path):
    """Refuse a database that is not this app's, or comes from a newer release."""
    from survey.storage import migrations

    conn = sqlite3.connect(f"file:{os.path.abspath(path)}?mode=ro", uri=True)
    try:
        tables = {row[0] for row in conn.execute("select name from sqlite_master where type = 'table'")}
        missing = {"responses", "answers", "questionnaires"} - tables
        if missing:
            raise BackupError(f"{path}: not a database of this app (no {', '.join(sorted(missing))} table)")
        known = {number for number, _name, _fn in migrations.MIGRATIONS}
        applied = set()
        if "schema_migrations" in tables:
            applied = {row[0] for row in conn.execute("select number from schema_migrations")}
        newer = sorted(applied - known)
        if newer:
            raise BackupError(f"{path}: made by a newer release (migration {newer[0]} is unknown "
                              "to this code); restore it with that release")
    finally:
        conn.close()


def restore(backup_file, live, aside_root):
    """Swap a checked copy of `backup_file` in for the database at `live`.

    Returns (check result, aside folder, [recovery CSV paths]). The server must be
    stopped: a running worker would keep writing to the file set aside.
    """
    result = check(backup_file)
    _ours(backup_file)
    live = os.path.abspath(live)
    staged = f"{live}.restoring-{os.getpid()}"
    src, dst = sqlite3.connect(f"file:{os.path.abspath(backup_file)}?mode=ro", uri=True), sqlite3.connect(staged)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        src.close()
        dst.close()
    try:
        check(staged)
    except BackupError:
        os.remove(staged)
        raise
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = os.path.join(aside_root, stamp)
    suffix = 1
    while os.path.exists(aside):  # two restores in one second: never reuse or nest
        suffix += 1
        aside = os.path.join(aside_root, f"{stamp}-{suffix}")
    os.makedirs(aside)
    if os.path.exists(live):
        # A stale -wal left next to the restored file would be replayed into it: the
        # three files go aside together, the -wal/-shm first, then the swap.
        for extra in ("-wal", "-shm"):
            if os.path.exists(live + extra):
                os.replace(live + extra, os.path.join(aside, os.path.basename(live) + extra))
        shutil.copy2(live, os.path.join(aside, os.path.basename(live)))
    os.replace(staged, live)
    recovered = []
    kept = os.path.join(aside, os.path.basename(live))
    if os.path.exists(kept):
        recovered = write_recovery_files(kept, live, aside)
    return result, aside, recovered


def write_recovery_files(old, restored, folder):
    """Write re-importable CSVs of the responses in `old` that `restored` lacks; return paths."""
    from survey import importer

    old_db = sqlite_utils.Database(sqlite3.connect(f"file:{old}?mode=ro", uri=True))
    new_conn = sqlite3.connect(f"file:{restored}?mode=ro", uri=True)
    paths = []
    try:
        have = {row[0] for row in new_conn.execute("select submission_id from responses")}
        # Not the rows of a paper import still loading (survey.storage.staged_import): never visible.
        ids = [row[0] for row in old_db.execute("select distinct questionnaire_id from responses"
                                                " where questionnaire_id not like 'staging:%'")]
        for questionnaire_id in ids:
            rows = importer.export_rows(old_db, None, questionnaire_id)
            header = next(rows)
            index = header.index("submission_id")
            missing = [row for row in rows if row[index] not in have]
            if not missing:
                continue
            path = os.path.join(folder, f"responses-after-backup-{questionnaire_id}.csv")
            with open(path, "w", encoding="utf-8", newline="") as stream:
                importer.write_csv([header, *missing], stream)
            paths.append(path)
    finally:
        old_db.conn.close()
        new_conn.close()
    return paths


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def restore_command(file, yes):
    """Replace the live database with a checked backup FILE (stop the server first)."""
    from survey.storage.db import release_thread_connection

    live = current_app.config["DATABASE"]
    if not yes:
        click.confirm(f"Replace {live} with {click.format_filename(file)}? Stop the server first.",
                      abort=True)
    release_thread_connection()
    try:
        # Next to the database (instance/ by default), so the aside copy is on the same disk.
        aside_root = os.path.join(os.path.dirname(os.path.abspath(live)), "replaced")
        result, aside, recovered = restore(file, live, aside_root)
    except BackupError as exc:
        raise click.ClickException(f"{exc} (nothing was changed)") from None
    click.echo(f"Restored {click.format_filename(file)}: {_summary(result)}")
    click.echo(f"The replaced database is kept in {aside}")
    for path in recovered:
        questionnaire = os.path.basename(path)[len("responses-after-backup-"):-len(".csv")]
        click.echo(f"Responses received after the backup: {path}\n"
                   f"  re-import: flask --app app responses import {questionnaire} {path}")


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
    """Register the backup and restore commands."""
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
