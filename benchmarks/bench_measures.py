"""Measures over 1,000,000 stored responses: compute_all (every measure, no breakdown),
the headline satisfaction rate by every breakdown, every measure by every breakdown
(compute_all with `by`, the target: under 1 s), compute_all filtered by a site and a
period, and by two fields at once (the fine tally), timed; peak RSS reported.

--submissions N times instead N calls of survey.storage.responses.record on one warm connection
(synchronous=FULL, as the server runs), and prints the mean in ms.

Usage: python benchmarks/bench_measures.py [--responses N] [--submissions N]
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
    from survey.storage import measures_store as measures
    from survey.storage.db import get_db

    with tempfile.TemporaryDirectory(prefix="bench-measures-") as folder:
        app = make_app(Path(folder) / "measures.sqlite")
        with app.app_context():
            db = get_db()
            started = time.perf_counter()
            answers = generate_elder_responses(db, count)
            generated = time.perf_counter() - started
            rss_before = peak_rss_mib()

            started = time.perf_counter()
            overall = measures.compute_all(db, 1, QUESTIONNAIRE)
            all_time = time.perf_counter() - started

            names = list(overall)
            started = time.perf_counter()
            chosen = names if breakdown_all else ["satisfaction_rate"]
            grouped = {by: {name: measures.compute(db, 1, QUESTIONNAIRE, name, by=by) for name in chosen}
                       for by in measures.BREAKDOWNS}
            breakdown_time = time.perf_counter() - started

            started = time.perf_counter()
            everything = {by: measures.compute_all(db, 1, QUESTIONNAIRE, by=by) for by in measures.BREAKDOWNS}
            everything_time = time.perf_counter() - started

            started = time.perf_counter()
            combined = measures.compute_all(db, 1, QUESTIONNAIRE, {"channel": "door", "age_band": "80-89"}, by="site")
            combined_time = time.perf_counter() - started

            started = time.perf_counter()
            filtered = measures.compute_all(db, 1, QUESTIONNAIRE, {"site": "S03", "period_from": "2024-04",
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
        "all_measures_by_every_breakdown_s": round(everything_time, 3),
        "all_measure_groups": sum(len(groups) for result in everything.values() for groups in result.values()),
        "total_with_all_breakdowns_s": round(all_time + everything_time, 3),
        "combined_filter_by_site_s": round(combined_time, 3), "combined_sites": len(combined["responses"]),
        "peak_rss_mib_generation": round(rss_before, 1), "peak_rss_mib": round(peak_rss_mib(), 1),
        "target": "under 1 s",
    }


def submission_cost(count, warmup=100):
    """Mean ms of survey.storage.responses.record on a warm connection (synchronous=FULL)."""
    import random
    import statistics

    from survey import questionnaires
    from survey.storage import responses
    from survey.storage.db import connect

    rng = random.Random(1)
    with tempfile.TemporaryDirectory(prefix="bench-submit-") as folder:
        make_app(Path(folder) / "submit.sqlite")
        db = connect(Path(folder) / "submit.sqlite")
        db.execute("insert into sites (code, name, kind) values ('S1', 'S1', 'x'), ('S2', 'S2', 'x')")
        questionnaire = questionnaires.get(db, QUESTIONNAIRE)
        times = []
        for index in range(warmup + count):
            services = rng.sample(["meals", "emergency_call", "hotline", "cleaning"], rng.randint(1, 3))
            answers = {"respondent": rng.choice(["self", "proxy", "assisted"]), "services": services,
                       "overall": rng.choice("12345"), "item_attitude": rng.choice("12345"),
                       "item_timeliness": rng.choice("12345"), "age_band": rng.choice(["60-69", "70-79", "90+"]),
                       "living_alone": rng.choice("01")}
            if "emergency_call" in services:
                answers["item_fault_response"] = rng.choice("12345")
            if "hotline" in services:
                answers["hotline_unanswered"] = rng.choice("01")
            meta = {"channel": rng.choice(["qr", "door", "phone"]), "site_id": rng.choice([None, 1, 2]),
                    "submitted_at": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T10:00:00"}
            started = time.perf_counter()
            responses.record(db, questionnaire, f"submit-{index:06d}", answers, meta)
            times.append(time.perf_counter() - started)
        db.conn.close()
    times = times[warmup:]
    return {"submissions": count, "mean_ms": round(statistics.mean(times) * 1000, 3),
            "median_ms": round(statistics.median(times) * 1000, 3)}


def main(argv=None):
    """Print the figures as JSON (run_all.py collects them)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--breakdown-all", action="store_true", help="every measure by every breakdown")
    parser.add_argument("--submissions", type=int, help="time N responses.record calls instead")
    args = parser.parse_args(argv)
    if args.submissions:
        print(json.dumps(submission_cost(args.submissions)))
        return
    print(json.dumps(run(args.responses, args.breakdown_all), ensure_ascii=False))


if __name__ == "__main__":
    main()
