"""The layout step of issue 9 for the results: scoring/ is pure (no SQL, no survey or Flask
import), and the survey side imports no private scoring names."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tree(path):
    """The parsed module."""
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def test_scoring_runs_no_sql_and_imports_no_survey_or_flask():
    for path in sorted((ROOT / "scoring").glob("*.py")):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Attribute):
                assert node.attr not in ("execute", "executemany", "query"), f"{path.name}:{node.lineno} runs SQL"
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                for name in names:
                    assert not name.startswith(("survey", "flask", "sqlite")), f"{path.name}:{node.lineno} {name}"


def test_the_survey_side_imports_no_private_scoring_name():
    for path in sorted([*(ROOT / "survey").rglob("*.py"), ROOT / "app.py"]):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("scoring"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.relative_to(ROOT)}:{node.lineno} imports {private}"
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") \
                    and isinstance(node.value, ast.Name) and node.value.id in ("measures", "coverage", "report"):
                raise AssertionError(f"{path.relative_to(ROOT)}:{node.lineno} uses {node.value.id}.{node.attr}")
