"""Fuzzing with hypothesis: respondent form posts, CSV imports and indicator systems.

- form posts: random fields, values, unicode and huge strings never give a 5xx, and a
  rejected post changes nothing (the draft keeps its answers, no response appears);
- CSV imports: any file is either imported whole or refused whole (FileImportError);
- indicator systems: any dict (random, or a real seed file mutated) either loads or is
  refused with IndicatorSystemError, never another exception.
"""

import copy
import csv
import io
import json
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app import create_app
from scoring import IndicatorSystemError, load_system
from survey import importer, questionnaires
from survey.storage.db import get_db

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)
huge = st.builds(lambda ch, n: ch * n, st.sampled_from(["a", "满", "<", "'", "\u202e", "0"]),
                 st.integers(min_value=400, max_value=200_000))
value = st.one_of(text, huge, st.sampled_from(["1", "0", "5", "4", "self", "proxy", "hotline", "emergency_call",
                                               "-1", "1e309", "NaN", "", " ", "null", "[]", "{}",
                                               "<script>alert(1)</script>", "' or 1=1 --"]))


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    """One app and database for a whole fuzz module (examples share it, as real traffic would)."""
    folder = tmp_path_factory.mktemp("fuzz")
    return create_app({"TESTING": True, "SECRET_KEY": "fuzz", "DATABASE": str(folder / "fuzz.sqlite")})


def _draft(db, submission_id):
    """The draft's answers as a dict (None if the draft is gone)."""
    row = db.execute("select answers from drafts where submission_id = ?", [submission_id]).fetchone()
    return None if row is None else json.loads(row[0])


@FUZZ
@given(data=st.data(),
       questionnaire_id=st.sampled_from(["elder-satisfaction", "public-awareness", "security-feeling"]),
       fields=st.dictionaries(st.sampled_from(["answer", "action", "return", "extra", "answer[]", "link", "\u6ee1"]),
                              st.one_of(value, st.lists(value, max_size=5)), max_size=5))
def test_random_form_posts_never_5xx_and_rejected_input_stores_nothing(fuzz_app, data, questionnaire_id, fields):
    """Post random fields to a random question page of a fresh draft."""
    client = fuzz_app.test_client()
    start = client.get(f"/q/{questionnaire_id}")
    token = CSRF.search(start.text).group(1)
    location = client.post(f"/q/{questionnaire_id}/start", data={"csrf_token": token}).location
    submission_id = location.split("/")[2]
    with fuzz_app.app_context():
        questionnaire = questionnaires.get(get_db(), questionnaire_id)
    question = data.draw(st.sampled_from(questionnaire.questions))
    with fuzz_app.app_context():
        db = get_db()
        responses_before = db.execute("select count(*) from responses").fetchone()[0]
        before = _draft(db, submission_id)
    response = client.post(f"/r/{submission_id}/{question['id']}", data={"csrf_token": token, **fields})
    assert response.status_code < 500
    with fuzz_app.app_context():
        db = get_db()
        after = _draft(db, submission_id)
        assert db.execute("select count(*) from responses").fetchone()[0] == responses_before
    if response.status_code >= 400:
        assert after == before, "a rejected answer changed the draft"
    else:
        assert questionnaire.clean_answers(after, partial=True) == after, "the draft holds an invalid answer"
    # Random start posts (forged link codes) and a submit of the half-filled draft: never 5xx.
    assert client.post(f"/q/{questionnaire_id}/start",
                       data={"csrf_token": token, "link": data.draw(value)}).status_code in (302, 404, 413)
    assert client.post(f"/r/{submission_id}/submit", data={"csrf_token": token}).status_code < 500


def _csv_strategy():
    """CSV texts over the elder-satisfaction columns, meta columns and junk columns."""
    columns = ["respondent", "services", "overall", "item_attitude", "item_repair", "hotline_unanswered",
               "age_band", "living_alone", "suggestion", "submission_id", "site", "channel", "respondent_type",
               "submitted_at", "started_at", "bogus", "", "Overall", "overall "]
    cell = st.one_of(value, st.sampled_from(["老人本人", "满意", "非常满意", "是", "否", "80-89", "meals;hotline",
                                             "助餐（吃饭、送餐）、养老服务热线", "2024-03-01", "2024-13-45",
                                             "door", "paper", "=SUM(A1)", "\x00", "\r\n", '"', ","]))

    @st.composite
    def build(draw):
        header = draw(st.lists(st.sampled_from(columns), min_size=0, max_size=8))
        rows = draw(st.lists(st.lists(cell, min_size=len(header), max_size=len(header)), min_size=0, max_size=6))
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows(rows)
        return buffer.getvalue(), len(rows)

    return build()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_csv_strategy())
@example(case=("respondent,services,overall,suggestion\nself,hotline;meals,5,=cmd\nproxy,meals,满意,\n", 2))
@example(case=("respondent,services,overall\nself,hotline,5\nself,hotline,9\n", 2))
def test_csv_import_is_all_or_nothing(fuzz_app, case):
    """Any CSV either imports every row or raises FileImportError and stores nothing."""
    text_value, _rows = case
    with fuzz_app.app_context():
        db = get_db()
        before = db.execute("select count(*) from responses").fetchone()[0]
        answers_before = db.execute("select count(*) from answers").fetchone()[0]
        try:
            stored = importer.import_csv(db, "elder-satisfaction", text_value, source_name="fuzz.csv")
        except importer.FileImportError as exc:
            assert "fuzz.csv" in str(exc) or "no questionnaire" in str(exc)
            assert db.execute("select count(*) from responses").fetchone()[0] == before
            assert db.execute("select count(*) from answers").fetchone()[0] == answers_before
        else:
            assert stored >= 1
            assert db.execute("select count(*) from responses").fetchone()[0] == before + stored


def _seed_systems():
    """The real indicator-system files shipped in examples/, parsed."""
    return [yaml.safe_load(path.read_text(encoding="utf-8")) for path in sorted(EXAMPLES.glob("*.yaml"))]


SEEDS = _seed_systems()
junk = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**6, max_value=10**6),
              st.floats(allow_nan=True, allow_infinity=True), text,
              st.sampled_from(["rate", "checklist_deduct", "checklist_share", "cost_saving", "bands", "judged",
                               "100", "-5", "0.6", "1e400", "优", ""])),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.sampled_from(
                                   ["name", "weight", "rule", "children", "value", "numerator", "denominator",
                                    "checks", "bands", "score", "reason", "ok", "min", "full_at", "zero_below",
                                    "planned", "actual", "source", "reported", "total", "grades", "label",
                                    "indicators", "share", "deduct", "per_fail", "per_point", "x"]),
                                   children, max_size=6)),
    max_leaves=25)


def _mutate(node, draw, depth=0):
    """Replace, delete or add one thing somewhere inside a copy of `node`."""
    if isinstance(node, dict) and node and depth < 8 and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(node, key=str)))
        action = draw(st.sampled_from(["descend", "replace", "delete"]))
        if action == "descend":
            node[key] = _mutate(node[key], draw, depth + 1)
        elif action == "replace":
            node[key] = draw(junk)
        else:
            del node[key]
        return node
    if isinstance(node, list) and node and depth < 8 and draw(st.booleans()):
        index = draw(st.integers(min_value=0, max_value=len(node) - 1))
        action = draw(st.sampled_from(["descend", "replace", "delete", "duplicate"]))
        if action == "descend":
            node[index] = _mutate(node[index], draw, depth + 1)
        elif action == "replace":
            node[index] = draw(junk)
        elif action == "delete":
            del node[index]
        else:
            node.append(copy.deepcopy(node[index]))
        return node
    return draw(junk)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), seed=st.sampled_from(range(len(SEEDS))), rounds=st.integers(min_value=1, max_value=3))
def test_mutated_indicator_systems_load_or_raise_indicator_system_error(data, seed, rounds):
    """A real system with 1-3 random mutations: loads, or IndicatorSystemError — nothing else."""
    system = copy.deepcopy(SEEDS[seed])
    for _ in range(rounds):
        system = _mutate(system, data.draw)
    try:
        load_system(system if isinstance(system, dict) else {"indicators": system})
    except IndicatorSystemError:
        pass


@settings(max_examples=200, deadline=None)
@given(system=st.one_of(junk, st.dictionaries(st.sampled_from(["total", "grades", "indicators", "project"]), junk)))
def test_random_indicator_systems_load_or_raise_indicator_system_error(system):
    """Random structures (and random YAML text) never crash load_system with another exception."""
    try:
        load_system(system if isinstance(system, dict) else {"indicators": system})
    except IndicatorSystemError:
        pass
    try:
        load_system("x: 1\n" + yaml.safe_dump(system, allow_unicode=True) if not isinstance(system, str)
                    else system + "\n")
    except IndicatorSystemError:
        pass
