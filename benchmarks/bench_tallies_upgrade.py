"""Migration 9 (tallies per evaluation) on a large database: the time to drop the old
tallies and rebuild them with evaluation_id from N stored responses, and a check that
the rebuilt tallies give the same measures as before.

Usage: python benchmarks/bench_tallies_upgrade.py [--responses 1000000]
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import generate_elder_responses, make_app, peak_rss_mib  # noqa: E402


def run(count):
    """Generate `count` responses, then time the body of migration 9; return the figures."""
    from survey.storage import measures_store, migrations
    from survey.storage.db import get_db

    with tempfile.TemporaryDirectory(prefix="bench-tallies-") as folder:
        app = make_app(Path(folder) / "tallies.sqlite")
        with app.app_context():
            db = get_db()
            answers = generate_elder_responses(db, count)
            before = {name: rate.to_dict()
                      for name, rate in measures_store.compute_all(db, 1, "elder-satisfaction").items()}
            body = next(fn for number, _name, fn in migrations.MIGRATIONS if number == 9)
            started = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            body(db)
            db.execute("COMMIT")
            elapsed = time.perf_counter() - started
            after = {name: rate.to_dict()
                     for name, rate in measures_store.compute_all(db, 1, "elder-satisfaction").items()}
    return {"responses": count, "answers": answers, "migration_9_s": round(elapsed, 1),
            "measures_unchanged": before == after, "peak_rss_mib": round(peak_rss_mib())}


def main():
    """Print the figures as JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--responses", type=int, default=1_000_000)
    args = parser.parse_args()
    print(json.dumps(run(args.responses), ensure_ascii=False))


if __name__ == "__main__":
    main()
