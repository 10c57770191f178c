"""Upgrade time of a big database built by the previous code: `flask --app app init-db`
run by this working tree on an N-response database made by an older revision.

1. build: a temporary detached git worktree at --old-rev (default: the newest commit on
   main whose survey/migrations.py has no migration 8), and in a subprocess THAT
   revision's benchmarks/common.py writes N generated responses (as
   bench_evaluator_pages.build() does). The file is cached by (rev, N) in
   $TMPDIR/bench-upgrade-cache/, so a re-run reuses it.
2. before: a fingerprint read with plain sqlite3 (read-only): every table's row count,
   and per questionnaire the counts the measures depend on (valid and excluded
   responses; answers of valid responses per question and value).
3. upgrade: a copy of the file upgraded by `flask --app app init-db` of this working
   tree (FLASK_DATABASE=copy), timed from the outside: wall time, the peak RSS of that
   process (os.wait4, so earlier children do not count), the backup it wrote into
   instance/backups/ (removed afterwards unless --keep), sizes before and after. The
   backup step is also timed on its own (survey.storage.backup.backup of the same file, what
   migrations.backup_before calls), and init-db is run a second time (nothing pending)
   to show the fixed start-up cost included in the wall time.
4. after: the same fingerprint must equal the one before (exit 1 otherwise); with an
   `evaluations` table, its rows are printed and every responses.evaluation_id must be
   filled.

Usage: python benchmarks/bench_upgrade.py [--responses 1000000] [--old-rev REV] [--keep DIR]
Prints readable lines, then one JSON line (run_all.py reads it).
"""

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, machine  # noqa: E402

MARKER = "@migration(8"
CACHE = Path(tempfile.gettempdir()) / "bench-upgrade-cache"

# Run by the OLD revision's interpreter path in its own worktree: only its own code is
# imported (cwd and sys.path are that worktree), never this working tree's.
BUILD_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, "benchmarks")
from common import generate_elder_responses, make_app
target, count = Path(sys.argv[1]), int(sys.argv[2])
app = make_app(target)
with app.app_context():
    from survey.db import get_db
    db = get_db()
    answers = generate_elder_responses(db, count)
    # Like bench_evaluator_pages.build(): the excluded 2% carry the flag a rule sets.
    db.execute("update responses set flags = '[\\"speeder\\"]' where excluded = 1")
    db.conn.commit()
    try:
        from survey.auth import create_user
        create_user(db, "bencheval", "bench-evaluator-password", "evaluator", "评价组")
    except ImportError:
        pass  # a revision without users: responses alone make the backup happen
    # Everything into the main file: the cached database is one self-contained file.
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
print(answers)
"""

BACKUP_SCRIPT = """
import sys, time
sys.path.insert(0, ".")
from survey.storage import backup
started = time.perf_counter()
backup.backup(sys.argv[1], sys.argv[2])
print(round(time.perf_counter() - started, 2))
"""


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which and why."""


def git(*args, cwd=ROOT):
    """Output of a git command in the repository (stripped), or BenchError."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"git {' '.join(args)}: {done.stderr.strip() or f'exit {done.returncode}'}")
    return done.stdout.strip()


MIGRATIONS_FILE = ROOT / "survey" / "storage" / "migrations.py"


def has_marker(rev):
    """True if survey/migrations.py at `rev` registers migration 8."""
    done = subprocess.run(["git", "grep", "-q", "-F", MARKER, rev, "--", "survey/migrations.py",
                           "survey/storage/migrations.py"],
                          cwd=ROOT, capture_output=True)
    return done.returncode == 0


def default_old_rev():
    """The newest commit on main (HEAD if there is no main) without migration 8."""
    start = "main" if subprocess.run(["git", "rev-parse", "-q", "--verify", "main^{commit}"], cwd=ROOT,
                                     capture_output=True).returncode == 0 else "HEAD"
    # First parents only: the commits main itself was at, not those of merged branches.
    for rev in git("rev-list", "--first-parent", "--max-count=500", start).split():
        if not has_marker(rev):
            return rev
    raise BenchError(f"no commit among the last 500 of {start} lacks {MARKER!r} (a shallow clone?); "
                     "pass --old-rev")


def measured(cmd, cwd, env=None, timeout=7200):
    """Run `cmd`; return (exit code, stdout, stderr, wall seconds, peak RSS MiB of that process)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)
        deadline = started + timeout
        while True:
            # wait4 gives this child's own rusage; RUSAGE_CHILDREN would be the peak of
            # every child so far (the build's included).
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (proc.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                wall, usage.ru_maxrss / 1024)


def mib(path):
    """Size of a file in MiB (with its -wal, if one is left)."""
    size = os.path.getsize(path)
    wal = Path(f"{path}-wal")
    if wal.exists():
        size += wal.stat().st_size
    return round(size / 2**20, 1)


def build(rev, count):
    """The cached database of `count` responses built by revision `rev`; (path, figures)."""
    CACHE.mkdir(exist_ok=True)
    for stale in CACHE.glob("*.partial-*"):
        # A build that was killed leaves its partial file (GBs at 1,000,000): remove it
        # once its process is gone; a build running in parallel keeps its own.
        pid = stale.name.rsplit(".partial-", 1)[1].split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            stale.unlink(missing_ok=True)
    target = CACHE / f"{rev[:12]}-{count}.sqlite"
    if target.exists():
        print(f"build: reused {target} ({mib(target)} MiB), built earlier by {rev[:12]}")
        return target, {"reused": True, "file_mib": mib(target)}
    folder = Path(tempfile.mkdtemp(prefix="bench-upgrade-old-"))
    worktree = folder / "tree"
    partial = CACHE / f"{target.name}.partial-{os.getpid()}"
    git("worktree", "add", "--detach", str(worktree), rev)
    try:
        common = worktree / "benchmarks" / "common.py"
        if not common.exists() or "def generate_elder_responses" not in common.read_text(encoding="utf-8"):
            raise BenchError(f"{rev[:12]} has no benchmarks/common.py generate_elder_responses to build with; "
                             "choose a newer --old-rev")
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        code, out, err, wall, rss = measured([sys.executable, "-c", BUILD_SCRIPT, str(partial), str(count)],
                                             cwd=worktree, env=env)
        if code != 0:
            tail = "\n".join(err.strip().splitlines()[-15:])
            raise BenchError(f"build by {rev[:12]} failed (exit {code}):\n{tail}")
        for suffix in ("-wal", "-shm"):  # left empty (or absent) after the checkpoint
            leftover = Path(f"{partial}{suffix}")
            if leftover.exists() and leftover.stat().st_size and suffix == "-wal":
                raise BenchError(f"build left a non-empty WAL {leftover}")
            leftover.unlink(missing_ok=True)
        os.replace(partial, target)  # only a finished build is ever reused
    finally:
        for leftover in CACHE.glob(f"{target.name}.partial-{os.getpid()}*"):
            leftover.unlink()
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, capture_output=True)
    answers = int(out.strip().splitlines()[-1])
    print(f"build: {count:,} responses ({answers:,} answers) by {rev[:12]} in {wall:.1f} s, "
          f"peak RSS {rss:.0f} MiB, {mib(target)} MiB -> {target}")
    return target, {"reused": False, "seconds": round(wall, 1), "peak_rss_mib": round(rss), "answers": answers,
                    "file_mib": mib(target)}


def fingerprint(path):
    """Row counts of every table and, per questionnaire, what the measures count (read-only)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [row[0] for row in conn.execute(
            "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name")]
        counts = {name: conn.execute(f'select count(*) from "{name}"').fetchone()[0] for name in tables}
        migrations = sorted(row[0] for row in conn.execute("select number from schema_migrations")) \
            if "schema_migrations" in counts else []
        versions = sorted(f"{q} v{v} {sha}" for q, v, sha in conn.execute(
            "select questionnaire_id, version, sha256 from questionnaire_versions"))
        per_q = {}
        for qid, excluded, n in conn.execute(
                "select questionnaire_id, excluded = 0, count(*) from responses group by 1, 2"):
            entry = per_q.setdefault(qid, {"valid": 0, "excluded": 0, "answers": {}})
            entry["valid" if excluded else "excluded"] += n
        for qid, question, value, n in conn.execute(
                "select r.questionnaire_id, a.question_id, a.value, count(*) from answers a"
                " join responses r on r.id = a.response_id where r.excluded = 0 group by 1, 2, 3"):
            per_q[qid]["answers"][f"{question}={value}"] = n
    finally:
        conn.close()
    return {"tables": counts, "migrations": migrations, "questionnaires": per_q, "versions": versions}


def digest(print_):
    """A short hash of a fingerprint's measure counts (to show equal fingerprints compactly)."""
    text = json.dumps(print_["questionnaires"], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def describe(print_):
    """One line per questionnaire, and the table totals."""
    lines = [f"  {len(print_['tables'])} tables, {sum(print_['tables'].values()):,} rows; "
             f"migrations {print_['migrations']}; measure counts {digest(print_)}"]
    for qid, entry in sorted(print_["questionnaires"].items()):
        lines.append(f"  {qid}: {entry['valid']:,} valid, {entry['excluded']:,} excluded, "
                     f"{sum(entry['answers'].values()):,} answers in {len(entry['answers'])} question=value groups")
    return "\n".join(lines)


def differences(before, after):
    """What changed between two fingerprints, as readable lines ([] when the data is the same).

    Tables new after the upgrade (the migration's own) are not differences; the table of
    migrations is compared apart (it gains a row per migration applied), and so are the
    questionnaire versions: init-db adds the release's new versions, and every version
    stored before must still be there with the same content (sha256).
    """
    found = [f"questionnaire version gone or changed: {v}"
             for v in sorted(set(before.get("versions", [])) - set(after.get("versions", [])))]
    for name, n in before["tables"].items():
        if name in ("schema_migrations", "questionnaire_versions"):
            continue
        if name not in after["tables"]:
            found.append(f"table {name} ({n:,} rows) is gone")
        elif after["tables"][name] != n:
            found.append(f"table {name}: {n:,} rows before, {after['tables'][name]:,} after")
    for qid in sorted(set(before["questionnaires"]) | set(after["questionnaires"])):
        old = before["questionnaires"].get(qid, {"valid": 0, "excluded": 0, "answers": {}})
        new = after["questionnaires"].get(qid, {"valid": 0, "excluded": 0, "answers": {}})
        for key in ("valid", "excluded"):
            if old[key] != new[key]:
                found.append(f"{qid}: {key} responses {old[key]:,} before, {new[key]:,} after")
        for group in sorted(set(old["answers"]) | set(new["answers"])):
            if old["answers"].get(group, 0) != new["answers"].get(group, 0):
                found.append(f"{qid}: answers {group}: {old['answers'].get(group, 0):,} before, "
                             f"{new['answers'].get(group, 0):,} after")
    return found


def evaluations_check(path):
    """The evaluations rows and the NULL evaluation_id count of every table that has the column."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        tables = [row[0] for row in conn.execute(
            "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name")]
        if "evaluations" not in tables:
            return None
        rows = [dict(row) for row in conn.execute("select * from evaluations order by 1 limit 20")]
        nulls = {}
        for name in tables:
            columns = {row[1] for row in conn.execute(f'pragma table_info("{name}")')}
            if "evaluation_id" in columns:
                nulls[name] = conn.execute(f'select count(*) from "{name}" where evaluation_id is null').fetchone()[0]
    finally:
        conn.close()
    return {"rows": rows, "null_evaluation_id": nulls}


def init_db(database):
    """`flask --app app init-db` of this working tree on `database`; measured() figures."""
    env = {**os.environ, "FLASK_DATABASE": str(database), "FLASK_SECRET_KEY": "bench-upgrade",
           "PYTHONDONTWRITEBYTECODE": "1"}
    flask = [sys.executable, "-m", "flask", "--app", "app", "init-db"]
    return measured(flask, cwd=ROOT, env=env)


def upgrade(source, workdir):
    """Copy `source`, upgrade the copy; return (copy path, figures, backup paths written)."""
    copy = workdir / "upgraded.sqlite"
    started = time.perf_counter()
    shutil.copyfile(source, copy)
    copied = time.perf_counter() - started
    figures = {"copy_s": round(copied, 1), "db_mib_before": mib(copy)}
    print(f"copy: {figures['db_mib_before']} MiB in {copied:.1f} s")

    # The backup step on its own: the same call migrations.backup_before makes, same file.
    probe = workdir / "backup-probe.sqlite"
    code, out, err, wall, rss = measured([sys.executable, "-c", BACKUP_SCRIPT, str(copy), str(probe)], cwd=ROOT)
    if code != 0:
        raise BenchError(f"timing the backup failed: {err.strip().splitlines()[-1] if err.strip() else code}")
    figures["backup_alone_s"] = float(out.strip().splitlines()[-1])
    figures["backup_alone_mib"] = mib(probe)
    probe.unlink()
    print(f"backup alone (survey.storage.backup.backup of the same file): {figures['backup_alone_s']} s, "
          f"{figures['backup_alone_mib']} MiB")

    backups = ROOT / "instance" / "backups"
    existing = set(backups.iterdir()) if backups.is_dir() else set()
    code, out, err, wall, rss = init_db(copy)
    written = sorted(set(backups.iterdir()) - existing) if backups.is_dir() else []
    if code != 0:
        for path in written:
            path.unlink()  # this run's own backup of a throw-away copy
        raise BenchError(f"init-db failed (exit {code}):\n" + "\n".join((err or out).strip().splitlines()[-15:]))
    figures.update({"init_db_s": round(wall, 1), "peak_rss_mib": round(rss), "db_mib_after": mib(copy),
                    "backup_mib": round(sum(p.stat().st_size for p in written) / 2**20, 1) if written else None,
                    "init_db_output": out.strip().splitlines()[-3:]})
    print(f"init-db: {wall:.1f} s wall, peak RSS {rss:.0f} MiB; database {figures['db_mib_before']} -> "
          f"{figures['db_mib_after']} MiB; "
          + (f"backup {', '.join(p.name for p in written)} ({figures['backup_mib']} MiB)" if written
             else "no backup written"))

    # Start-up (imports, catalogs, questionnaires) is in that wall time too: the same
    # command again, with nothing pending, shows how much.
    code, out, err, again, _ = init_db(copy)
    if code != 0:
        raise BenchError(f"second init-db failed (exit {code}): {err.strip().splitlines()[-1:]}")
    figures["init_db_again_s"] = round(again, 1)
    print(f"init-db again (nothing pending): {again:.1f} s")
    return copy, figures, written


def main(argv=None):
    """Build (or reuse), fingerprint, upgrade, fingerprint again; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--old-rev", help="the revision that builds the database (default: newest on main "
                                          "without migration 8)")
    parser.add_argument("--keep", type=Path, help="keep the upgraded database and its backup in this folder")
    args = parser.parse_args(argv)

    try:
        rev = git("rev-parse", "--verify", f"{args.old_rev}^{{commit}}") if args.old_rev else default_old_rev()
        current = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        print(f"old rev {rev[:12]} ({git('log', '-1', '--format=%s', rev)[:70]}); "
              f"upgraded by this tree at {current[:12]}{' + uncommitted changes' if dirty else ''}; "
              f"migration 8 in this tree: {'yes' if MARKER in MIGRATIONS_FILE.read_text() else 'no'}")
        source, built = build(rev, args.responses)

        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            workdir, cleanup = args.keep, None
        else:
            cleanup = tempfile.TemporaryDirectory(prefix="bench-upgrade-")
            workdir = Path(cleanup.name)
        try:
            started = time.perf_counter()
            before = fingerprint(source)
            print(f"before ({time.perf_counter() - started:.1f} s to read):\n{describe(before)}")
            copy, figures, backups = upgrade(source, workdir)
            after = fingerprint(copy)
            print(f"after:\n{describe(after)}")
            applied = sorted(set(after["migrations"]) - set(before["migrations"]))
            if applied:
                print(f"applied migrations {applied}")
            else:
                print("no pending migration: the upgrade was a no-op")
            new_tables = sorted(set(after["tables"]) - set(before["tables"]))
            if new_tables:
                print("new tables: " + ", ".join(f"{t} ({after['tables'][t]:,} rows)" for t in new_tables))
            changed = differences(before, after)
            print("fingerprint: OK, the same data before and after" if not changed
                  else "fingerprint: DIFFERENT\n  " + "\n  ".join(changed[:50]))
            evaluations = evaluations_check(copy)
            unfilled = None
            if evaluations is not None:
                print(f"evaluations: {len(evaluations['rows'])} rows")
                for row in evaluations["rows"]:
                    print(f"  {row}")
                print("evaluation_id NULLs: " + ", ".join(f"{t} {n:,}" for t, n in
                                                            evaluations["null_evaluation_id"].items()))
                unfilled = evaluations["null_evaluation_id"].get("responses")
            for path in backups:
                if args.keep:
                    shutil.move(path, workdir / path.name)
                else:
                    path.unlink()  # this run's own backup only, never an older one
        finally:
            if cleanup:
                cleanup.cleanup()
    except BenchError as exc:
        print(f"bench_upgrade: {exc}", file=sys.stderr)
        return 2

    migration_s = round(figures["init_db_s"] - figures["init_db_again_s"] - figures["backup_alone_s"], 1) \
        if applied else None
    result = {
        "machine": machine(), "old_rev": rev[:12], "upgraded_by": current[:12], "responses": args.responses,
        "build": built, "applied": applied, **{k: v for k, v in figures.items() if k != "init_db_output"},
        "migration_s_estimate": migration_s, "fingerprint_ok": not changed, "differences": changed[:50],
        "evaluations": evaluations, "responses_without_evaluation": unfilled,
    }
    m = result["machine"]
    rows = [
        ("machine", f"{m['nproc']} cores {m['cpu']}, {m['ram_gib']} GiB, Python {m['python']}, {m['date']}"),
        ("database", f"{args.responses:,} responses built by {rev[:12]}"
                     + (" (reused)" if built["reused"] else f" in {built['seconds']} s")),
        ("migrations applied", ", ".join(map(str, applied)) or "none (no pending migration)"),
        ("init-db wall", f"{figures['init_db_s']} s (start-up alone: {figures['init_db_again_s']} s)"),
        ("backup step", f"{figures['backup_alone_s']} s timed alone; "
                        + (f"written {figures['backup_mib']} MiB" if figures["backup_mib"] else "none written")),
        ("migrations alone", f"~{migration_s} s (wall - start-up - backup)" if applied else "-"),
        ("peak RSS", f"{figures['peak_rss_mib']} MiB"),
        ("database size", f"{figures['db_mib_before']} -> {figures['db_mib_after']} MiB"),
        ("fingerprint", "OK" if not changed else f"{len(changed)} differences"),
        ("responses.evaluation_id NULL", "-" if unfilled is None else f"{unfilled:,}"),
    ]
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    print(json.dumps(result, ensure_ascii=False, default=str))
    if changed or unfilled:
        # stderr's last line is what run_all.py reports for a failed benchmark.
        print(f"bench_upgrade: {len(changed)} fingerprint differences, {unfilled or 0} responses without an "
              "evaluation_id", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
