"""Numbered schema migrations, recorded in the database and applied in order.

Data that exists is sacred: a database built by any earlier release upgrades in place
with `flask --app app init-db`. Each migration is a function of the database that runs
inside one IMMEDIATE transaction together with the row that records it, so a migration
is either applied and recorded or not applied at all.

Migration 1 is the baseline: the schema as the first release created it (every
`create(..., if_not_exists=True)`), so on a database made before migrations were
recorded it changes nothing and is merely recorded. Later migrations alter that
schema; add one by appending a decorated function with the next number, and never
edit one that has shipped.

Before the first pending migration runs on a database that already holds responses
or users, a verified online backup is written next to the database file.
"""

import os
import time

from survey.storage import schema, tallies


class MigrationError(RuntimeError):
    """A migration failed; the database is left as it was before that migration."""


MIGRATIONS = []


def migration(number, name):
    """Register `fn(db)` as migration `number` (numbers strictly increase)."""

    def register(fn):
        if MIGRATIONS and number <= MIGRATIONS[-1][0]:
            raise ValueError(f"migration {number} must come after {MIGRATIONS[-1][0]}")
        MIGRATIONS.append((number, name, fn))
        return fn

    return register


@migration(1, "baseline schema")
def _baseline(db):
    """The tables, indexes and triggers of the first release (idempotent)."""
    schema.create(db)


def _ensure_table(db):
    """The table that records which migrations have run."""
    db.execute(
        "create table if not exists schema_migrations ("
        " number integer primary key, name text not null, applied_at text not null)"
    )


def applied(db):
    """Numbers of the migrations already recorded in `db`."""
    _ensure_table(db)
    return {row[0] for row in db.execute("select number from schema_migrations").fetchall()}


def pending(db):
    """The (number, name, fn) migrations not yet applied to `db`, in order."""
    done = applied(db)
    return [m for m in MIGRATIONS if m[0] not in done]


def _holds_data(db):
    """True if the database already holds responses or users worth a backup."""
    tables = set(db.table_names())
    return any(
        name in tables and db.execute(f"select exists(select 1 from [{name}])").fetchone()[0]
        for name in ("responses", "users", "households")
    )


def backup_before(db, backup_dir):
    """Write a verified backup of `db` into `backup_dir`; return its path."""
    from survey.storage import backup as backup_module  # backup imports Flask's CLI helpers only

    path = db.execute("pragma database_list").fetchone()[2]
    os.makedirs(backup_dir, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = os.path.join(backup_dir, f"before-migration-{stamp}.sqlite")
    suffix = 1
    while os.path.exists(target):  # two upgrades within one second must not collide
        suffix += 1
        target = os.path.join(backup_dir, f"before-migration-{stamp}-{suffix}.sqlite")
    backup_module.backup(path, target)
    return target


def upgrade(db, backup_dir=None):
    """Apply every pending migration in order; return [(number, name), ...] applied.

    With `backup_dir`, an existing database holding data is backed up first.
    """
    todo = pending(db)
    if not todo:
        return []
    if backup_dir and _holds_data(db):
        backup_before(db, backup_dir)
    done = []
    for number, name, fn in todo:
        db.execute("BEGIN IMMEDIATE")
        try:
            fn(db)
            db.execute(
                "insert into schema_migrations (number, name, applied_at)"
                " values (?, ?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                [number, name],
            )
        except Exception as exc:
            db.execute("ROLLBACK")
            raise MigrationError(f"migration {number} ({name}) failed: {exc}") from exc
        db.execute("COMMIT")
        done.append((number, name))
    return done


@migration(2, "re-check stored indicator systems with the guarded loader")
def _recheck_indicator_systems(db):
    """Give indicator_systems a `set_aside_note`; fill it for every stored system that fails.

    Systems stored before the guarded loader (scoring/files.py) were parsed with a plain
    yaml.safe_load: an alias bomb or a misspelt key could be stored. Each is loaded again
    the way a new upload is; one that fails is set aside (kept, never deleted) with the
    reason, and the pages, the API and the XLSX refuse it from the note without parsing.
    """
    from scoring import IndicatorSystemError, load_system_yaml

    columns = {row[1] for row in db.execute("pragma table_info(indicator_systems)").fetchall()}
    if not columns:
        return
    if "set_aside_note" not in columns:
        db.execute("alter table indicator_systems add column set_aside_note text")
    for system_id, text in db.execute("select id, yaml from indicator_systems").fetchall():
        try:
            load_system_yaml(text)
        except IndicatorSystemError as exc:
            db.execute("update indicator_systems set set_aside_note = ? where id = ?",
                       [f"升级复核未通过，已搁置（未删除）：{str(exc)[:500]}", system_id])


@migration(3, "session control")
def _session_control(db):
    """A per-user session version (bumped to end every session) and failures indexed by address."""
    db.execute("alter table users add column session_version integer not null default 0")
    db.execute("create index if not exists login_failures_username_ip_at on login_failures (username, ip, at)")


@migration(4, "submission conflicts")
def _submission_conflicts(db):
    """Submissions that reused an id with other content, kept for an evaluator to decide."""
    db.execute(
        "create table submission_conflicts ("
        " id integer primary key, submission_id text not null, questionnaire_id text,"
        " kind text not null, payload text not null, payload_hash text not null,"
        " staff_user_id integer references users(id), received_at text not null,"
        " status text not null default 'pending', decided_by text, decided_at text,"
        " unique (submission_id, payload_hash))"
    )


@migration(5, "import batches")
def _import_batches(db):
    """Paper imports staged in short transactions; a row per import tells a live one from
    one abandoned by a crash (its staged rows are then removed by the next import)."""
    db.execute(
        "create table if not exists import_batches ("
        " id text primary key, questionnaire_id text not null, source text,"
        " status text not null check (status in ('staging', 'done', 'failed')),"
        " rows integer not null default 0, started_at text not null, heartbeat_at text not null,"
        " finished_at text)"
    )


@migration(6, "household assignments and poster contact details")
def _assignments_and_poster_contact(db):
    """Who follows up which households (a whole site, or one household), and the organiser,
    contact phone and closing date a poster or card prints for its link (issue 14)."""
    db.execute(
        "create table if not exists assignments ("
        " id integer primary key, user_id integer not null references users(id),"
        " site_id integer references sites(id), household_id integer references households(id),"
        " assigned_at text not null, assigned_by text,"
        " check ((site_id is null) != (household_id is null)))")
    db.execute("create unique index if not exists assignments_one_each"
               " on assignments (user_id, coalesce(site_id, 0), coalesce(household_id, 0))")
    columns = {row[1] for row in db.execute("pragma table_info(links)").fetchall()}
    for column in ("organiser", "contact_phone", "closes_on"):
        if column not in columns:
            db.execute(f"alter table links add column {column} text")


@migration(7, "quality rules on arrival, paged lists")
def _quality_on_arrival(db):
    """The stored medians and the indexes the rules on arrival and the paged lists read
    (survey.quality.create_arrival_schema)."""
    from survey import quality  # quality imports survey.storage.db, which imports this module

    quality.create_arrival_schema(db)


# Tables whose rows belong to one evaluation. Each gets `evaluation_id` (existing rows go
# to the evaluation this migration creates) and, where a row without one would be data
# of no evaluation at all, a trigger refusing such an insert.
EVALUATION_TABLES = ("sites", "households", "links", "responses", "drafts", "visits", "indicator_systems",
                     "import_batches", "submission_conflicts", "assignments", "audit_log", "quality_runs")
EVALUATION_REQUIRED = ("sites", "households", "links", "responses", "drafts", "visits", "indicator_systems",
                       "import_batches", "submission_conflicts", "assignments")


@migration(8, "evaluations")
def _evaluations(db):
    """Evaluations (评价项目) with roles per evaluation and the questionnaires each uses; every
    campaign row is given to one evaluation. A database made before this holds one
    campaign: it becomes the evaluation `default`, with every user's role in it."""
    db.execute(
        "create table if not exists evaluations ("
        " id integer primary key, slug text not null unique, name text not null,"
        " project text, unit text, year integer, period_from text, period_to text, population integer,"
        " status text not null default 'collecting'"
        " check (status in ('preparing', 'collecting', 'closed', 'archived')),"
        " created_at text not null)")
    db.execute(
        "create table if not exists evaluation_members ("
        " evaluation_id integer not null references evaluations(id),"
        " user_id integer not null references users(id),"
        " role text not null check (role in ('manager', 'staff', 'evaluator', 'viewer')),"
        " granted_at text not null, granted_by text, primary key (evaluation_id, user_id))")
    db.execute("create index if not exists evaluation_members_user on evaluation_members (user_id)")
    db.execute(
        "create table if not exists evaluation_questionnaires ("
        " evaluation_id integer not null references evaluations(id),"
        " questionnaire_id text not null references questionnaires(id),"
        " added_at text not null, primary key (evaluation_id, questionnaire_id))")
    now = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')"
    db.execute(f"insert into evaluations (id, slug, name, status, created_at)"
               f" values (1, 'default', '默认评价项目', 'collecting', {now})")
    db.execute(f"insert into evaluation_members (evaluation_id, user_id, role, granted_at, granted_by)"
               f" select 1, id, role, {now}, 'migration 8' from users where role in ('staff', 'evaluator')")
    db.execute(f"insert into evaluation_questionnaires (evaluation_id, questionnaire_id, added_at)"
               f" select 1, id, {now} from questionnaires")
    for table in EVALUATION_TABLES:
        db.execute(f"alter table {table} add column evaluation_id integer references evaluations(id)")
        db.execute(f"update {table} set evaluation_id = 1")
        db.execute(f"create index {table}_evaluation on {table} (evaluation_id)")
    for table in EVALUATION_REQUIRED:
        db.execute(f"create trigger {table}_need_evaluation before insert on {table}"
                   f" when new.evaluation_id is null"
                   f" begin select raise(abort, '{table}.evaluation_id is required'); end")
    # Site codes are unique within an evaluation: two evaluations may both have 'CY01'.
    db.execute("drop index if exists idx_sites_code")
    db.execute("create unique index sites_evaluation_code on sites (evaluation_id, code)")
    # The stored median time of a questionnaire is per evaluation too.
    db.execute("alter table quality_medians rename to quality_medians_before_8")
    db.execute("create table quality_medians (evaluation_id integer not null references evaluations(id),"
               " questionnaire_id text not null, median_s real not null, n integer not null, at text not null,"
               " primary key (evaluation_id, questionnaire_id))")
    db.execute("insert into quality_medians select 1, questionnaire_id, median_s, n, at from quality_medians_before_8")
    db.execute("drop table quality_medians_before_8")
    db.execute("create index responses_evaluation_questionnaire on responses"
               " (evaluation_id, questionnaire_id, excluded, submitted_at)")


@migration(9, "tallies per evaluation")
def _tallies_per_evaluation(db):
    """The pre-grouped tallies (survey.storage.tallies) gain evaluation_id in their columns, keys and
    triggers, so the same questionnaire in two evaluations never shares a count; they are
    dropped and rebuilt from the rows (which migration 8 gave to evaluation 1)."""
    for name in ("tally_answer_insert", "tally_answer_delete", "tally_response_insert",
                 "tally_response_delete", "tally_response_update"):
        db.execute(f"drop trigger if exists {name}")
    for table in ("answer_tallies", "response_tallies", "answer_marginals", "response_marginals"):
        db.execute(f"drop table if exists {table}")
    tallies.create_schema(db)


@migration(10, "import publishing mark")
def _import_publishing(db):
    """Paper imports publish their staged rows in several short transactions; `publishing_at`
    marks a batch whose publishing began, so a crash is finished, never undone."""
    db.execute("alter table import_batches add column publishing_at text")


@migration(11, "fine tallies by site")
def _fine_tallies_by_site(db):
    """An index on the fine tallies by site and month (survey.storage.tallies.create_schema
    makes it on a new database): a site-filtered dashboard stops reading every fine row."""
    tallies.create_schema(db)


@migration(12, "questionnaire publishing states")
def _questionnaire_states(db):
    """Questionnaires read from workbooks are stored as drafts, previewed, then published or
    closed: `questionnaires.status` (draft / published / closed) and `questionnaire_versions.status`
    (draft / published). Every questionnaire and version stored so far was live: published."""
    db.execute("alter table questionnaires add column status text not null default 'published'"
               " check (status in ('draft', 'published', 'closed'))")
    db.execute("alter table questionnaire_versions add column status text not null default 'published'"
               " check (status in ('draft', 'published'))")


@migration(13, "questionnaire drafts and closing")
def _questionnaire_drafts(db):
    """Workbooks uploaded in an evaluation's back office wait in `questionnaire_drafts` between
    upload, preview and publish (per evaluation, outside the library until published, so a
    corrected upload needs no new version number), and an evaluation may close one
    questionnaire (`closed_at`) while it, and other evaluations, keep collecting the rest."""
    db.execute(
        "create table if not exists questionnaire_drafts ("
        " id integer primary key, evaluation_id integer not null references evaluations(id),"
        " questionnaire_id text not null, version integer not null, filename text not null,"
        " definition text not null, sha256 text not null, workbook blob not null,"
        " uploaded_by text, uploaded_at text not null, published_at text)")
    db.execute("create index if not exists questionnaire_drafts_evaluation on questionnaire_drafts (evaluation_id)")
    db.execute("alter table evaluation_questionnaires add column closed_at text")


@migration(14, "a stored response deletes its draft")
def _response_clears_draft(db):
    """The draft of a submission goes when its response is stored, in the same statement.

    The respondent pages keep answers in `drafts` until the final submit. Deleting the
    draft was a statement of its own inside the write lock on every submission, each of
    which gives up Python's GIL and waits to get it back under load; as a trigger it runs
    inside the response's INSERT, for every entry path (pages, staff app, API, imports).
    """
    db.execute("create trigger if not exists response_clears_draft after insert on responses"
               " begin delete from drafts where submission_id = new.submission_id; end")


@migration(15, "tallies count new responses in batches")
def _deferred_tallies(db):
    """The tallies' triggers count only the responses up to `tally_watermark`; newer ones
    are folded in later, in grouped statements, by the writers (survey.storage.tallies:
    deferred counting). Every response stored so far was counted by the old triggers, so
    the watermark starts at the highest id; the triggers are replaced (create_schema
    replaces any trigger whose text differs from the current one)."""
    tallies.create_schema(db)
