"""Results on the command line: `measures`, `score` and `quality run`, each of one evaluation.

    flask --app app measures QUESTIONNAIRE [--evaluation SLUG] [--json] [--by site|channel|...]
    flask --app app score FILE.yaml|FILE.xlsx [--evaluation SLUG] [--json] [--xlsx OUT.xlsx]
    flask --app app quality run [--evaluation SLUG] [--questionnaire ID]

With exactly one evaluation in the database `--evaluation` may be left out; with more,
leaving it out is refused naming the choices (survey.cli.evaluation_option).
"""

import json
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from scoring import IndicatorSystemError, UnknownMeasureError, format_table
from scoring.measures import measure_specs
from scoring.workbook import load_system_file, write_workbook
from survey import quality
from survey.cli import evaluation_option
from survey.storage import measures_store
from survey.storage.db import get_db
from survey.web import scores


@click.command("score")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of a table.")
@click.option("--period-from", help="Survey leaves: responses submitted on or after (YYYY-MM[-DD]).")
@click.option("--period-to", help="Survey leaves: responses submitted up to and including.")
@click.option("--site", help="Survey leaves: responses of this site code only.")
@click.option("--xlsx", "xlsx_out", type=click.Path(dir_okay=False),
              help="Also write the system as an appendix-layout workbook (read back by `score OUT.xlsx`).")
@evaluation_option
@with_appcontext
def score_command(file, as_json, period_from, period_to, site, xlsx_out, evaluation):
    """Score an indicator-system FILE (YAML or XLSX workbook); survey leaves read the evaluation's answers."""
    try:
        system = load_system_file(Path(file))
        if xlsx_out:
            # Written before scoring: a system whose survey leaves cannot be measured here
            # can still be handed over as a workbook.
            Path(xlsx_out).write_bytes(write_workbook(system))
        result, measured = scores.score_with_surveys(get_db(), evaluation.id, system,
                                                     scores.filters_of(period_from, period_to, site))
    except IndicatorSystemError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {xlsx_out}: {exc.strerror or exc}") from None
    if as_json:
        data = result.to_dict()
        data["measured"] = {path: rate.to_dict() for path, rate in measured.items()}
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        click.echo(format_table(result))


@click.command("measures")
@click.argument("questionnaire_id")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of a table.")
@click.option("--by", type=click.Choice(sorted(measures_store.BREAKDOWNS)), help="Break every measure down.")
@click.option("--period-from", help="Responses submitted on or after (YYYY-MM[-DD]).")
@click.option("--period-to", help="Responses submitted up to and including (YYYY-MM[-DD]).")
@click.option("--site", help="Responses of this site code only.")
@click.option("--channel", help="Responses of this channel only (qr, door, phone, ...).")
@click.option("--respondent-type", type=click.Choice(["self", "proxy", "assisted", "public"]))
@evaluation_option
@with_appcontext
def measures_command(questionnaire_id, as_json, by, period_from, period_to, site, channel, respondent_type,
                     evaluation):
    """Print every measure of a questionnaire in one evaluation with its n and 95% Wilson interval."""
    filters = scores.filters_of(period_from, period_to, site)
    filters.update({k: v for k, v in (("channel", channel), ("respondent_type", respondent_type)) if v})
    db = get_db()
    try:
        names = ["responses", *measure_specs(measures_store.current_definition(db, questionnaire_id))]
        results = {name: measures_store.compute(db, evaluation.id, questionnaire_id, name, filters, by)
                   for name in names}
    except UnknownMeasureError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        if by:
            data = {name: {str(group): rate.to_dict() for group, rate in groups.items()}
                    for name, groups in results.items()}
        else:
            data = {name: rate.to_dict() for name, rate in results.items()}
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(scores.measures_table(results, by))


quality_cli = AppGroup("quality", help="Response quality rules.")


@quality_cli.command("run")
@click.option("--questionnaire", "questionnaire_id", help="Only this questionnaire.")
@evaluation_option
@with_appcontext
def quality_run_command(questionnaire_id, evaluation):
    """Flag speeders, straight-liners, bursts and duplicate households of one evaluation (never deletes)."""
    result = quality.run(get_db(), evaluation.id, questionnaire_id, current_app.config)
    click.echo(f"Checked {result['checked']} responses: {result['flagged']} flagged, "
               f"{result['changed']} changed.")


def init_app(app):
    """Register the results commands."""
    app.cli.add_command(score_command)
    app.cli.add_command(measures_command)
    app.cli.add_command(quality_cli)
