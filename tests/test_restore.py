"""`flask --app app restore FILE`: check, set aside, atomic swap, recover later responses."""

import os
import sqlite3

from app import create_app
from survey import questionnaires
from survey.storage import responses
from survey.storage.db import connect


def submission_ids(path):
    """The submission ids stored in the database at `path`."""
    conn = sqlite3.connect(path)
    try:
        return sorted(row[0] for row in conn.execute("select submission_id from responses"))
    finally:
        conn.close()


def make_app(tmp_path):
    """An app on a database file in tmp_path (its own instance folder)."""
    return create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE": str(tmp_path / "live.sqlite")})


def add_responses(path, count, start):
    """Store `count` public-awareness responses directly in the database file."""
    db = connect(path)
    questionnaire = questionnaires.get(db, "public-awareness")
    for index in range(count):
        responses.record(db, questionnaire, f"restore-test-{start + index:04d}",
                         {"knows_hotline": "1", "knows_services": "0", "satisfaction": "4"}, {"evaluation_id": 1})
    db.conn.close()


def test_backup_add_restore_finds_exactly_the_backed_up_data(tmp_path):
    """Back up, add responses, restore: exactly the backed-up responses; the later ones recoverable."""
    app = make_app(tmp_path)
    live = app.config["DATABASE"]
    add_responses(live, 3, 0)
    runner = app.test_cli_runner()
    backup_file = tmp_path / "backup.sqlite"
    assert runner.invoke(args=["backup", str(backup_file)]).exit_code == 0
    backed_up = submission_ids(live)
    add_responses(live, 2, 100)
    assert len(submission_ids(live)) == 5

    result = runner.invoke(args=["restore", str(backup_file), "--yes"])
    assert result.exit_code == 0, result.output
    assert submission_ids(live) == backed_up
    aside = next(line.rsplit(" ", 1)[1] for line in result.output.splitlines() if "kept in" in line)
    assert len(submission_ids(os.path.join(aside, "live.sqlite"))) == 5

    recovery = os.path.join(aside, "responses-after-backup-public-awareness.csv")
    assert os.path.isfile(recovery)
    again = runner.invoke(args=["responses", "import", "public-awareness", recovery])
    assert again.exit_code == 0, again.output
    assert submission_ids(live) == sorted(backed_up + ["restore-test-0100", "restore-test-0101"])


def test_second_restore_gets_its_own_folder(tmp_path):
    """Two restores never nest the set-aside folders."""
    app = make_app(tmp_path)
    runner = app.test_cli_runner()
    backup_file = tmp_path / "backup.sqlite"
    assert runner.invoke(args=["backup", str(backup_file)]).exit_code == 0
    for _ in range(2):
        assert runner.invoke(args=["restore", str(backup_file), "--yes"]).exit_code == 0
    replaced = os.path.join(tmp_path, "replaced")
    folders = os.listdir(replaced)
    assert len(folders) == 2
    for folder in folders:
        inside = os.path.join(replaced, folder)
        assert sorted(os.listdir(inside))[0] == "live.sqlite"
        assert not any(os.path.isdir(os.path.join(inside, name)) for name in os.listdir(inside))


def test_restore_refuses_a_file_that_is_not_a_backup(tmp_path):
    """A damaged or foreign file is refused and nothing changes."""
    app = make_app(tmp_path)
    live = app.config["DATABASE"]
    add_responses(live, 1, 0)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("create table t (x)").connection.close()
    runner = app.test_cli_runner()
    for path, words in ((junk, "not a readable SQLite database"), (other, "not a database of this app"),
                        (tmp_path / "missing.sqlite", "no such file")):
        result = runner.invoke(args=["restore", str(path), "--yes"])
        assert result.exit_code == 1 and words in result.output and "nothing was changed" in result.output
    assert len(submission_ids(live)) == 1
