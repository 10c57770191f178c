"""Schema migrations: a fresh database and one built by the previous release upgrade in place."""

import sqlite3
from pathlib import Path

import pytest

from app import create_app
from survey.storage import migrations
from survey.storage.db import connect

RELEASE_1 = Path(__file__).parent / "fixtures" / "release-1.sql"
COUNTED = ["questionnaires", "questionnaire_versions", "sites", "households", "links", "responses",
           "answers", "users", "indicator_systems", "quality_reviews", "visits", "api_tokens"]


def build_release_1(path):
    """A database exactly as release 1 left it: its demo data, a stored system, a review, a visit, a token."""
    conn = sqlite3.connect(path)
    conn.executescript(RELEASE_1.read_text())
    conn.close()
    return path


def counts(path):
    """Row counts of the tables whose data must survive any upgrade."""
    conn = sqlite3.connect(path)
    try:
        return {name: conn.execute(f"select count(*) from [{name}]").fetchone()[0] for name in COUNTED}
    finally:
        conn.close()


@pytest.fixture
def release_1_db(tmp_path):
    """The path of a database built by release 1 (before migrations were recorded)."""
    return build_release_1(str(tmp_path / "old.sqlite"))


def test_fresh_database_records_every_migration(db):
    assert migrations.applied(db) == {number for number, _, _ in migrations.MIGRATIONS}
    assert migrations.pending(db) == []


def test_release_1_database_upgrades_with_every_row_kept(release_1_db, tmp_path):
    before = counts(release_1_db)
    assert before["responses"] == 240 and before["indicator_systems"] == 1
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE": release_1_db})
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    after = counts(release_1_db)
    # New questionnaire versions are added beside the old ones, which stay for old answers.
    assert after.pop("questionnaire_versions") == before["questionnaire_versions"] + len(
        list((Path(__file__).resolve().parents[1] / "survey" / "definitions").glob("*.yaml")))
    assert after == {k: v for k, v in before.items() if k != "questionnaire_versions"}
    upgraded = connect(release_1_db)
    assert migrations.pending(upgraded) == []
    backups = list(Path(app.instance_path, "backups").glob("before-migration-*.sqlite"))
    assert backups, "no backup was taken before migrating a database with data"
    assert counts(str(max(backups, key=lambda p: p.stat().st_mtime))) == before


def test_upgrade_is_idempotent(release_1_db):
    db = connect(release_1_db)
    first = migrations.upgrade(db)
    assert [number for number, _ in first] == [number for number, _, _ in migrations.MIGRATIONS]
    assert migrations.upgrade(db) == []


def test_a_failing_migration_leaves_the_database_as_it_was(release_1_db, monkeypatch):
    db = connect(release_1_db)
    migrations.upgrade(db)

    def broken(database):
        database.execute("alter table responses add column half_done text")
        raise RuntimeError("boom")

    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS + [(10_000, "broken", broken)])
    with pytest.raises(migrations.MigrationError, match="migration 10000"):
        migrations.upgrade(db)
    columns = {row[1] for row in db.execute("pragma table_info(responses)").fetchall()}
    assert "half_done" not in columns
    assert 10_000 not in migrations.applied(db)


def test_stored_systems_are_rechecked_and_a_bomb_is_set_aside(release_1_db, tmp_path):
    """A 2,903-byte alias bomb stored before the guarded loader is set aside on upgrade;
    the good stored system is untouched; no page, API or XLSX parses the bomb again."""
    import time

    from conftest import csrf_token

    bomb = "project: 炸弹\nindicators: &i0 [{name: a, weight: 100, rule: judged, score: 1, reason: x}]\n" + "".join(
        f"l{n}: &i{n} [{', '.join(['*i' + str(n - 1)] * 9)}]\n" for n in range(1, 10))
    bomb += "# " + "x" * (2903 - len(bomb.encode()) - 3) + "\n"
    assert len(bomb.encode()) == 2903
    conn = sqlite3.connect(release_1_db)
    conn.execute("insert into indicator_systems (id, name, filename, yaml, sha256, uploaded_at)"
                 " values (99, 'bomb', 'bomb.yaml', ?, 'x', '2024-01-01T00:00:00')", [bomb])
    conn.commit()
    conn.close()
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE": release_1_db})
    db = connect(release_1_db)
    notes = dict(db.execute("select id, set_aside_note from indicator_systems").fetchall())
    assert notes[1] is None
    assert "已搁置" in notes[99] and "alias bomb" in notes[99]
    from survey.web import auth

    auth.create_user(db, "eva", "a-long-password-1", "evaluator")
    client = app.test_client()
    page = client.get("/login")
    client.post("/login", data={"csrf_token": csrf_token(page.text), "username": "eva",
                                "password": "a-long-password-1"})
    started = time.process_time()
    for path in ("/e/default/scores/99", "/e/default/scores/99/table.xlsx", "/e/default/scores/99/chart.png"):
        response = client.get(path)
        assert response.status_code == 409, path
        assert "已搁置" in response.text
    assert client.get("/e/default/scores/1").status_code == 200
    assert time.process_time() - started < 5


def test_release_1_users_get_a_session_version_and_can_still_log_in(release_1_db):
    """Migration 3: every existing user starts at session version 0 and keeps their password."""
    from conftest import csrf_token

    from survey.demo import DEMO_PASSWORD

    db = connect(release_1_db)
    migrations.upgrade(db)  # no backup: create_app's would share instance/backups with other tests
    assert {row[0] for row in db.execute("select session_version from users")} == {0}
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE": release_1_db})
    client = app.test_client()
    page = client.get("/login")
    response = client.post("/login", data={"csrf_token": csrf_token(page.text), "username": "staff",
                                           "password": DEMO_PASSWORD})
    assert response.status_code == 302
    # The old address of the staff app leads to the upgraded campaign's evaluation.
    old = client.get("/field/")
    assert old.status_code == 302 and old.location.endswith("/e/default/field/")
    assert client.get(old.location).status_code == 200


def test_release_1_database_gains_import_batches(release_1_db):
    """Migration 5 adds the table that tracks staged paper imports; nothing else changes."""
    before = counts(release_1_db)
    db = connect(release_1_db)
    migrations.upgrade(db)
    assert "import_batches" in db.table_names()
    assert db.execute("select count(*) from import_batches").fetchone()[0] == 0
    db.conn.close()
    assert counts(release_1_db) == before


def test_migration_6_adds_assignments_and_poster_contact_keeping_links(release_1_db):
    """On the release-1 database: links keep every row and gain empty organiser, contact_phone
    and closes_on; the assignments table exists and refuses a row with both a site and a household."""
    db = connect(release_1_db)
    links_before = db.execute("select code, questionnaire_id, site_id, channel from links order by code").fetchall()
    assert links_before
    migrations.upgrade(db)
    links_after = db.execute("select code, questionnaire_id, site_id, channel, organiser, contact_phone, closes_on"
                             " from links order by code").fetchall()
    assert [tuple(row[:4]) for row in links_after] == [tuple(row) for row in links_before]
    assert all(row[4:] == (None, None, None) for row in links_after)
    user_id = db.execute("select id from users limit 1").fetchone()[0]
    site_id, household_id = db.execute("select site_id, id from households limit 1").fetchone()
    db.execute("insert into assignments (evaluation_id, user_id, site_id, assigned_at) values (1, ?, ?, 'now')",
               [user_id, site_id])
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("insert into assignments (evaluation_id, user_id, site_id, household_id, assigned_at)"
                   " values (1, ?, ?, ?, 'now')", [user_id, site_id, household_id])


def test_release_1_database_gains_the_quality_on_arrival_schema(release_1_db):
    """Migration 7: the stored medians table and the indexes the rules on arrival and the
    review list read; a `quality run` afterwards stores a median and changes no count."""
    from survey import quality

    before = counts(release_1_db)
    db = connect(release_1_db)
    migrations.upgrade(db)
    assert "quality_medians" in db.table_names()
    indexes = {row[1] for row in db.execute("select type, name from sqlite_master where type = 'index'")}
    assert {"idx_responses_device", "idx_responses_household", "idx_responses_flagged"} <= indexes
    quality.run(db, 1, "elder-satisfaction")
    assert db.execute("select n from quality_medians where questionnaire_id = 'elder-satisfaction'").fetchone()[0] > 0
    db.conn.close()
    assert counts(release_1_db) == before


def test_migration_9_rebuilds_the_tallies_per_evaluation(release_1_db):
    """Migration 9: the tallies gain evaluation_id (columns, keys, triggers) and are rebuilt
    from the rows, every count now under evaluation 1; the old tally rows had none."""
    conn = sqlite3.connect(release_1_db)
    old_sums = {table: conn.execute(f"select sum(n) from {table}").fetchone()[0]
                for table in ("answer_tallies", "response_tallies", "answer_marginals", "response_marginals")}
    assert "evaluation_id" not in {row[1] for row in conn.execute("pragma table_info(answer_tallies)")}
    conn.close()
    db = connect(release_1_db)
    migrations.upgrade(db)
    assert 9 in migrations.applied(db)
    for table, total in old_sums.items():
        assert db.execute(f"select sum(n) from {table} where evaluation_id = 1").fetchone()[0] == total, table
        assert db.execute(f"select count(*) from {table} where evaluation_id is not 1").fetchone()[0] == 0
    triggers = dict(db.execute("select name, sql from sqlite_master where type = 'trigger'"
                               " and name like 'tally_%'").fetchall())
    assert len(triggers) == 5 and all("evaluation_id" in sql for sql in triggers.values())


def test_migration_10_marks_publishing_import_batches_keeping_them(release_1_db):
    """Migration 10 adds `publishing_at` to import_batches; a batch made before it keeps its
    fields and reads as not publishing (a crash before publishing is removed, not finished)."""
    db = connect(release_1_db)
    db.execute("pragma foreign_keys=off")
    for number, _name, fn in migrations.MIGRATIONS:
        if number < 10:
            fn(db)
    db.execute("insert into import_batches (id, evaluation_id, questionnaire_id, status, rows, started_at,"
               " heartbeat_at) values ('b1', 1, 'public-awareness', 'done', 7, '2025-01-01', '2025-01-01')")
    dict(((n, f) for n, _name, f in migrations.MIGRATIONS))[10](db)
    assert db.execute("select id, status, rows, publishing_at from import_batches").fetchall() == [
        ("b1", "done", 7, None)]
    db.conn.close()


def test_migration_11_indexes_the_fine_tallies_by_site(release_1_db):
    """After the upgrade a site-filtered query on the fine tallies uses the site index."""
    db = connect(release_1_db)
    migrations.upgrade(db)
    plan = " ".join(row[3] for row in db.execute(
        "explain query plan select sum(n) from answer_tallies r where r.evaluation_id = 1 and"
        " r.questionnaire_id = 'elder-satisfaction' and r.excluded = 0 and r.site_id = 3"
        " and r.submitted_at >= '2024-03'").fetchall())
    assert "tallies_answer_site" in plan
    db.conn.close()


def test_migration_12_marks_every_stored_questionnaire_published(release_1_db):
    """Questionnaires and versions stored before publishing states existed were live: published."""
    conn = sqlite3.connect(release_1_db)
    before = conn.execute("select id, current_version from questionnaires order by id").fetchall()
    conn.close()
    db = connect(release_1_db)
    migrations.upgrade(db)
    assert db.execute("select id, current_version from questionnaires order by id").fetchall() == before
    assert {row[0] for row in db.execute("select status from questionnaires").fetchall()} == {"published"}
    assert {row[0] for row in db.execute("select status from questionnaire_versions").fetchall()} == {"published"}
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("update questionnaires set status = 'open'")


def test_migration_13_adds_questionnaire_drafts_and_per_evaluation_closing(release_1_db):
    """Migration 13: an empty questionnaire_drafts table, and evaluation_questionnaires gains
    closed_at with every questionnaire the upgrade gave to evaluation 1 still open."""
    db = connect(release_1_db)
    migrations.upgrade(db)
    assert 13 in migrations.applied(db)
    assert db.execute("select count(*) from questionnaire_drafts").fetchone()[0] == 0
    uses = db.execute("select questionnaire_id, closed_at from evaluation_questionnaires"
                      " where evaluation_id = 1 order by questionnaire_id").fetchall()
    stored = [row[0] for row in db.execute("select id from questionnaires order by id").fetchall()]
    assert [row[0] for row in uses] == stored and stored
    assert all(row[1] is None for row in uses)
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("insert into questionnaire_drafts (evaluation_id, questionnaire_id, version, filename,"
                   " definition, sha256, workbook, uploaded_at) values (1, 'x', 1, 'x.xlsx', '{}', 's', null, 'now')")
