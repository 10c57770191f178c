"""The demo loader a newcomer runs with `make run`."""


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
    """The printed demo password works for the evaluator account."""
    from conftest import csrf_token

    runner.invoke(args=["demo"])
    page = client.get("/login")
    response = client.post("/login", data={"csrf_token": csrf_token(page.text), "username": "evaluator",
                                            "password": "demo-password"})
    assert response.status_code == 302
    assert client.get("/evaluate/").status_code == 200
