"""Commands of the questionnaire library: `questionnaires import|export|list|template`.

Questionnaires are written as XLSForm-style workbooks (survey/xlsform.py). Importing the
same workbook twice changes nothing; a changed workbook needs a new version number, and the
new version is stored beside the old one (answers keep the version they were given under).
"""

import json

import click
from flask.cli import AppGroup

from scoring.files import FileRefused, read_bytes
from survey import questionnaires, xlsform
from survey.storage import audit, evaluations
from survey.storage.db import get_db

questionnaires_cli = AppGroup("questionnaires", help="Questionnaires as XLSForm workbooks: import, export, list.")


@questionnaires_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--draft", is_flag=True, help="Store it as a draft (answered nowhere until published).")
def import_command(file, draft):
    """Import a questionnaire workbook (.xlsx): published at once unless --draft."""
    name = click.format_filename(file)
    try:
        definition = xlsform.read_workbook(read_bytes(file))
    except FileRefused as exc:
        raise click.ClickException(f"{name}: {exc} — nothing was stored") from None
    except xlsform.WorkbookError as exc:
        raise click.ClickException(f"{name}: nothing was stored:\n{exc}") from None
    db = get_db()
    known = db.execute("select 1 from questionnaires where id = ?", [definition["id"]]).fetchone() is not None
    try:
        qid, version, result = questionnaires.store_definition(db, definition, "draft" if draft else "published")
    except questionnaires.VersionChanged as exc:
        raise click.ClickException(f"{name}: {exc} — nothing was stored") from None
    if result == "loaded":
        if not known and not draft:
            evaluations.adopt_new_questionnaires(db, [qid])
        audit.log(db, "questionnaire_imported", f"{name}: {qid} v{version}{' (draft)' if draft else ''}",
                  user="cli")
    click.echo(f"{qid} v{version}: {result}{' (draft)' if draft and result == 'loaded' else ''}")


def _definition(db, questionnaire_id, version):
    """The definition of a stored questionnaire (current version unless given), or a ClickException."""
    try:
        return questionnaires.get(db, questionnaire_id, version).definition
    except questionnaires.UnknownQuestionnaire as exc:
        raise click.ClickException(f"no questionnaire {exc}") from None


@questionnaires_cli.command("export")
@click.argument("questionnaire_id")
@click.option("--version", type=int, help="A stored version (default: the current one).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
def export_command(questionnaire_id, version, output):
    """Write a stored questionnaire as an XLSForm workbook."""
    definition = _definition(get_db(), questionnaire_id, version)
    with open(output, "wb") as stream:
        stream.write(xlsform.write_workbook(definition))
    click.echo(f"Wrote {output} ({definition['id']} v{definition['version']}).")


@questionnaires_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON list instead of a table.")
def list_command(as_json):
    """Every questionnaire: id, current version, status, latest stored version, responses."""
    rows = [{"id": row["id"], "version": row["current_version"], "latest_version": row["latest_version"],
             "status": row["status"], "title": {"zh": row["title_zh"], "en": row["title_en"]},
             "responses": row["responses"]} for row in questionnaires.list_all(get_db())]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        latest = f" (v{row['latest_version']} stored)" if row["latest_version"] != row["version"] else ""
        click.echo(f"{row['id']}\tv{row['version']}{latest}\t{row['status']}\t{row['responses']} responses"
                   f"\t{row['title']['zh']}")


@questionnaires_cli.command("template")
@click.argument("questionnaire_id")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="xlsx", show_default=True)
@click.option("--version", type=int, help="A stored version (default: the current one).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
def template_command(questionnaire_id, fmt, version, output):
    """Write the blank paper-entry sheet (`responses import` reads it; the XLSX lists the codes)."""
    definition = _definition(get_db(), questionnaire_id, version)
    with open(output, "wb") as stream:
        stream.write(xlsform.paper_template(definition, fmt))
    click.echo(f"Wrote {output}.")


@questionnaires_cli.command("publish")
@click.argument("questionnaire_id")
@click.argument("version", type=int)
def publish_command(questionnaire_id, version):
    """Make a stored version (e.g. a draft) the one respondents answer; reopens a closed one."""
    db = get_db()
    try:
        questionnaires.publish(db, questionnaire_id, version)
    except (questionnaires.UnknownQuestionnaire, questionnaires.QuestionnaireError) as exc:
        raise click.ClickException(f"not published: {exc}") from None
    audit.log(db, "questionnaire_published", f"{questionnaire_id} v{version}", user="cli")
    click.echo(f"{questionnaire_id} v{version}: published")


@questionnaires_cli.command("close")
@click.argument("questionnaire_id")
def close_command(questionnaire_id):
    """Close a questionnaire: its respondent pages say the survey has ended (publish reopens it)."""
    db = get_db()
    try:
        questionnaires.close(db, questionnaire_id)
    except (questionnaires.UnknownQuestionnaire, questionnaires.QuestionnaireError) as exc:
        raise click.ClickException(f"not closed: {exc}") from None
    audit.log(db, "questionnaire_closed", questionnaire_id, user="cli")
    click.echo(f"{questionnaire_id}: closed")


def init_app(app):
    """Register the `questionnaires` command group."""
    app.cli.add_command(questionnaires_cli)
