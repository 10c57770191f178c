"""The demo loader a newcomer runs with `make run`, into one evaluation."""

from conftest import csrf_token

from survey.storage import evaluations


def test_demo_command_loads_data_and_is_idempotent(runner, db):
    """`flask demo` loads sites, links, roster, responses and accounts; again adds nothing."""
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "240 new responses" in result.output and "demo-password" in result.output
    counts = {table: db.execute(f"select count(*) from {table}").fetchone()[0]
              for table in ("sites", "links", "households", "responses", "users")}
    assert counts == {"sites": 3, "links": 6, "households": 30, "responses": 240, "users": 3}
    again = runner.invoke(args=["demo"])
    assert again.exit_code == 0 and "0 new responses" in again.output and "demo-password" not in again.output
    assert db.execute("select count(*) from responses").fetchone()[0] == 240


def test_demo_accounts_can_log_in(runner, client):
    """The printed demo password works for the evaluator account, who sees the demo's evaluation."""
    runner.invoke(args=["demo"])
    page = client.get("/login")
    response = client.post("/login", data={"csrf_token": csrf_token(page.text), "username": "evaluator",
                                            "password": "demo-password"})
    assert response.status_code == 302
    assert client.get("/e/default/evaluate/").status_code == 200


def test_demo_goes_into_the_evaluation_named_and_needs_a_name_among_several(runner, db):
    """With two evaluations `demo` without --evaluation is refused naming them and stores nothing;
    `--evaluation second` puts every demo row there, next to an earlier demo in `default`."""
    assert runner.invoke(args=["demo"]).exit_code == 0
    second = evaluations.create(db, "second", "第二个评价项目")
    refused = runner.invoke(args=["demo"])
    assert refused.exit_code != 0 and "default" in refused.output and "second" in refused.output
    assert db.execute("select count(*) from responses where evaluation_id = ?", [second.id]).fetchone()[0] == 0
    result = runner.invoke(args=["demo", "--evaluation", "second"])
    assert result.exit_code == 0, result.output
    assert "240 new responses" in result.output
    for table, count in (("sites", 3), ("links", 6), ("households", 30), ("responses", 240)):
        rows = dict(db.execute(f"select evaluation_id, count(*) from {table} group by evaluation_id").fetchall())
        assert rows == {1: count, second.id: count}, table
    # Each response of the second evaluation came through one of its own links and sites.
    assert db.execute(
        "select count(*) from responses r join links l on l.code = r.link_code join sites s on s.id = r.site_id"
        " where r.evaluation_id = ? and l.evaluation_id = ? and s.evaluation_id = ?",
        [second.id, second.id, second.id]).fetchone()[0] == 240
    assert "evaluator" in {row[1] for row in evaluations.members(db, second.id)}
