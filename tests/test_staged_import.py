"""Paper imports committed in short steps: invisible until complete, all or nothing, the
tallies exact, hidden-question cells reported, crashed imports cleaned up."""

import sqlite3

import pytest

from survey import questionnaires
from survey.importer import FileImportError, import_csv
from survey.storage import responses, staged_import, tallies
from survey.web import links

HEADER = "site,knows_hotline,knows_services,heard_from,satisfaction\n"
TALLY_TABLES = ("answer_tallies", "response_tallies", "answer_marginals", "response_marginals")


def rows(n, start=0):
    """`n` valid public-awareness rows for site xh (knows the hotline, heard from posters)."""
    return "".join(f"xh,1,0,poster,{1 + (i % 5)}\n" for i in range(start, start + n))


def tally_snapshot(db):
    """Every non-zero tally row, as a set (order and zero rows do not matter)."""
    return {table: set(db.execute(f"select key, n from {table} where n != 0").fetchall()) for table in TALLY_TABLES}


def visible(db):
    """Responses of the real questionnaire."""
    return db.execute("select count(*) from responses where questionnaire_id = 'public-awareness'").fetchone()[0]


@pytest.fixture
def site(db):
    """A site with code xh."""
    return links.create_site(db, "xh", "新华社区")


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 7 responses, so a few dozen rows take several transactions."""
    monkeypatch.setattr(staged_import, "CHUNK", 7)
    monkeypatch.setattr(staged_import, "STEP_PAUSE_S", 0)


def test_import_is_invisible_until_complete_and_releases_the_lock_between_chunks(db, site, small_chunks, app,
                                                                                  monkeypatch):
    """While it loads, the real questionnaire shows none of it and other writers get the lock."""
    other = sqlite3.connect(app.config["DATABASE"], timeout=0, isolation_level=None)
    seen = []

    def during(stored):
        """Between two chunks: a live writer takes the lock at once; nothing is visible yet."""
        other.execute("BEGIN IMMEDIATE")  # timeout=0: fails if the import still held the lock
        other.execute("ROLLBACK")
        seen.append((stored, visible(db)))

    real = staged_import.commit
    monkeypatch.setattr(staged_import, "commit", lambda *args, **kwargs: real(*args, **kwargs, on_chunk=during))
    assert import_csv(db, "public-awareness", HEADER + rows(40)) == 40
    other.close()
    assert [s for s, _ in seen] == [7, 14, 21, 28, 35, 40]
    assert all(v == 0 for _, v in seen), "staged rows showed before the import completed"
    assert visible(db) == 40
    assert db.execute("select status, rows from import_batches").fetchall() == [("done", 40)]


def test_tallies_after_a_staged_import_equal_a_full_recount(db, site, small_chunks, respondent):
    """Counting the published rows gives exactly what recounting every row gives."""
    form = respondent("/q/public-awareness")  # a live response already counted
    form.answer_all({"knows_hotline": "1", "knows_services": "0", "satisfaction": "4"})
    assert form.submit().status_code == 302
    assert import_csv(db, "public-awareness", HEADER + rows(30)) == 30
    after_import = tally_snapshot(db)
    assert not any("staging:" in key for table in after_import.values() for key, _n in table)
    tallies.rebuild(db)
    db.conn.commit()
    assert tally_snapshot(db) == after_import


def test_a_failure_while_staging_leaves_nothing(db, site, small_chunks, monkeypatch):
    """The 20th row fails to store: no row, no answer, no tally of the import remains."""
    before = tally_snapshot(db)
    real = responses.insert_response
    calls = []

    def failing(db_, row, clean):
        """Store rows until the 20th, which hits a disk error."""
        calls.append(1)
        if len(calls) == 20:
            raise sqlite3.OperationalError("disk I/O error")
        return real(db_, row, clean)

    monkeypatch.setattr(responses, "insert_response", failing)
    with pytest.raises(sqlite3.OperationalError):
        import_csv(db, "public-awareness", HEADER + rows(30))
    assert db.execute("select count(*) from responses").fetchone()[0] == 0
    assert db.execute("select count(*) from answers").fetchone()[0] == 0
    assert tally_snapshot(db) == before
    assert db.execute("select status from import_batches").fetchall() == [("failed",)]


def test_a_live_submission_taking_an_id_fails_the_whole_import_naming_the_line(db, site, small_chunks, monkeypatch):
    """An id stored by someone else after the check: the import stops, names the line, keeps nothing."""
    lines = rows(20).splitlines(True)
    text = "submission_id," + HEADER + "".join(f"paper-{i:04d},{line}" for i, line in enumerate(lines))
    real = staged_import.commit

    def racing(db_, questionnaire_id, items, source_name="file", **kwargs):
        """A live submission stores the 13th row's id just before the import commits."""
        _clean, row = items[12]
        live = {"knows_hotline": "0", "knows_services": "0", "satisfaction": "3"}
        responses.record(db_, questionnaires.get(db_, questionnaire_id), row["submission_id"], live,
                         {"evaluation_id": row["evaluation_id"]})
        return real(db_, questionnaire_id, items, source_name, **kwargs)

    monkeypatch.setattr(staged_import, "commit", racing)
    with pytest.raises(FileImportError, match="line 14, column 'submission_id'"):
        import_csv(db, "public-awareness", text)
    assert visible(db) == 1, "only the live submission"


def test_a_crashed_import_is_removed_by_the_next_one(db, site):
    """Rows staged by an import that died (heartbeat stopped) go away; the real data stays."""
    from survey.importer import parse_rows

    questionnaire = questionnaires.get(db, "public-awareness")
    items = parse_rows(db, questionnaire, HEADER + rows(5))
    staged = staged_import.staging_id("deadbeef", "public-awareness")
    db.execute("insert into import_batches (id, evaluation_id, questionnaire_id, status, started_at, heartbeat_at)"
               " values ('deadbeef', 1, 'public-awareness', 'staging', '2024-01-01T00:00:00', '2024-01-01T00:00:00')")
    db.execute("PRAGMA foreign_keys=OFF")
    for clean, row in items:
        responses.insert_response(db, dict(row, questionnaire_id=staged, submission_id="x" + row["submission_id"]),
                                  clean)
    db.conn.commit()
    db.execute("PRAGMA foreign_keys=ON")
    assert import_csv(db, "public-awareness", HEADER + rows(3, start=100)) == 3
    assert db.execute("select count(*) from responses where questionnaire_id = ?", [staged]).fetchone()[0] == 0
    assert db.execute("select status from import_batches where id = 'deadbeef'").fetchone() == ("failed",)
    assert visible(db) == 3
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []


def test_cells_answering_hidden_questions_are_listed(db, site, runner, tmp_path):
    """knows_hotline=0 hides heard_from: its cell is not stored, and the import says so."""
    path = tmp_path / "paper.csv"
    path.write_text(HEADER + "xh,0,0,poster,3\nxh,1,0,poster,4\n", encoding="utf-8")
    result = runner.invoke(args=["responses", "import", "public-awareness", str(path)])
    assert result.exit_code == 0, result.output
    assert "Imported 2 responses" in result.output
    assert "1 cells not imported" in result.output and "line 2, column 'heard_from': 'poster'" in result.output
    ignored = []
    import_csv(db, "public-awareness", HEADER + "xh,0,0,poster,3\n", source_name="b.csv", ignored=ignored)
    assert ignored == [(2, "heard_from", "poster")]


def test_the_cli_import_has_its_own_limits_larger_than_an_uploads(app, runner, site, tmp_path):
    """`responses import` is the operator's command: IMPORT_MAX_ROWS/BYTES, not the 50,000-row upload cap."""
    from scoring.files import MAX_BYTES, XLSX_MAX_ROWS

    assert app.config["IMPORT_MAX_ROWS"] > XLSX_MAX_ROWS and app.config["IMPORT_MAX_BYTES"] > MAX_BYTES
    path = tmp_path / "paper.csv"
    path.write_text(HEADER + rows(4), encoding="utf-8")
    app.config["IMPORT_MAX_ROWS"] = 3
    refused = runner.invoke(args=["responses", "import", "public-awareness", str(path)])
    assert refused.exit_code != 0 and "more than 3 rows" in refused.output
    app.config.update(IMPORT_MAX_ROWS=4, IMPORT_MAX_BYTES=64)
    refused = runner.invoke(args=["responses", "import", "public-awareness", str(path)])
    assert refused.exit_code != 0 and "larger than 0 KiB" in refused.output
    app.config["IMPORT_MAX_BYTES"] = 1024 * 1024
    stored = runner.invoke(args=["responses", "import", "public-awareness", str(path)])
    assert stored.exit_code == 0, stored.output
    assert "Imported 4 responses" in stored.output


@pytest.fixture
def small_flips(monkeypatch):
    """Publishing renames 6 responses per transaction."""
    monkeypatch.setattr(staged_import, "FLIP_CHUNK", 6)


def test_publishing_renames_in_short_steps_with_rows_and_measures_agreeing(db, site, small_chunks, small_flips,
                                                                            app, monkeypatch):
    """Publishing 40 rows takes 7 transactions of at most 6 renames plus the last; a live writer
    gets the lock between them, and after each the tallies count exactly the rows shown."""
    other = sqlite3.connect(app.config["DATABASE"], timeout=0, isolation_level=None)
    steps = []

    def during(moved):
        """Between two publishing steps: the lock is free; the counts match the visible rows."""
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        counted = db.execute("select coalesce(sum(n), 0) from response_tallies where questionnaire_id ="
                             " 'public-awareness'").fetchone()[0]
        steps.append((moved, visible(db), counted))

    real = staged_import.commit
    monkeypatch.setattr(staged_import, "commit", lambda *args, **kwargs: real(*args, **kwargs, on_step=during))
    assert import_csv(db, "public-awareness", HEADER + rows(40)) == 40
    other.close()
    assert [m for m, _v, _c in steps] == [6, 12, 18, 24, 30, 36, 40, 40]
    assert [v for _m, v, _c in steps] == [6, 12, 18, 24, 30, 36, 40, 40]
    assert [c for _m, _v, c in steps] == [6, 12, 18, 24, 30, 36, 40, 40], "tallies and rows disagreed"
    assert not db.execute("select count(*) from answer_tallies where questionnaire_id like 'staging:%'").fetchone()[0]
    assert db.execute("select status, rows from import_batches").fetchall() == [("done", 40)]


def test_an_import_that_crashed_while_publishing_is_finished_by_the_next(db, site, small_chunks, small_flips,
                                                                         monkeypatch):
    """A crash after two publishing steps leaves 12 rows visible: the next import finishes the
    first instead of removing it (no published row is taken back), with exact tallies."""
    class Crash(BaseException):
        """The process dies here."""

    def crash(moved):
        """Die after the second publishing step."""
        if moved == 12:
            raise Crash

    real = staged_import.commit
    monkeypatch.setattr(staged_import, "commit", lambda *args, **kwargs: real(*args, **kwargs, on_step=crash))
    with pytest.raises(Crash):
        import_csv(db, "public-awareness", HEADER + rows(30))
    assert visible(db) == 12
    monkeypatch.setattr(staged_import, "commit", real)
    db.execute("update import_batches set heartbeat_at = '2024-01-01T00:00:00'")  # its heartbeat stopped
    db.conn.commit()
    assert import_csv(db, "public-awareness", HEADER + rows(5, start=100)) == 5
    assert visible(db) == 35
    assert db.execute("select status, rows from import_batches order by rows desc").fetchall() == [
        ("done", 30), ("done", 5)]
    finished = tally_snapshot(db)
    assert not any("staging:" in key for table in finished.values() for key, _n in table)
    tallies.rebuild(db)
    db.conn.commit()
    assert tally_snapshot(db) == finished
