"""`responses import|export` and `sites` with two evaluations: `--evaluation SLUG` is required
then (the refusal names both), and every row lands in, or comes from, that evaluation only."""

import csv

import pytest

from survey.storage import evaluations
from survey.web import links

PAPER = "site,knows_hotline,knows_services,satisfaction\nxh,1,1,5\nxh,0,1,4\n"


@pytest.fixture
def two(db):
    """`default` and `b`, each with a site xh (same code, two sites)."""
    b = evaluations.create(db, "b", "第二个评价项目")
    links.create_site(db, "xh", "新华社区", evaluation_id=1)
    links.create_site(db, "xh", "新华社区", evaluation_id=b.id)
    return b


def test_export_without_evaluation_names_both(runner, two, tmp_path):
    result = runner.invoke(args=["responses", "export", "public-awareness", "-o", str(tmp_path / "x.csv")])
    assert result.exit_code != 0
    assert "--evaluation" in result.output and "default" in result.output and "b (第二个评价项目)" in result.output
    assert not (tmp_path / "x.csv").exists()


def test_import_lands_in_the_named_evaluation_and_export_reads_only_it(runner, two, db, tmp_path):
    paper = tmp_path / "paper.csv"
    paper.write_text(PAPER, encoding="utf-8")
    refused = runner.invoke(args=["responses", "import", "public-awareness", str(paper)])
    assert refused.exit_code != 0 and "default" in refused.output and "b (" in refused.output
    assert db.execute("select count(*) from responses").fetchone()[0] == 0
    result = runner.invoke(args=["responses", "import", "public-awareness", str(paper), "--evaluation", "b"])
    assert result.exit_code == 0, result.output
    rows = db.execute("select r.evaluation_id, s.evaluation_id from responses r join sites s on s.id = r.site_id"
                      ).fetchall()
    assert rows == [(two.id, two.id)] * 2
    assert db.execute("select evaluation_id from import_batches").fetchall() == [(two.id,)]
    for slug, expected in (("b", 2), ("default", 0)):
        out = tmp_path / f"{slug}.csv"
        exported = runner.invoke(args=["responses", "export", "public-awareness", "-o", str(out),
                                       "--evaluation", slug])
        assert exported.exit_code == 0, exported.output
        with open(out, encoding="utf-8-sig") as stream:
            assert len(list(csv.reader(stream))) == 1 + expected


def test_unknown_evaluation_is_refused_naming_the_choices(runner, two, tmp_path):
    result = runner.invoke(args=["sites", "add", "df", "东风社区", "--evaluation", "nope"])
    assert result.exit_code != 0 and "no evaluation 'nope'" in result.output and "b (" in result.output


def test_sites_add_per_evaluation(runner, two, db):
    added = runner.invoke(args=["sites", "add", "df", "东风社区", "--evaluation", "b"])
    assert added.exit_code == 0, added.output
    assert db.execute("select evaluation_id from sites where code = 'df'").fetchall() == [(two.id,)]
    again = runner.invoke(args=["sites", "add", "xh", "别名", "--evaluation", "b"])
    assert again.exit_code != 0 and "already exists in evaluation 'b'" in again.output


def test_one_evaluation_needs_no_option(runner, db, tmp_path):
    links.create_site(db, "xh", "新华社区")
    paper = tmp_path / "paper.csv"
    paper.write_text(PAPER, encoding="utf-8")
    result = runner.invoke(args=["responses", "import", "public-awareness", str(paper)])
    assert result.exit_code == 0, result.output
    assert db.execute("select evaluation_id from responses").fetchall() == [(1,), (1,)]
