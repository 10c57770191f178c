"""Measures over 1,000,000 stored responses: compute_all (every measure, no breakdown),
then the headline satisfaction rate by every breakdown, timed; peak RSS reported.
Target: under 1 s. (Every measure by every breakdown is 11 x 6 queries; at the speeds
measured it would take minutes, so it is timed on --breakdown-all only.)

Usage: python benchmarks/bench_measures.py [--responses N]
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import generate_elder_responses, make_app, peak_rss_mib  # noqa: E402

QUESTIONNAIRE = "elder-satisfaction"


def run(count, breakdown_all=False):
    """Generate, then time compute_all and the breakdowns; return the figures."""
    from scoring import measures
    from survey.db import get_db

    with tempfile.TemporaryDirectory(prefix="bench-measures-") as folder:
        app = make_app(Path(folder) / "measures.sqlite")
        with app.app_context():
            db = get_db()
            started = time.perf_counter()
            answers = generate_elder_responses(db, count)
            generated = time.perf_counter() - started
            rss_before = peak_rss_mib()

            started = time.perf_counter()
            overall = measures.compute_all(db, QUESTIONNAIRE)
            all_time = time.perf_counter() - started

            names = list(overall)
            started = time.perf_counter()
            chosen = names if breakdown_all else ["satisfaction_rate"]
            grouped = {by: {name: measures.compute(db, QUESTIONNAIRE, name, by=by) for name in chosen}
                       for by in measures.BREAKDOWNS}
            breakdown_time = time.perf_counter() - started

            started = time.perf_counter()
            filtered = measures.compute_all(db, QUESTIONNAIRE, {"site": "S03", "period_from": "2024-04",
                                                                "period_to": "2024-06"})
            filtered_time = time.perf_counter() - started
    satisfaction = overall["satisfaction_rate"]
    return {
        "responses": count, "answers": answers, "generate_s": round(generated, 1),
        "measures": len(names), "breakdowns": len(grouped), "measures_broken_down": len(chosen),
        "compute_all_s": round(all_time, 3), "breakdowns_s": round(breakdown_time, 3),
        "total_s": round(all_time + breakdown_time, 3), "filtered_compute_all_s": round(filtered_time, 3),
        "satisfaction_rate": round(satisfaction.value, 4), "satisfaction_n": satisfaction.n,
        "filtered_n": filtered["responses"].n,
        "peak_rss_mib_generation": round(rss_before, 1), "peak_rss_mib": round(peak_rss_mib(), 1),
        "target": "under 1 s",
    }


def main(argv=None):
    """Print the figures as JSON (run_all.py collects them)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--breakdown-all", action="store_true", help="every measure by every breakdown")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.responses, args.breakdown_all), ensure_ascii=False))


if __name__ == "__main__":
    main()
