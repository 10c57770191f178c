"""Pre-aggregated counts for the survey measures, kept exact by SQLite triggers.

scoring.measures counts answers of valid responses by value, optionally per site,
channel, respondent type, age band, living alone or month, and filtered by the same
fields and a period. Over a million responses, joining answers to responses for each
of a questionnaire's measures takes seconds. Two kinds of tally hold the same counts
already grouped (the period at month precision, `submitted_at` = 'YYYY-MM'):

- the fine tallies, grouped by every field at once, for filters combining two or more
  of the fields (random data crossed over every field makes them nearly as big as the data):

      answer_tallies(questionnaire_id, question_id, value, excluded, site_id, channel,
                     respondent_type, age_band, living_alone, submitted_at, n)
      response_tallies(... the same without question_id and value ..., n)

- the marginal tallies, far smaller: the same columns plus `dim`, one row set per `dim`
  in MARGINALS. Rows of dim 'site_id' are grouped by questionnaire, question, value,
  excluded, month and site_id, the other fields NULL; rows of dim 'other' by the same but
  channel, respondent type, age band and living alone instead of the site. They answer
  every query whose filters and breakdown use the site alone or none of the site:

      answer_marginals(dim, questionnaire_id, question_id, value, excluded, site_id, ...,
                       submitted_at, n)
      response_marginals(dim, ... the same without question_id and value ..., n)

Triggers on `answers` (insert, delete) and on `responses` (insert, delete, and update
of any of those fields, e.g. a quality rule setting `excluded`) add and subtract, in
the same transaction as the change, so the tallies can never disagree with the rows.
Rows are keyed by `key`, the quoted values of every field (quote() keeps NULL apart
from the text 'NULL'), so one UPSERT per answer and tally row set keeps one row per
combination. Each answer and each response costs 1 + len(MARGINALS) UPSERTs (about 11 us
each in-process: the cost of a submission grows by about 1.2 ms, see benchmarks/RESULTS.md);
no secondary index holds `n`, so an UPSERT adding to an existing row writes that row alone.
The marginal tallies are WITHOUT ROWID tables keyed by `key`.

Deferred counting (migration 15): the triggers count only the responses up to the
watermark in `tally_watermark` (and their answers). A newer response is counted later,
by `fold`, with the others that arrived meanwhile, in grouped statements: one UPSERT per
group instead of per answer, and none inside a submission's transaction (the write
lock's holder runs the triggers for every answer: 3 UPSERTs each). Readers stay exact:
every query on a tally reads `tally_rows(...)`, the tally's rows plus, in the same
statement (one snapshot), the raw rows above the watermark. A response with an id at or
below the watermark (SQLite may reuse the highest id after a delete) is counted by the
triggers, so every row is counted exactly once, by one of the two. Writers fold once
FOLD_AT responses wait (survey.storage.db.fold_if_due).

The column names are those of `responses`, so scoring.measures runs its own WHERE
and GROUP BY expressions on a tally aliased as `r`, and sums `n` instead of counting
rows. It falls back to the raw tables when a period bound is finer than a month.
"""

from contextlib import contextmanager

# Every tally row belongs to one evaluation and one questionnaire: the same questionnaire
# in two evaluations never shares a count (migration 9 added evaluation_id).
SCOPE = ("evaluation_id", "questionnaire_id")
DIMENSIONS = ("excluded", "site_id", "channel", "respondent_type", "age_band", "living_alone")
# The marginal tallies' row sets: name (`dim`) -> the fields it is grouped by, besides
# questionnaire, question, value, excluded and month (the other fields are NULL in its rows).
# The site, with the most values, apart; the four fields with few values together (random
# data crossed over them: 4 x 3 x 4 x 3 groups per question value and month). Each row set
# costs one row UPSERT per answer.
MARGINALS = {"site_id": ("site_id",), "other": ("channel", "respondent_type", "age_band", "living_alone")}
MARGINAL_FIELDS = tuple(f for fields in MARGINALS.values() for f in fields)


def _key(prefix, extra=()):
    """SQL for the key of a fine tally row from the response fields under `prefix` (new/old/r)."""
    parts = [f"quote({p})" for p in extra]
    parts += [f"quote({prefix}.{c})" for c in SCOPE] + [f"quote({prefix}.{d})" for d in DIMENSIONS]
    parts.append(f"quote(substr({prefix}.submitted_at, 1, 7))")
    return " || '|' || ".join(parts)


def _fields(prefix):
    """The fine tally columns' values from the response fields under `prefix`."""
    return ", ".join([f"{prefix}.{c}" for c in SCOPE] + [f"{prefix}.{d}" for d in DIMENSIONS]
                     + [f"substr({prefix}.submitted_at, 1, 7)"])


TRIGGERS = []  # names of the triggers, filled by create_schema (bulk loaders may drop and recreate them)
COLUMNS = ", ".join(SCOPE) + ", " + ", ".join(DIMENSIONS) + ", submitted_at"
WATCHED = ", ".join(SCOPE) + ", submitted_at, " + ", ".join(DIMENSIONS)
MARGINAL_COLUMNS = "dim, " + COLUMNS


def _month(prefix):
    """SQL: the month of `prefix` ('YYYY-MM' already in a fine tally row, prefix 't')."""
    return f"{prefix}.submitted_at" if prefix == "t" else f"substr({prefix}.submitted_at, 1, 7)"


def _marginal_select(dim, prefix, extra=()):
    """SQL: the key and the marginal columns' values of row set `dim` (after key and the
    `extra` columns) from fields under `prefix`. One statement per row set, its name a
    literal, no join: cheaper per trigger run than one statement joining the row sets."""
    kept = MARGINALS[dim]
    key = " || '|' || ".join([f"'{dim}'", *(f"quote({p})" for p in extra),
                              *(f"quote({prefix}.{c})" for c in SCOPE),
                              f"quote({prefix}.excluded)", f"quote({_month(prefix)})",
                              *(f"quote({prefix}.{f})" for f in kept)])
    values = ", ".join([f"'{dim}'", *(f"{prefix}.{c}" for c in SCOPE), f"{prefix}.excluded"]
                       + [f"{prefix}.{f}" if f in kept else "null" for f in MARGINAL_FIELDS] + [_month(prefix)])
    return f"{key}, {''.join(f'{p}, ' for p in extra)}{values}"


def _add_answers(prefix, sign, answer_source):
    """INSERT ... SELECTs adding `sign` per answer row of `answer_source` (alias a) for
    response `prefix`, to the fine and the marginal answer tallies."""
    return (f"insert into answer_tallies (key, question_id, value, {COLUMNS}, n)"
            f" select {_key(prefix, ('a.question_id', 'a.value'))}, a.question_id, a.value, {_fields(prefix)}, {sign}"
            f" {answer_source} on conflict(key) do update set n = n + excluded.n;"
            + "".join(f" insert into answer_marginals (key, question_id, value, {MARGINAL_COLUMNS}, n)"
                      f" select {_marginal_select(dim, prefix, ('a.question_id', 'a.value'))}, {sign}"
                      f" {answer_source} on conflict(key) do update set n = n + excluded.n;" for dim in MARGINALS))


def _add_response(prefix, sign):
    """INSERTs adding `sign` to the fine and marginal response tallies of response `prefix`."""
    return (f"insert into response_tallies (key, {COLUMNS}, n)"
            f" select {_key(prefix)}, {_fields(prefix)}, {sign} where true"
            f" on conflict(key) do update set n = n + excluded.n;"
            + "".join(f" insert into response_marginals (key, {MARGINAL_COLUMNS}, n)"
                      f" select {_marginal_select(dim, prefix)}, {sign} where true"
                      f" on conflict(key) do update set n = n + excluded.n;" for dim in MARGINALS))


WATERMARK = "(select response_id from tally_watermark)"
FOLD_AT = 256  # responses waiting above the watermark before a writer folds them


def _triggers():
    """{trigger name: its SQL after the name}: the triggers that keep the tallies exact,
    for the responses at or below the watermark (those above it wait for `fold`)."""
    return {
        "tally_answer_insert": f"after insert on answers when new.response_id <= {WATERMARK} begin "
        + _add_answers("r", 1, "from responses r join (select new.question_id as question_id, new.value as value) a"
                               " where r.id = new.response_id") + " end",
        "tally_answer_delete": f"after delete on answers when old.response_id <= {WATERMARK} begin "
        + _add_answers("r", -1, "from responses r join (select old.question_id as question_id, old.value as value) a"
                                " where r.id = old.response_id") + " end",
        "tally_response_insert": f"after insert on responses when new.id <= {WATERMARK} begin "
        + _add_response("new", 1) + " end",
        "tally_response_delete": f"after delete on responses when old.id <= {WATERMARK} begin "
        + _add_response("old", -1) + " end",
        "tally_response_update": f"after update of {WATCHED} on responses when old.id <= {WATERMARK} begin "
        + _add_response("old", -1) + _add_response("new", 1)
        + _add_answers("old", -1, "from answers a where a.response_id = old.id")
        + _add_answers("new", 1, "from answers a where a.response_id = new.id") + " end",
    }


@contextmanager
def without_update_trigger(db):
    """Run the block (inside the caller's transaction) without the trigger that re-counts a
    response whose fields change: for a bulk rename whose counts the caller adds itself
    (add_responses). Recreated in the same transaction, so no other writer ever misses it;
    if the block fails, rolling the transaction back restores it (SQLite's DDL is transactional)."""
    db.execute("drop trigger if exists tally_response_update")
    yield
    db.execute(f"create trigger if not exists tally_response_update {_triggers()['tally_response_update']}")


def create_schema(db):
    """Create the tally tables and their triggers; fill them from existing rows when new.

    The tallies are kept per evaluation, so they need `responses.evaluation_id`: on a
    database older than migration 8 (migration 1 runs this too) nothing is created, and
    migration 9 builds them.
    """
    if "evaluation_id" not in {row[1] for row in db.execute("pragma table_info(responses)").fetchall()}:
        return
    tables = set(db.table_names())
    dims = ", ".join(f"{d} {'integer' if d in ('excluded', 'site_id', 'living_alone') else 'text'}"
                     for d in DIMENSIONS)
    for table, extra in (("answer_tallies", "question_id text not null, value text not null, "),
                         ("response_tallies", ""),
                         ("answer_marginals", "dim text not null, question_id text not null, value text not null, "),
                         ("response_marginals", "dim text not null, ")):
        rowid = " without rowid" if table.endswith("marginals") else ""
        db.execute(f"create table if not exists {table} (key text primary key, {extra}"
                   f"evaluation_id integer not null, questionnaire_id text not null, {dims},"
                   f" submitted_at text, n integer not null){rowid}")
    # No index holds n: an UPSERT adding to an existing row then writes that row only.
    # The fine tallies serve only filters combining several fields, read in one pass.
    db.execute("create index if not exists tallies_answer_scope"
               " on answer_tallies (evaluation_id, questionnaire_id, excluded)")
    db.execute("create index if not exists tallies_response_scope"
               " on response_tallies (evaluation_id, questionnaire_id, excluded)")
    # A site's filter (with a breakdown by another field, or a second filter) reads the fine
    # tallies: this index reads that site's rows for the period only, not the whole
    # questionnaire's (4.99 s -> 0.34 s for a dashboard's queries at 200,000 responses).
    for table in ("answer", "response"):
        db.execute(f"create index if not exists tallies_{table}_site"
                   f" on {table}_tallies (evaluation_id, questionnaire_id, site_id, excluded, submitted_at)")
    for table in ("answer_marginals", "response_marginals"):
        db.execute(f"create index if not exists tallies_{table}_scope"
                   f" on {table} (evaluation_id, questionnaire_id, dim, excluded, submitted_at)")
    if "tally_watermark" not in tables:
        # Every response stored so far was counted by the triggers of the code before.
        db.execute("create table tally_watermark (id integer primary key check (id = 1),"
                   " response_id integer not null)")
        db.execute("insert into tally_watermark (id, response_id) select 1, coalesce(max(id), 0) from responses")
    triggers = _triggers()
    for name, body in triggers.items():
        stored = db.execute("select sql from sqlite_master where type = 'trigger' and name = ?", [name]).fetchone()
        if stored is not None and not stored[0].endswith(body):  # a trigger of an older version
            db.execute(f"drop trigger {name}")
        db.execute(f"create trigger if not exists {name} {body}")
    TRIGGERS[:] = list(triggers)
    if "answer_tallies" not in tables:
        rebuild(db)
    elif "answer_marginals" not in tables:
        rebuild_marginals(db)


def rebuild(db):
    """Recompute every tally from the raw rows (for a database that had rows before them).

    Grouped by the columns, not by the key: the key is then built once per group instead
    of once per answer (measured 40% faster on 334,000 answers, benchmarks/RESULTS.md).
    """
    db.execute("delete from answer_tallies")
    db.execute("delete from response_tallies")
    db.execute(f"insert into answer_tallies (key, question_id, value, {COLUMNS}, n)"
               f" select {_key('r', ('a.question_id', 'a.value'))}, a.question_id, a.value, {_fields('r')}, count(*)"
               f" from answers a join responses r on r.id = a.response_id group by a.question_id, a.value,"
               f" {_fields('r')}")
    db.execute(f"insert into response_tallies (key, {COLUMNS}, n)"
               f" select {_key('r')}, {_fields('r')}, count(*) from responses r group by {_fields('r')}")
    db.execute("update tally_watermark set response_id = (select coalesce(max(id), 0) from responses)")
    rebuild_marginals(db)


def rebuild_marginals(db):
    """Recompute the marginal tallies from the fine ones (far fewer rows than the raw tables)."""
    db.execute("delete from answer_marginals")
    db.execute("delete from response_marginals")
    for table, extra in (("answer", ("t.question_id", "t.value")), ("response", ())):
        columns = "".join(f"{c[2:]}, " for c in extra)
        for dim in MARGINALS:
            grouping = ", ".join([*extra, *(f"t.{c}" for c in SCOPE), "t.excluded", "t.submitted_at",
                                  *(f"t.{f}" for f in MARGINALS[dim])])
            db.execute(f"insert into {table}_marginals (key, {columns}{MARGINAL_COLUMNS}, n)"
                       f" select {_marginal_select(dim, 't', extra)}, sum(t.n) from {table}_tallies t"
                       f" group by {grouping}")


def add_responses(db, ids_sql, params=()):
    """Add the counts of the responses whose ids `ids_sql` selects, and of their answers,
    to every tally (in the caller's transaction): a grouped INSERT per tally row set, one
    UPSERT per group instead of the triggers' one per answer. For rows that reached their
    final fields without the triggers counting them (a staged import's rename)."""
    _add_where(db, f"r.id in ({ids_sql})", params)


def fold(db):
    """Count the responses above the watermark (and their answers) into every tally and
    raise the watermark past them (in the caller's transaction); return how many ids it
    passed. Grouped statements: one UPSERT per tally row they touch, not per answer."""
    low, high = db.execute(f"select {WATERMARK}, (select coalesce(max(id), 0) from responses)").fetchone()
    if high <= low:
        return 0
    _add_where(db, "r.id > ? and r.id <= ?", [low, high])
    db.execute("update tally_watermark set response_id = ?", [high])
    return high - low


def waiting(db):
    """How many response ids lie above the watermark (deleted ones included): a cheap
    upper bound of the responses `fold` would count."""
    return db.execute(f"select (select coalesce(max(id), 0) from responses) - {WATERMARK}").fetchone()[0]


def _add_where(db, where_sql, params):
    """add_responses for the responses `where_sql` (on `responses r`) chooses."""
    answers = f"from answers a join responses r on r.id = a.response_id where {where_sql}"
    rows = f"from responses r where {where_sql}"
    extra = ("a.question_id", "a.value")
    statements = [
        f"insert into answer_tallies (key, question_id, value, {COLUMNS}, n)"
        f" select {_key('r', extra)} as k, a.question_id, a.value, {_fields('r')}, count(*) {answers} group by k",
        f"insert into response_tallies (key, {COLUMNS}, n) select {_key('r')} as k, {_fields('r')}, count(*)"
        f" {rows} group by k",
    ]
    for dim in MARGINALS:
        statements.append(f"insert into answer_marginals (key, question_id, value, {MARGINAL_COLUMNS}, n)"
                          f" select {_marginal_select(dim, 'r', extra)}, count(*) {answers} group by 1")
        statements.append(f"insert into response_marginals (key, {MARGINAL_COLUMNS}, n)"
                          f" select {_marginal_select(dim, 'r')}, count(*) {rows} group by 1")
    for sql in statements:
        db.execute(sql + " on conflict(key) do update set n = n + excluded.n", list(params))


def rows_sql(table):
    """SQL of a subquery (to alias) giving the rows of tally `table` plus, as rows of n = 1,
    the raw rows above the watermark with the same columns, so a query stays exact between
    folds. Marginal tallies give the row set named by the statement's first parameter
    (dim = ?); raw rows carry every field, which is harmless as a marginal query reads
    only its row set's fields. SQLite pushes the caller's WHERE into both halves."""
    answers = table.startswith("answer_")
    pair = "question_id, value, " if answers else ""
    own = f"select {pair}{COLUMNS}, n from {table}" + (" where dim = ?" if table.endswith("marginals") else "")
    fields = ", ".join(f"r.{c}" for c in COLUMNS.split(", "))
    if answers:
        raw = (f"select a.question_id, a.value, {fields}, 1 from answers a join responses r"
               f" not indexed on r.id = a.response_id where r.id > {WATERMARK}")
    else:
        raw = f"select {fields}, 1 from responses r not indexed where r.id > {WATERMARK}"
    return f"({own} union all {raw})"


def drop_questionnaire(db, evaluation_id, questionnaire_id, limit=None):
    """Delete the tally rows of a questionnaire id in an evaluation (at most `limit` per
    table); return how many were deleted. For a staging id, whose counts nobody reads."""
    deleted = 0
    for table in ("answer_tallies", "response_tallies", "answer_marginals", "response_marginals"):
        chosen = "select key from {t} where evaluation_id = ? and questionnaire_id = ?".format(t=table)
        if limit:
            chosen += f" limit {int(limit)}"
        deleted += db.execute(f"delete from {table} where key in ({chosen})",
                              [evaluation_id, questionnaire_id]).rowcount
    return deleted


def response_totals(db, evaluation_id, questionnaire_id=None):
    """{questionnaire_id: (responses, excluded)} of one evaluation, from the site row set of
    the marginal tallies: a few rows per site and month, whatever the number of responses."""
    where, params = ("and questionnaire_id = ?", [questionnaire_id]) if questionnaire_id else ("", [])
    sql = ("select questionnaire_id, sum(n), sum(case when excluded = 1 then n else 0 end)"
           f" from {rows_sql('response_marginals')} where evaluation_id = ?"
           f" and questionnaire_id in (select id from questionnaires) {where} group by questionnaire_id")
    return {row[0]: (row[1], row[2]) for row in db.execute(sql, ["site_id", evaluation_id, *params]).fetchall()}


def present_values(db, evaluation_id, questionnaire_id, field):
    """The distinct values of a response field (site_id, channel, ...) among a
    questionnaire's responses in one evaluation, from the marginal tallies (not a scan
    of the responses)."""
    dim = next(name for name, fields in MARGINALS.items() if field in fields)
    return [row[0] for row in db.execute(
        f"select {field} from {rows_sql('response_marginals')} where evaluation_id = ? and questionnaire_id = ?"
        f" group by {field} having sum(n) > 0 order by {field}", [dim, evaluation_id, questionnaire_id]).fetchall()]
