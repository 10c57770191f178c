"""Run every benchmark and print its figures: `make bench` (or python benchmarks/run_all.py).

Each benchmark runs in its own subprocess (so its peak RSS is its own) and prints one
JSON line; this script prints a readable summary and, with --json FILE, writes them all.
It exits 1 when any benchmark fails (a crash, an import error, a missed hard target
such as bench_uploads' 5 s of CPU), so CI notices.

--quick is the smoke run `make test` (and so CI) makes, under about a minute: every
benchmark runs, on small sizes (1 s load phases at 4 clients, 5k responses for
measures and for the upgrade, 2k for exports, 3 kills), to prove each still works, not
to measure.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import machine  # noqa: E402


def bench(script, *args, timeout=1800):
    """Run one benchmark script; return its JSON figures (or the error)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(HERE / script), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}",
                "wall_s": round(time.perf_counter() - started, 1)}
    try:
        figures = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"error": f"{script} printed no JSON line", "wall_s": round(time.perf_counter() - started, 1)}
    figures["wall_s"] = round(time.perf_counter() - started, 1)
    return figures


def summary(results):
    """Readable lines of the headline figures."""
    lines = [f"machine: {results['machine']}"]
    sub = results["submissions"]
    if "runs" in sub:
        lines.append(f"submissions ({sub['mode']}; gunicorn {sub['gunicorn']}):")
        for run in sub["runs"]:
            h, s = run["health"], run["submit"]
            lines.append(f"  {run['clients']:>3} clients: health {h['per_s']}/s p99 {h['p99_ms']} ms | "
                         f"submit {s['per_s']}/s p50 {s['p50_ms']} p95 {s['p95_ms']} p99 {s['p99_ms']} ms | "
                         f"ratio {run['ratio']}")
        lines.append(f"  stored {sub['stored_responses']}, integrity {sub['integrity']}")
    else:
        lines.append(f"submissions: {sub}")
    mea = results["measures"]
    if "compute_all_s" in mea:
        lines.append(f"measures over {mea['responses']:,} responses ({mea['answers']:,} answers): compute_all "
                     f"{mea['compute_all_s']} s ({mea['measures']} measures); satisfaction by "
                     f"{mea['breakdowns']} breakdowns {mea['breakdowns_s']} s; total {mea['total_s']} s; "
                     f"filtered compute_all {mea['filtered_compute_all_s']} s; peak RSS {mea['peak_rss_mib']} MiB")
    else:
        lines.append(f"measures: {mea}")
    exp = results["exports"]
    if "csv" in exp:
        for fmt in ("csv", "xlsx"):
            lines.append(f"export {exp['responses']:,} responses to {fmt}: {exp[fmt]['seconds']} s, "
                         f"{exp[fmt]['file_mib']} MiB file, peak RSS {exp[fmt]['peak_rss_mib']} MiB "
                         f"(app loaded: {exp[fmt]['rss_before_export_mib']} MiB)")
    else:
        lines.append(f"exports: {exp}")
    crash = results["crash"]
    lines.append(f"crash safety: {crash.get('kills', '?')} SIGKILLs, {crash.get('acknowledged', '?')} acknowledged, "
                 f"lost {crash.get('lost', '?')}, doubled {crash.get('doubled', '?')}, "
                 f"integrity {crash.get('integrity', '?')}" if "kills" in crash else f"crash: {crash}")
    uploads = results["uploads"]
    if "workbooks" in uploads:
        worst = max([*uploads["workbooks"].values(), *uploads["yaml"].values()], key=lambda c: c["cpu_s"])
        lines.append(f"hostile uploads: {len(uploads['workbooks'])} workbooks and {len(uploads['yaml'])} YAML "
                     f"bombs refused, slowest {worst['cpu_s']} s CPU; /health max {uploads['health']['max_ms']} ms; "
                     f"peak RSS {uploads['peak_rss_mib']} MiB")
    else:
        lines.append(f"uploads: {uploads}")
    evaluator = results.get("evaluator_pages", {})
    if "headline" in evaluator:
        head = evaluator["headline"]
        ratios = next(v for k, v in head.items() if k.startswith("page_cost_ratio"))
        lines.append("evaluator pages, cost ratio at the two smaller sizes: "
                     + ", ".join(f"{name} {h['ratio']}" for name, h in ratios.items())
                     + f"; worst {head['worst_ratio']}; "
                     + "; ".join(f"{k} {v}" for k, v in head.items() if k.startswith(("largest", "dashboard"))))
    else:
        lines.append(f"evaluator pages: {evaluator}")
    upgrade = results.get("upgrade", {})
    if "init_db_s" in upgrade:
        lines.append(f"upgrade of {upgrade['responses']:,} responses built by {upgrade['old_rev']}: init-db "
                     f"{upgrade['init_db_s']} s (start-up {upgrade['init_db_again_s']} s, backup alone "
                     f"{upgrade['backup_alone_s']} s), migrations {upgrade['applied'] or 'none pending'}, peak RSS "
                     f"{upgrade['peak_rss_mib']} MiB, {upgrade['db_mib_before']} -> {upgrade['db_mib_after']} MiB, "
                     f"fingerprint {'OK' if upgrade['fingerprint_ok'] else 'DIFFERENT'}")
    else:
        lines.append(f"upgrade: {upgrade}")
    pages = results["pages"]
    if "pages" in pages:
        lines.append(f"pages: {pages['count']} respondent pages, {pages['min_total']}-{pages['max_total']} bytes "
                     f"with CSS/JS ({pages['max_total_gzip']} gzipped at most)")
    return "\n".join(lines)


def main(argv=None):
    """Run them all, print the summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    quick = args.quick
    results = {"machine": machine()}
    with open("/proc/loadavg") as handle:
        results["machine"]["loadavg_at_start"] = handle.read().split()[:3]
    results["pages"] = bench("bench_pages.py")
    results["uploads"] = bench("bench_uploads.py")
    results["submissions"] = bench("bench_submissions.py", "--seconds", 1 if quick else 10,
                                   *(["--clients", 4] if quick else []))
    results["measures"] = bench("bench_measures.py", "--responses", 5_000 if quick else 1_000_000)
    results["exports"] = bench("bench_exports.py", "--responses", 2_000 if quick else 100_000)
    results["crash"] = bench("bench_crash.py", "--kills", 3 if quick else 100)
    results["evaluator_pages"] = bench("bench_evaluator_pages.py", "--sizes",
                                       *([200, 2_000] if quick else [2_000, 200_000, 1_000_000]),
                                       "--repeat", 1 if quick else 5, timeout=3600)
    results["upgrade"] = bench("bench_upgrade.py", "--responses", 5_000 if quick else 1_000_000, timeout=3600)
    print(summary(results))
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1))
    failed = [name for name, figures in results.items() if name != "machine" and "error" in figures]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
