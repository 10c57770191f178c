"""Hostile uploads: CPU, wall time and peak memory to refuse each crafted file.

Every crafted workbook of tests/hostile/workbooks.py (50 million declared rows, a row
number 50 million without a <dimension>, a 400 MiB deflate bomb, a huge shared-strings
table, an external link) goes through the roster import as /manage/rosters runs it,
and the YAML bombs (aliases, self-reference, deep nesting) through the indicator-system
loader the `score` command and /scores/ use. Meanwhile a thread times GET /health on
the same app. Target: each refused within 5 s of CPU (the gunicorn timeout is 30 s),
peak RSS under 300 MB, /health answering throughout.

Prints one JSON line. Usage: python benchmarks/bench_uploads.py
"""

import json
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, make_app, peak_rss_mib  # noqa: E402

sys.path.insert(0, str(ROOT / "tests" / "hostile"))
from workbooks import HOSTILE  # noqa: E402

YAML_BOMBS = {
    "alias-bomb": "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)),
    "self-alias": "indicators: &x\n  - name: a\n    weight: 100\n    children: *x\n",
    "deep-nesting": "indicators: " + "[" * 5000 + "]" * 5000 + "\n",
}


def main():
    """Refuse every crafted file once, timing each, with /health polled meanwhile."""
    from scoring import IndicatorSystemError, load_system_yaml
    from survey import roster
    from survey.storage.db import get_db
    from survey.web import links

    results = {"workbooks": {}, "yaml": {}}
    with tempfile.TemporaryDirectory(prefix="bench-uploads-") as folder:
        app = make_app(Path(folder) / "uploads.sqlite")
        health, stop = [], threading.Event()

        def poll():
            """GET /health every 10 ms on its own client, timing each."""
            client = app.test_client()
            while not stop.is_set():
                started = time.perf_counter()
                ok = client.get("/health").status_code == 200
                health.append((ok, time.perf_counter() - started))
                time.sleep(0.01)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        with app.app_context():
            db = get_db()
            links.create_site(db, "S01", "新华社区")
            for name, build in HOSTILE.items():
                data = build()
                cpu, wall = time.process_time(), time.perf_counter()
                try:
                    roster.import_roster(db, f"{name}.xlsx", data)
                    outcome = "IMPORTED"
                except roster.RosterError as exc:
                    outcome = str(exc)[:120]
                results["workbooks"][name] = {
                    "bytes": len(data), "cpu_s": round(time.process_time() - cpu, 3),
                    "wall_s": round(time.perf_counter() - wall, 3), "refused": outcome != "IMPORTED",
                    "message": outcome}
        for name, text in YAML_BOMBS.items():
            cpu = time.process_time()
            try:
                load_system_yaml(text)
                outcome = "LOADED"
            except IndicatorSystemError as exc:
                outcome = str(exc)[:120]
            results["yaml"][name] = {"bytes": len(text), "cpu_s": round(time.process_time() - cpu, 3),
                                     "refused": outcome != "LOADED", "message": outcome}
        stop.set()
        poller.join(timeout=5)
    times = sorted(t for _ok, t in health)
    results["health"] = {"requests": len(health), "all_ok": all(ok for ok, _t in health),
                         "max_ms": round(times[-1] * 1000, 1) if times else None}
    results["peak_rss_mib"] = round(peak_rss_mib(), 1)
    print(json.dumps(results, ensure_ascii=False))
    cases = [*results["workbooks"].values(), *results["yaml"].values()]
    failed = [c for c in cases if not c["refused"] or c["cpu_s"] > 5]
    if failed or not results["health"]["all_ok"] or results["peak_rss_mib"] > 300:
        print(f"bench_uploads: target missed: {failed or results['health']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
