"""Evaluators' pages at growing numbers of responses, checked from the outside: gunicorn
(gunicorn.conf.py) on a generated database, an evaluator logged in over HTTP, each page
fetched --repeat times after one warm-up; median time and bytes of the HTML.

Sizes run side by side in one run (default 2,000, 200,000 and 1,000,000 responses). The
headline: each page's cost ratio between 200,000 and 2,000 responses (target <= 3), its
size at 200,000 (target < 1 MB), and the dashboard (the measures page) at 1,000,000
(target < 0.5 s).

Usage: python benchmarks/bench_evaluator_pages.py [--sizes 2000 200000 1000000] [--repeat 5]
"""

import argparse
import http.cookiejar
import json
import re
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, generate_elder_responses, machine, make_app  # noqa: E402

Q = "elder-satisfaction"
PAGES = {
    "index": "/e/default/evaluate/",
    "dashboard": f"/e/default/evaluate/{Q}",
    "dashboard_filtered": f"/e/default/evaluate/{Q}?site=S03&period_from=2024-03&period_to=2024-08",
    "problems": f"/e/default/evaluate/{Q}/problems",
    "problems_page_3": f"/e/default/evaluate/{Q}/problems?page=3",
    "quality": f"/e/default/evaluate/{Q}/quality",
    "quality_by_rule": f"/e/default/evaluate/{Q}/quality?rule=speeder&status=excluded",
    "report": f"/e/default/evaluate/{Q}/report",
}
# Timed too but outside the headline: a filter combining the site with another field reads
# the fine tally (every field crossed), which grows with the data until every combination
# exists (see survey/storage/tallies.py); shown so the cost is known, not hidden.
EXTRA = {"dashboard_site_and_channel": f"/e/default/evaluate/{Q}?site=S03&channel=door"}
PASSWORD = "bench-evaluator-password"


def build(folder, count):
    """A database of `count` generated responses (2% excluded and flagged) and an evaluator."""
    from survey.storage.db import get_db
    from survey.web.auth import create_user

    database = Path(folder) / f"pages-{count}.sqlite"
    app = make_app(database)
    with app.app_context():
        db = get_db()
        generate_elder_responses(db, count)
        # The generator marks 2% excluded; give them the flag a quality rule would have set.
        db.execute("update responses set flags = '[\"speeder\"]' where excluded = 1")
        db.conn.commit()
        create_user(db, "bencheval", PASSWORD, "evaluator", "评价组")
        # The bulk load leaves everything in the WAL; a live database checkpoints as it
        # goes, so the server should not read pages through a WAL of hundreds of MB.
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return database


def login(port):
    """An opener with a logged-in evaluator's session cookie."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"http://127.0.0.1:{port}/login", timeout=60).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"csrf_token": token, "username": "bencheval", "password": PASSWORD}).encode()
    opener.open(f"http://127.0.0.1:{port}/login", data=body, timeout=60).read()
    return opener


def measure(port, repeat):
    """{page: {"median_s", "min_s", "bytes"}} for every page, over HTTP."""
    opener = login(port)
    results = {}
    for name, path in {**PAGES, **EXTRA}.items():
        url = f"http://127.0.0.1:{port}{path}"
        with opener.open(url, timeout=120) as response:  # warm-up (and a check it is the page)
            if response.status != 200 or "/login" in response.url:
                raise SystemExit(f"{path}: status {response.status} at {response.url}")
            response.read()
        times, size = [], 0
        for _ in range(repeat):
            started = time.perf_counter()
            with opener.open(url, timeout=120) as response:
                size = len(response.read())
            times.append(time.perf_counter() - started)
        results[name] = {"median_s": round(statistics.median(times), 4), "min_s": round(min(times), 4),
                         "bytes": size}
    return results


def run(sizes, repeat):
    """Generate each size, serve it with gunicorn, time every page; return the figures."""
    sys.path.insert(0, str(ROOT))
    from tests.hostile.conftest import Server

    figures = {"machine": machine(), "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="bench-eval-pages-") as folder:
        for count in sizes:
            started = time.perf_counter()
            database = build(folder, count)
            generated = round(time.perf_counter() - started, 1)
            server = Server(database, log=Path(folder) / "gunicorn.log")
            server.start(timeout=60)
            try:
                figures["sizes"][count] = {"generate_s": generated, "pages": measure(server.port, repeat)}
            finally:
                server.stop()
            for leftover in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
                leftover.unlink(missing_ok=True)
    small, big = min(sizes), sorted(sizes)[1] if len(sizes) > 1 else None
    if big:
        headline = {}
        for name in PAGES:
            a = figures["sizes"][small]["pages"][name]
            b = figures["sizes"][big]["pages"][name]
            headline[name] = {"ratio": round(b["median_s"] / a["median_s"], 2), f"s_at_{small}": a["median_s"],
                              f"s_at_{big}": b["median_s"], f"bytes_at_{big}": b["bytes"]}
        figures["outside_headline"] = {
            name: {"ratio": round(figures["sizes"][big]["pages"][name]["median_s"]
                                  / figures["sizes"][small]["pages"][name]["median_s"], 2),
                   f"s_at_{big}": figures["sizes"][big]["pages"][name]["median_s"]} for name in EXTRA}
        figures["headline"] = {
            f"page_cost_ratio_{big}_vs_{small}": headline,
            "worst_ratio": max(h["ratio"] for h in headline.values()),
            f"largest_page_bytes_at_{big}": max(h[f"bytes_at_{big}"] for h in headline.values()),
        }
        largest = max(sizes)
        figures["headline"][f"dashboard_s_at_{largest}"] = figures["sizes"][largest]["pages"]["dashboard"]["median_s"]
    figures["target"] = ("every page at 200,000 within 3x its cost at 2,000 and under 1 MB;"
                         " dashboard < 0.5 s at 1,000,000")
    return figures


def main(argv=None):
    """Print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 200_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print(json.dumps(run(sorted(args.sizes), args.repeat), ensure_ascii=False))


if __name__ == "__main__":
    main()
