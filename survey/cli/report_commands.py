"""The Word report on the command line:

    flask --app app report [--evaluation SLUG] [--system FILE] -o OUT.docx

Without `--system` the evaluation's newest stored indicator system is scored, if any;
with none the report says it has no score table. An indicator-system file that cannot
be loaded or scored is refused naming the node, and nothing is written.
"""

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from scoring import IndicatorSystemError, load_system
from survey.cli import evaluation_option
from survey.localtime import DEFAULT_ZONE
from survey.storage.db import get_db


@click.command("report")
@click.option("--system", "system_file", type=click.Path(exists=True, dir_okay=False),
              help="An indicator-system file to score (default: the evaluation's newest stored one).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Where to write the .docx file.")
@evaluation_option
@with_appcontext
def report_command(system_file, output, evaluation):
    """Write the evaluation's Word report (surveys, charts, problems, score table) to OUTPUT."""
    # Imported here: matplotlib and python-docx would add about 2 s to every app start.
    from survey.word_report import ReportError
    from survey.word_report_data import report_docx

    system, source = None, ""
    try:
        if system_file:
            # scoring's loader reads every indicator-system format it knows.
            system = load_system(Path(system_file))
            source = f"文件 {Path(system_file).name}"
        data = report_docx(get_db(), evaluation, system, source,
                           current_app.config.get("TIMEZONE", DEFAULT_ZONE))
    except (IndicatorSystemError, ReportError) as exc:
        raise click.ClickException(str(exc)) from None
    target = Path(output)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_bytes(data)
    temporary.replace(target)  # no half-written report left behind if the disk fills
    click.echo(f"{target}：{len(data) // 1024} KiB，评价项目 {evaluation.slug}")


def init_app(app):
    """Register the `report` command."""
    app.cli.add_command(report_command)
