"""Crash safety at length: the CI test's SIGKILL loop with more kills.

Runs tests/hostile/test_crash_safety.py with CRASH_KILLS (default 100) and prints its
figures as one JSON line: kills, acknowledged submissions, stored, client errors, and
that none was lost or doubled and integrity_check was ok (the test fails otherwise).
Usage: python benchmarks/bench_crash.py [--kills 100]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main():
    """Run the crash test with more kills and report what it printed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=100)
    args = parser.parse_args()
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
         "tests/hostile/test_crash_safety.py::test_acknowledged_submissions_survive_sigkill"],
        cwd=ROOT, env={**os.environ, "CRASH_KILLS": str(args.kills)},
        capture_output=True, text=True, timeout=60 + 10 * args.kills)
    line = re.search(r"CRASH (.*)", run.stdout)
    figures = dict(pair.split("=") for pair in line.group(1).split()) if line else {}
    print(json.dumps({"kills_asked": args.kills, "passed": run.returncode == 0,
                      "seconds": round(time.monotonic() - started, 1), **figures}))
    if run.returncode != 0:
        print(run.stdout[-3000:], file=sys.stderr)
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
