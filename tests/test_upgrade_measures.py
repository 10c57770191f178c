"""The issue's "done when": a database built by the previous code (release 1) upgrades into the
evaluation `default` with every count and every measure unchanged.

BEFORE the upgrade everything is read with plain SQL on the old schema (no evaluation_id,
the old tallies): every table's row count, and every questionnaire's answer counts by value,
overall and by site and by channel, turned into rates by the pure scoring functions. AFTER
the upgrade the same measures come from survey.storage.measures_store through evaluation `default`
(the rebuilt per-evaluation tallies and the raw tables), and must be equal.
"""

import json
import sqlite3

import pytest
from test_migrations import build_release_1

from app import create_app
from scoring.measures import check_spec, measure_from_counts, measure_specs, questions_of, response_counts
from survey.storage import evaluations, measures_store
from survey.storage.db import get_db

# Group expressions of the release-1 measures code, on the old schema.
OLD_GROUPS = {None: "null", "site": "coalesce(s.name, '（未注明）')", "channel": "r.channel"}
TALLIES = ("answer_tallies", "response_tallies", "answer_marginals", "response_marginals")


def _old_definitions(conn):
    """{questionnaire id: its current definition} as release 1 stored them."""
    return {qid: json.loads(text) for qid, text in conn.execute(
        "select q.id, v.definition from questionnaires q join questionnaire_versions v"
        " on v.questionnaire_id = q.id and v.version = q.current_version").fetchall()}


def _old_measures(conn, definition, qid, by):
    """Every measure of one questionnaire from plain SQL on the old schema: {name: Rate or {group: Rate}}."""
    specs = measure_specs(definition)
    group = OLD_GROUPS[by]
    counts = {}
    for spec in specs.values():
        for question in questions_of(spec):
            counts.setdefault(question, {})
    for grp, question, value, n in conn.execute(
            f"select {group}, a.question_id, a.value, count(*) from answers a join responses r on r.id = a.response_id"
            f" left join sites s on s.id = r.site_id where r.questionnaire_id = ? and r.excluded = 0"
            f" group by 1, 2, 3", [qid]).fetchall():
        if question in counts:
            counts[question].setdefault(grp, {})[value] = n
    result = {"responses": response_counts(dict(conn.execute(
        f"select {group}, count(*) from responses r left join sites s on s.id = r.site_id"
        f" where r.questionnaire_id = ? and r.excluded = 0 group by 1", [qid]).fetchall()), by)}
    for name, spec in specs.items():
        check_spec(name, spec)
        result[name] = measure_from_counts(spec, counts, by)
    return result


def _plain(value):
    """A Rate or {group: Rate} as plain dicts (comparable)."""
    if isinstance(value, dict):
        return {str(group): rate.to_dict() for group, rate in value.items()}
    return value.to_dict()


def _table_counts(conn):
    """Row counts of every table (the tallies by their summed counts, which a rebuild keeps)."""
    names = [row[0] for row in conn.execute("select name from sqlite_master where type = 'table'"
                                            " and name not like 'sqlite_%'").fetchall()]
    return {name: conn.execute(f"select {'sum(n)' if name in TALLIES else 'count(*)'} from [{name}]").fetchone()[0]
            for name in names}


@pytest.fixture
def release_1_path(tmp_path):
    """The path of a database as release 1 left it."""
    return build_release_1(str(tmp_path / "old.sqlite"))


def test_release_1_upgrades_with_every_count_and_measure_unchanged(release_1_path):
    conn = sqlite3.connect(release_1_path)
    assert "evaluation_id" not in {row[1] for row in conn.execute("pragma table_info(responses)")}
    tables_before = _table_counts(conn)
    definitions = _old_definitions(conn)
    before = {(qid, by): {name: _plain(rate) for name, rate in _old_measures(conn, definition, qid, by).items()}
              for qid, definition in definitions.items() for by in OLD_GROUPS}
    conn.close()
    assert tables_before["responses"] == 240 and len(definitions) == 3
    # Not a trivial comparison: the satisfaction rate is a real share of a real sample.
    overall = before[("elder-satisfaction", None)]["satisfaction_rate"]
    assert overall["n"] > 50 and 0 < overall["value"] < 1

    app = create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE": release_1_path})
    with app.app_context():
        db = get_db()
        default = evaluations.get(db, "default")
        assert default is not None and [e.slug for e in evaluations.every(db)] == ["default"]
        after = {}
        for qid, definition in definitions.items():
            names = set(measure_specs(definition)) | {"responses"}
            for by in OLD_GROUPS:
                computed = measures_store.compute_all(db, default.id, qid, by=by)
                after[(qid, by)] = {name: _plain(rate) for name, rate in computed.items() if name in names}
        # Every response and every row of a campaign table now belongs to `default`.
        for table in ("responses", "sites", "households", "links", "indicator_systems", "visits"):
            assert db.execute(f"select count(*) from {table} where evaluation_id is not 1").fetchone()[0] == 0, table
    for key, measures in before.items():
        assert after[key] == measures, key
    conn = sqlite3.connect(release_1_path)
    tables_after = _table_counts(conn)
    conn.close()
    # New questionnaire versions are added beside the old ones; every other table keeps its rows.
    assert tables_after["questionnaire_versions"] > tables_before["questionnaire_versions"]
    unchanged = {name: count for name, count in tables_before.items() if name != "questionnaire_versions"}
    assert {name: tables_after[name] for name in unchanged} == unchanged
    # The tallies were rebuilt per evaluation: every tally row carries evaluation 1.
    conn = sqlite3.connect(release_1_path)
    for table in TALLIES:
        assert conn.execute(f"select count(*) from {table} where evaluation_id is not 1").fetchone()[0] == 0
    conn.close()
