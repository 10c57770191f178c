"""Sustained submissions through gunicorn vs the same server's /health (the ceiling).

Starts gunicorn with gunicorn.conf.py (gthread) on a temporary database, then for 16
and 64 concurrent clients (threads, keep-alive connections, all to 127.0.0.1) runs
  1. GET /health for --seconds: the ceiling of this server on this machine;
  2. POST /api/submissions (JSON {"id","questionnaire","answers","meta"}, staff submit
     token) for --seconds: each a new response, stored with synchronous=FULL;
and reports requests/s, p50/p95/p99 latency and submits/s as a share of health/s.
Rate limiting stays ON, with the limit raised so the benchmark is not refused; submissions
with a valid staff token are not counted against the address (survey/web/security.py), so
they pay no counter. /health is the readiness check (a probe of the write lock at most once
a second per worker, survey/storage/db.py), the cheapest request of this server. The load
generator runs on the same 2 cores as the server, so both figures are depressed alike; the
ratio is the comparable number.
Targets (issue 15): at 64 clients, submits/s >= 40% of health's rate and p99 < 150 ms.
`--compare` runs the server twice, with group commit (survey/storage/group_commit.py, the default)
and without (FLASK_GROUP_COMMIT=false: each request commits on its own), side by side.

Usage: python benchmarks/bench_submissions.py [--seconds 10] [--clients 16 64]
"""

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, make_app  # noqa: E402

ANSWERS = {"knows_hotline": "1", "knows_services": "1", "heard_from": ["community"], "satisfaction": "5",
           "suggestion": "热线很方便"}


def _percentile(sorted_values, fraction):
    """The value at `fraction` of a sorted list (nearest rank)."""
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, int(round(fraction * len(sorted_values))) - 1))
    return sorted_values[index]


def _load(port, clients, seconds, make_request):
    """Run `clients` threads for `seconds`; each sends make_request() over a keep-alive connection."""
    latencies, errors, statuses = [], [0], {}
    lock = threading.Lock()
    start_gate = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, my_statuses, my_errors = [], {}, 0
        start_gate.wait(timeout=30)
        while time.perf_counter() < stop_at[0]:
            method, path, body, headers = make_request()
            began = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                mine.append(time.perf_counter() - began)
                my_statuses[response.status] = my_statuses.get(response.status, 0) + 1
                if response.will_close:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            except (OSError, http.client.HTTPException):
                my_errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += my_errors
            for status, count in my_statuses.items():
                statuses[status] = statuses.get(status, 0) + count

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start_gate.wait(timeout=30)
    for thread in threads:
        thread.join(timeout=seconds + 60)
    elapsed = time.perf_counter() - began
    latencies.sort()
    ok = sum(count for status, count in statuses.items() if status < 300)
    return {
        "clients": clients, "seconds": round(elapsed, 1), "requests": len(latencies), "ok": ok,
        "per_s": round(ok / elapsed, 1), "statuses": statuses, "errors": errors[0],
        "p50_ms": round(_percentile(latencies, 0.50) * 1000, 1) if latencies else None,
        "p95_ms": round(_percentile(latencies, 0.95) * 1000, 1) if latencies else None,
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 1) if latencies else None,
        "mean_ms": round(statistics.fmean(latencies) * 1000, 1) if latencies else None,
    }


def run(seconds, client_counts, workers=None, threads=None, group_commit=True):
    """Start gunicorn, measure health and submissions at each client count; return figures."""
    sys.path.insert(0, str(ROOT))
    from tests.hostile.conftest import Server, prepare_database

    results = {"mode": None, "runs": []}
    with tempfile.TemporaryDirectory(prefix="bench-submit-") as folder:
        database = Path(folder) / "submit.sqlite"
        app, token = prepare_database(database, staff=True)
        routes = {rule.rule for rule in app.url_map.iter_rules()}
        if "/api/submissions" not in routes or token is None:
            raise SystemExit("bench_submissions: this build has no POST /api/submissions")
        results["mode"] = "POST /api/submissions (staff submit token), JSON, new id each"
        env = {"FLASK_RATELIMIT_ENABLED": "true", "FLASK_RATELIMIT_SUBMIT": "1000000/minute",
               "FLASK_GROUP_COMMIT": "true" if group_commit else "false"}
        results["group_commit"] = group_commit
        extra = {}
        if workers:
            extra["workers"] = workers
        if threads:
            extra["threads"] = threads
        server = Server(database, env=env, log=Path(folder) / "gunicorn.log", **extra)
        results["gunicorn"] = {"workers": server.workers, "threads": server.threads}
        server.start(timeout=60)
        try:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

            def submission():
                body = json.dumps({"id": str(uuid.uuid4()), "questionnaire": "public-awareness",
                                   "answers": ANSWERS, "meta": {"channel": "qr"}}, ensure_ascii=False).encode()
                return "POST", "/api/submissions", body, headers

            def health():
                return "GET", "/health", None, {}

            _load(server.port, 4, 1.0, health)  # warm every worker up
            _load(server.port, 4, 1.0, submission)
            for clients in client_counts:
                ceiling = _load(server.port, clients, seconds, health)
                submits = _load(server.port, clients, seconds, submission)
                results["runs"].append({
                    "clients": clients, "health": ceiling, "submit": submits,
                    "ratio": round(submits["per_s"] / ceiling["per_s"], 3) if ceiling["per_s"] else None,
                })
        finally:
            server.stop()
        stored = make_app(database)
        with stored.app_context():
            from survey.storage.db import get_db

            db = get_db()
            results["stored_responses"] = db.execute("select count(*) from responses").fetchone()[0]
            results["integrity"] = db.execute("PRAGMA integrity_check").fetchone()[0]
    results["target"] = "at 64 clients: submits/s >= 40% of health/s, p99 < 150 ms"
    results["headline"] = {f"{r['clients']}_clients": {"submit_per_s": r["submit"]["per_s"],
                                                      "health_per_s": r["health"]["per_s"],
                                                      "submit_health_ratio": r["ratio"],
                                                      "submit_p99_ms": r["submit"]["p99_ms"]}
                           for r in results["runs"]}
    return results


def main(argv=None):
    """Print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--workers", type=int)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--compare", action="store_true", help="also run without group commit")
    args = parser.parse_args(argv)
    figures = run(args.seconds, args.clients, args.workers, args.threads)
    if args.compare:
        figures = {"group_commit": figures,
                   "without_group_commit": run(args.seconds, args.clients, args.workers, args.threads, False)}
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
