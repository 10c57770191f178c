"""Shared helpers of the benchmarks: the machine, peak memory, a fresh app database,
and a fast generator of stored responses (SQL, not the respondent pages)."""

import os
import platform
import random
import resource
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SITES = 20
CHANNELS = ("qr", "poster", "door", "phone")
RESPONDENTS = ("self", "proxy", "assisted")
AGE_BANDS = ("60-69", "70-79", "80-89", "90+")


def machine():
    """nproc, CPU model, RAM and Python, for RESULTS.md."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"nproc": os.cpu_count(), "cpu": model, "ram_gib": round(ram, 1),
            "python": platform.python_version(), "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def peak_rss_mib(who=resource.RUSAGE_SELF):
    """Peak resident set size in MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(who).ru_maxrss / 1024


def make_app(database, **config):
    """The app on `database` (schema and questionnaires created)."""
    from app import create_app

    return create_app({"TESTING": True, "SECRET_KEY": "bench", "DATABASE": str(database), **config})


def generate_elder_responses(db, count, seed=1, batch=50_000):
    """Store `count` elder-satisfaction responses with their answers, fast.

    Responses go in by executemany in batches; their answers by INSERT ... SELECT
    from the responses just written (random values in SQL), one statement per question.
    Returns the number of answers rows written.
    """
    from survey.storage import tallies

    rng = random.Random(seed)
    conn = db.conn
    # Bulk load without the per-row tally triggers, then build the tallies in one GROUP BY
    # and put the triggers back (tests/hostile/test_tallies.py shows both ways agree).
    for name in tallies.TRIGGERS:
        conn.execute(f"drop trigger if exists {name}")
    conn.execute("PRAGMA synchronous=OFF")
    version = conn.execute("select current_version from questionnaires where id = 'elder-satisfaction'").fetchone()[0]
    conn.execute("BEGIN")
    # Everything in the evaluation `default` (id 1), as a single-campaign database is.
    conn.executemany("insert or ignore into sites (id, code, name, kind, evaluation_id) values (?, ?, ?, '社区', 1)",
                     [(i, f"S{i:02d}", f"第{i}社区") for i in range(1, SITES + 1)])
    start_id = (conn.execute("select coalesce(max(id), 0) from responses").fetchone()[0] or 0) + 1
    epoch = datetime(2024, 1, 1, tzinfo=timezone.utc)
    for offset in range(0, count, batch):
        rows = []
        for index in range(offset, min(count, offset + batch)):
            moment = (epoch + timedelta(seconds=rng.randrange(365 * 86400))).isoformat(timespec="seconds")
            rows.append((start_id + index, f"bench-{seed}-{index:08d}", "elder-satisfaction", version,
                         rng.randrange(1, SITES + 1), rng.choice(CHANNELS), rng.choice(RESPONDENTS),
                         rng.choice(AGE_BANDS), rng.randrange(2), moment, moment, "web",
                         1 if rng.random() < 0.02 else 0))
        conn.executemany(
            "insert into responses (id, submission_id, questionnaire_id, questionnaire_version, site_id, channel,"
            " respondent_type, age_band, living_alone, submitted_at, received_at, source, excluded, evaluation_id)"
            " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)", rows)
    last_id = start_id + count - 1
    between = "from responses where id between ? and ?"
    span = [start_id, last_id]
    weighted = "case abs(random()) % 10 when 0 then '1' when 1 then '2' when 2 then '3' when 3 then '3'" \
               " when 4 then '4' when 5 then '4' when 6 then '4' else '5' end"
    statements = [
        f"insert into answers select id, 'respondent', respondent_type {between}",
        f"insert into answers select id, 'services',"
        f" case id % 3 when 0 then 'meals' else 'emergency_call' end {between}",
        f"insert into answers select id, 'services', 'hotline' {between} and id % 2 = 0",
        *(f"insert into answers select id, '{q}', {weighted} {between}"
          for q in ("overall", "item_attitude", "item_timeliness", "item_professionalism")),
        *(f"insert into answers select id, '{q}', {weighted} {between} and id % 3 != 0"
          for q in ("item_device_ease", "item_fault_response", "item_repair")),
        f"insert into answers select id, 'hotline_unanswered', case abs(random()) % 8 when 0 then '1' else '0' end"
        f" {between} and id % 2 = 0",
        f"insert into answers select id, 'age_band', age_band {between}",
        f"insert into answers select id, 'living_alone', cast(living_alone as text) {between}",
        f"insert into answers select id, 'suggestion', '希望上门服务再快一点' {between} and id % 7 = 0",
    ]
    for sql in statements:
        conn.execute(sql, span)
    tallies.rebuild(db)
    conn.execute("COMMIT")
    tallies.create_schema(db)
    conn.execute("ANALYZE")
    return conn.execute("select count(*) from answers").fetchone()[0]
