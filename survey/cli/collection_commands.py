"""Commands of data collection: `responses import|export`, each for one
evaluation (`--evaluation SLUG`, optional while the database holds only one)."""

import click
from flask import current_app
from flask.cli import AppGroup

from survey import exports, importer, questionnaires
from survey.cli import evaluation_option
from survey.storage import audit, evaluations
from survey.storage.db import get_db

responses_cli = AppGroup("responses", help="Import and export responses.")


@responses_cli.command("import")
@click.argument("questionnaire_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@evaluation_option
def import_command(questionnaire_id, file, evaluation):
    """Import paper questionnaires from a CSV (UTF-8, UTF-16, GB18030) or XLSX file (all rows or none)."""
    name = click.format_filename(file)
    db = get_db()
    try:
        questionnaires.get(db, questionnaire_id)
    except questionnaires.UnknownQuestionnaire:
        raise click.ClickException(f"no questionnaire '{questionnaire_id}' — nothing was imported") from None
    ignored, stats = [], {}
    try:
        # The operator's command on the server, not a web upload: paper campaigns of
        # hundreds of thousands of rows are imported here, so its limits are its own.
        text = importer.read_table_text(file, current_app.config["IMPORT_MAX_BYTES"])
        count = importer.import_csv(db, questionnaire_id, text, source_name=name, ignored=ignored, stats=stats,
                                    max_rows=current_app.config["IMPORT_MAX_ROWS"], evaluation_id=evaluation.id)
    except importer.FileImportError as exc:
        raise click.ClickException(f"{exc} — nothing was imported") from None
    audit.log(db, "responses_imported", f"{name}: {count} into {questionnaire_id}", user="cli",
              evaluation_id=evaluation.id)
    click.echo(f"Imported {count} responses into {questionnaire_id} of {evaluation.slug}"
               f" (write lock held at most {stats.get('longest_chunk_s')} s per staging step and"
               f" {stats.get('final_step_s')} s per publishing step, {stats.get('publish_steps')} steps).")
    if ignored:
        click.echo(f"{len(ignored)} cells not imported: they answer a question that the row's"
                   " other answers hide (show_if):")
        for line, column, cell in ignored[:importer.IGNORED_SHOWN]:
            click.echo(f"  line {line}, column '{column}': {cell!r}")
        if len(ignored) > importer.IGNORED_SHOWN:
            click.echo(f"  ... and {len(ignored) - importer.IGNORED_SHOWN} more")


@responses_cli.command("export")
@click.argument("questionnaire_id")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@click.option("--titles", type=click.Choice(exports.TITLE_CHOICES), default=None,
              help="zh: head the columns with the questions' Chinese titles (for people; not re-importable)")
@evaluation_option
def export_command(questionnaire_id, fmt, output, evaluation, titles):
    """Export every response of a questionnaire in one evaluation, with code and label columns,
    and the submission time in the configured zone (TIMEZONE) beside the stored UTC one."""
    db = get_db()
    try:
        questionnaires.get(db, questionnaire_id)
    except questionnaires.UnknownQuestionnaire:
        raise click.ClickException(f"no questionnaire '{questionnaire_id}'") from None
    if not evaluations.uses(db, evaluation.id, questionnaire_id):
        raise click.ClickException(f"the evaluation '{evaluation.slug}' does not use the questionnaire"
                                   f" '{questionnaire_id}'")
    rows = exports.response_rows(db, evaluation.id, questionnaire_id, zone=current_app.config["TIMEZONE"],
                                 titles=titles)
    header = next(rows)
    rows_with_header = _prepend(header, rows)
    if fmt == "csv":
        with open(output, "w", encoding="utf-8", newline="") as stream:
            exports.write_csv(rows_with_header, stream)
    else:
        exports.write_xlsx(rows_with_header, output)
    click.echo(f"Wrote {output}.")


def _prepend(first, rest):
    """Yield `first`, then everything in `rest`."""
    yield first
    yield from rest


def init_app(app):
    """Register the `responses` command group (`sites` is in survey/cli/links_commands.py)."""
    app.cli.add_command(responses_cli)
