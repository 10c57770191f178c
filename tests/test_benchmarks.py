"""The benchmark runner: a failing benchmark fails run_all.py; helper imports resolve."""

import ast
import importlib
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def load_run_all():
    """Import benchmarks/run_all.py as a module."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module("run_all")
    finally:
        sys.path.remove(str(BENCH))


def test_a_failing_benchmark_fails_run_all(monkeypatch, capsys):
    """run_all used to exit 0 whatever happened; now one error means exit 1."""
    run_all = load_run_all()

    def fake(script, *args, **kwargs):
        """Every benchmark 'runs', bench_submissions fails as it did with its ImportError."""
        if script == "bench_submissions.py":
            return {"error": "ImportError: cannot import name 'has_route'", "wall_s": 0.1}
        return {"wall_s": 0.1}

    monkeypatch.setattr(run_all, "bench", fake)
    assert run_all.main(["--quick"]) == 1
    assert "FAILED: submissions" in capsys.readouterr().err
    monkeypatch.setattr(run_all, "bench", lambda script, *a, **k: {"wall_s": 0.1})
    assert run_all.main(["--quick"]) == 0


def test_benchmarks_import_only_names_that_exist():
    """Every `from tests... import name` in a benchmark names something that exists."""
    sys.path.insert(0, str(BENCH.parent))
    for path in sorted(BENCH.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name), f"{path.name}: {node.module}.{alias.name}"
