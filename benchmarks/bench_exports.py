"""Exports of 100,000 responses to CSV and to XLSX, each in its own subprocess so its
peak RSS is its own: time and peak memory (resource.getrusage of the child).

XLSX is written two ways for comparison: xlsxwriter's constant_memory mode (what the app
uses, survey/exports.py) and openpyxl's write-only mode (what it used before).
Targets: XLSX <= 15 s, CSV <= 3 s for 100,000 responses, memory not growing with them.

Usage: python benchmarks/bench_exports.py [--responses 100000]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import generate_elder_responses, make_app, peak_rss_mib  # noqa: E402

CHILD = """
import json, sys, time, resource
sys.path.insert(0, {root!r})
from app import create_app
from survey.storage.db import get_db
from survey import exports
app = create_app({{"TESTING": True, "SECRET_KEY": "bench", "DATABASE": {database!r}}})
with app.app_context():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    rows = exports.response_rows(get_db(), 1, "elder-satisfaction")
    if {fmt!r} == "csv":
        with open({output!r}, "w", encoding="utf-8", newline="") as stream:
            for chunk in exports.csv_chunks(rows, made_safe=True):
                stream.write(chunk)
    elif {fmt!r} == "xlsx":
        with open({output!r}, "wb") as stream:
            for chunk in exports.xlsx_chunks(rows, made_safe=True):
                stream.write(chunk)
    else:
        from openpyxl import Workbook
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("responses")
        for row in rows:
            sheet.append(row)
        workbook.save({output!r})
    elapsed = time.perf_counter() - started
print(json.dumps({{"seconds": round(elapsed, 2), "rss_before_export_mib": round(before, 1),
                  "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}}))
"""


def export_in_child(database, fmt, output):
    """Run one export in a fresh interpreter; return its figures plus the file size."""
    root = str(Path(__file__).resolve().parents[1])
    code = CHILD.format(root=root, database=str(database), fmt=fmt, output=str(output))
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["wall_s_with_startup"] = round(time.perf_counter() - started, 2)
    figures["file_mib"] = round(os.path.getsize(output) / 2**20, 1)
    figures["child_maxrss_mib"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    return figures


def run(count, formats=("csv", "xlsx", "xlsx-openpyxl")):
    """Generate `count` responses, export them both ways; return the figures."""
    from survey.storage.db import get_db

    with tempfile.TemporaryDirectory(prefix="bench-export-") as folder:
        database = Path(folder) / "export.sqlite"
        app = make_app(database)
        with app.app_context():
            answers = generate_elder_responses(get_db(), count)
        results = {"responses": count, "answers": answers, "generator_peak_rss_mib": round(peak_rss_mib(), 1)}
        for fmt in formats:
            results[fmt] = export_in_child(database, fmt, Path(folder) / f"export-{fmt}.xlsx")
    results["headline"] = {fmt: results[fmt]["seconds"] for fmt in formats}
    results["target"] = "100,000 responses: xlsx <= 15 s, csv <= 3 s"
    results["note"] = ("peak_rss_mib includes the interpreter and the app (about rss_before_export_mib); "
                       "the export's own cost is the difference")
    return results


def main(argv=None):
    """Print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--formats", nargs="+", default=["csv", "xlsx", "xlsx-openpyxl"])
    args = parser.parse_args(argv)
    print(json.dumps(run(args.responses, tuple(args.formats)), ensure_ascii=False))


if __name__ == "__main__":
    main()
