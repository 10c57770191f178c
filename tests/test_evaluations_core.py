"""Evaluations: storage, roles, the CLI, and migration 8 on a database built by release 1."""

import json
import sqlite3

import pytest

from app import create_app
from survey.storage import evaluations
from survey.storage.db import connect
from survey.web import auth
from tests.test_migrations import build_release_1

STANDARD = ["elder-satisfaction", "public-awareness", "security-feeling"]


def test_a_fresh_database_starts_with_the_default_evaluation_using_the_standard_questionnaires(db):
    (only,) = evaluations.every(db)
    assert (only.slug, only.status) == ("default", "collecting")
    assert evaluations.questionnaire_ids(db, only.id) == STANDARD


@pytest.mark.parametrize("fields, field", [
    ({"slug": "Bad Slug"}, "slug"),
    ({"slug": "-x"}, "slug"),
    ({"name": "  "}, "name"),
    ({"year": 1899}, "year"),
    ({"period_from": "2025-13-01"}, "period_from"),
    ({"period_from": "2025-06-01", "period_to": "2025-01-01"}, "period_to"),
    ({"population": 0}, "population"),
    ({"status": "paused"}, "status"),
    ({"questionnaires": ["no-such-form"]}, "questionnaires"),
    ({"slug": "default"}, "slug"),
])
def test_bad_evaluation_data_is_refused_naming_the_field_and_changes_nothing(db, fields, field):
    arguments = {"slug": "cy-2025", "name": "朝阳区2025年居家养老绩效评价", **fields}
    with pytest.raises(evaluations.EvaluationError) as caught:
        evaluations.create(db, **arguments)
    assert caught.value.field == field
    assert [e.slug for e in evaluations.every(db)] == ["default"]


def test_roles_are_per_evaluation_and_admin_may_do_everything(db):
    other = evaluations.create(db, "hd-2025", "海淀区评价", year=2025, questionnaires=["public-awareness"])
    staff = auth.create_user(db, "wang", "long-enough-pw", "staff", evaluation_id=other.id)
    admin = auth.create_user(db, "root", "long-enough-pw", "admin")
    assert evaluations.role_of(db, staff, other.id) == "staff"
    assert evaluations.role_of(db, staff, 1) is None
    assert [e.slug for e in evaluations.for_user(db, staff)] == ["hd-2025"]
    assert [e.slug for e in evaluations.for_user(db, admin, is_admin=True)] == ["hd-2025", "default"]
    assert evaluations.role_of(db, admin, 1, is_admin=True) == "admin"
    evaluations.grant(db, staff, 1, "viewer")
    assert evaluations.role_of(db, staff, 1) == "viewer"
    assert evaluations.revoke(db, staff, 1) and not evaluations.revoke(db, staff, 1)
    assert evaluations.questionnaire_ids(db, other.id) == ["public-awareness"]


@pytest.mark.parametrize("role, capability, allowed", [
    ("viewer", "statistics", True), ("viewer", "results", False), ("viewer", "field", False),
    ("staff", "field", True), ("staff", "statistics", False), ("staff", "results", False),
    ("evaluator", "results", True), ("evaluator", "manage", False),
    ("manager", "manage", True), ("manager", "results", False), ("admin", "results", True),
])
def test_what_each_role_may_do(role, capability, allowed):
    assert evaluations.may(role, capability) is allowed


def test_a_user_made_while_several_evaluations_exist_gets_no_role_until_granted(db):
    evaluations.create(db, "second", "第二个评价")
    user = auth.create_user(db, "li", "long-enough-pw", "evaluator")
    assert evaluations.for_user(db, user) == []


def test_choose_needs_a_slug_once_there_are_two(db):
    assert evaluations.choose(db).slug == "default"
    evaluations.create(db, "second", "第二个评价")
    with pytest.raises(evaluations.EvaluationChoiceError, match="default.*second"):
        evaluations.choose(db)
    with pytest.raises(evaluations.EvaluationChoiceError, match="no evaluation 'third'"):
        evaluations.choose(db, "third")
    assert evaluations.choose(db, "second").name == "第二个评价"


def test_rows_without_an_evaluation_are_refused_by_the_database(db):
    with pytest.raises(sqlite3.IntegrityError, match="sites.evaluation_id is required"):
        db.execute("insert into sites (code, name) values ('X1', '某社区')")


def test_the_same_site_code_in_two_evaluations(db):
    other = evaluations.create(db, "second", "第二个评价")
    db.execute("insert into sites (code, name, evaluation_id) values ('CY01', '新华社区', 1)")
    db.execute("insert into sites (code, name, evaluation_id) values ('CY01', '新华社区', ?)", [other.id])
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("insert into sites (code, name, evaluation_id) values ('CY01', '另一个', 1)")


def test_cli_create_list_status_grant_and_revoke(runner, db):
    result = runner.invoke(args=["evaluations", "create", "cy-2025", "--name", "朝阳区评价", "--year", "2025",
                                 "--period-from", "2025-01-01", "--period-to", "2025-12-31",
                                 "--population", "1200", "--questionnaire", "elder-satisfaction"])
    assert result.exit_code == 0, result.output
    listed = json.loads(runner.invoke(args=["evaluations", "list", "--json"]).output)
    assert [(e["slug"], e["name"]) for e in listed] == [("cy-2025", "朝阳区评价"), ("default", "默认评价项目")]
    assert listed[0]["population"] == 1200 and listed[0]["questionnaires"] == ["elder-satisfaction"]
    refused = runner.invoke(args=["evaluations", "create", "cy-2025", "--name", "again"])
    assert refused.exit_code != 0 and "exists already" in refused.output
    assert runner.invoke(args=["evaluations", "status", "cy-2025", "closed"]).exit_code == 0
    assert evaluations.get(db, "cy-2025").status == "closed"
    made = runner.invoke(args=["users", "create", "zhao", "--role", "evaluator"], input="long-enough-pw\n")
    assert made.exit_code != 0 and "name one with --evaluation" in made.output
    made = runner.invoke(args=["users", "create", "zhao", "--role", "evaluator", "--evaluation", "cy-2025"],
                         input="long-enough-pw\n")
    assert made.exit_code == 0, made.output
    user_id = db.execute("select id from users where username = 'zhao'").fetchone()[0]
    assert evaluations.role_of(db, user_id, evaluations.get(db, "cy-2025").id) == "evaluator"
    granted = runner.invoke(args=["users", "grant", "zhao", "--evaluation", "default", "--role", "viewer"])
    assert granted.exit_code == 0, granted.output
    assert evaluations.role_of(db, user_id, 1) == "viewer"
    assert runner.invoke(args=["users", "revoke", "zhao", "--evaluation", "default"]).exit_code == 0
    again = runner.invoke(args=["users", "revoke", "zhao", "--evaluation", "default"])
    assert again.exit_code != 0 and "holds no role" in again.output
    unknown = runner.invoke(args=["users", "grant", "zhao", "--evaluation", "nope", "--role", "staff"])
    assert unknown.exit_code != 0 and "no evaluation 'nope'" in unknown.output
    actions = [row[0] for row in db.execute("select action from audit_log order by id").fetchall()]
    assert {"evaluation_created", "evaluation_status", "role_granted", "role_revoked"} <= set(actions)


def test_release_1_database_becomes_the_default_evaluation(tmp_path):
    path = build_release_1(str(tmp_path / "old.sqlite"))
    old = sqlite3.connect(path)
    users = dict(old.execute("select username, role from users").fetchall())
    old.close()
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE": path})
    assert app.test_cli_runner().invoke(args=["init-db"]).exit_code == 0
    db = connect(path)
    (default,) = evaluations.every(db)
    assert default.slug == "default"
    for table in ("sites", "households", "links", "responses", "visits", "indicator_systems", "drafts"):
        missing = db.execute(f"select count(*) from {table} where evaluation_id is not 1").fetchone()[0]
        assert missing == 0, f"{table}: {missing} rows without the default evaluation"
    members = {username: role for _id, username, _name, role in evaluations.members(db, 1)}
    assert members == {u: r for u, r in users.items() if r != "admin"}
    assert members, "release 1 had staff or evaluators; they must keep their role"
    assert evaluations.questionnaire_ids(db, 1) == STANDARD
