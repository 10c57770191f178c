"""`evaluations create|list|status` and `users grant|revoke`."""

import json

import click
from flask.cli import AppGroup

from survey.storage import audit, evaluations
from survey.storage.db import get_db
from survey.web import auth

evaluations_cli = AppGroup("evaluations", help="Evaluation projects (评价项目).")


@evaluations_cli.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="The evaluation's name, e.g. 2025年居家养老服务项目绩效评价.")
@click.option("--project", help="The evaluated project.")
@click.option("--unit", help="The project unit (项目单位).")
@click.option("--year", type=int)
@click.option("--period-from", help="First day of the evaluated period (YYYY-MM-DD).")
@click.option("--period-to", help="Last day of the evaluated period (YYYY-MM-DD).")
@click.option("--population", type=int, help="Target population (for sample sizes).")
@click.option("--status", type=click.Choice(evaluations.STATUSES), default="collecting", show_default=True)
@click.option("--questionnaire", "questionnaires", multiple=True,
              help="A library questionnaire it uses (repeatable; default: all of them).")
def create_command(slug, name, project, unit, year, period_from, period_to, population, status, questionnaires):
    """Create the evaluation SLUG."""
    db = get_db()
    try:
        evaluation = evaluations.create(db, slug, name, project=project, unit=unit, year=year,
                                        period_from=period_from, period_to=period_to, population=population,
                                        status=status, questionnaires=questionnaires or None)
    except evaluations.EvaluationError as exc:
        raise click.ClickException(str(exc)) from None
    audit.log(db, "evaluation_created", f"{slug} ({name})", user="cli", evaluation_id=evaluation.id)
    click.echo(f"Created evaluation '{slug}' (id {evaluation.id}) using "
               f"{', '.join(evaluations.questionnaire_ids(db, evaluation.id)) or 'no questionnaire'}.")


@evaluations_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of objects.")
def list_command(as_json):
    """List the evaluations, newest first."""
    db = get_db()
    known = evaluations.every(db)
    if as_json:
        click.echo(json.dumps([{**{f: getattr(e, f) for f in evaluations.FIELDS},
                                "questionnaires": evaluations.questionnaire_ids(db, e.id)} for e in known],
                              ensure_ascii=False, indent=2))
        return
    for e in known:
        period = f"{e.period_from or '?'}..{e.period_to or '?'}" if (e.period_from or e.period_to) else ""
        click.echo(f"{e.slug}\t{e.name}\t{e.status}\t{e.year or ''}\t{period}")


@evaluations_cli.command("status")
@click.argument("slug")
@click.argument("status", type=click.Choice(evaluations.STATUSES))
def status_command(slug, status):
    """Set the status of SLUG: preparing, collecting, closed (links answer that the survey has ended), archived."""
    db = get_db()
    try:
        evaluation = evaluations.choose(db, slug)
    except evaluations.EvaluationChoiceError as exc:
        raise click.ClickException(str(exc)) from None
    evaluations.set_status(db, evaluation, status)
    audit.log(db, "evaluation_status", f"{slug}: {status}", user="cli", evaluation_id=evaluation.id)
    click.echo(f"Evaluation '{slug}' is now {status}.")


def _user_id(db, username):
    """The id of USERNAME, or stop with an error."""
    row = db.execute("select id from users where username = ?", [username]).fetchone()
    if row is None:
        raise click.ClickException(f"no user '{username}'")
    return row[0]


@auth.users_cli.command("grant")
@click.argument("username")
@click.option("--evaluation", "slug", required=True, metavar="SLUG")
@click.option("--role", type=click.Choice(evaluations.ROLES), required=True)
def grant_command(username, slug, role):
    """Give USERNAME a role in an evaluation (replacing the role they had there)."""
    db = get_db()
    try:
        evaluation = evaluations.choose(db, slug)
    except evaluations.EvaluationChoiceError as exc:
        raise click.ClickException(str(exc)) from None
    evaluations.grant(db, _user_id(db, username), evaluation.id, role, granted_by="cli")
    audit.log(db, "role_granted", f"{username}: {role} in {slug}", user="cli", evaluation_id=evaluation.id)
    click.echo(f"'{username}' is now {role} in '{slug}'.")


@auth.users_cli.command("revoke")
@click.argument("username")
@click.option("--evaluation", "slug", required=True, metavar="SLUG")
def revoke_command(username, slug):
    """Take away USERNAME's role in an evaluation."""
    db = get_db()
    try:
        evaluation = evaluations.choose(db, slug)
    except evaluations.EvaluationChoiceError as exc:
        raise click.ClickException(str(exc)) from None
    if not evaluations.revoke(db, _user_id(db, username), evaluation.id):
        raise click.ClickException(f"'{username}' holds no role in '{slug}'")
    audit.log(db, "role_revoked", f"{username} in {slug}", user="cli", evaluation_id=evaluation.id)
    click.echo(f"'{username}' no longer has a role in '{slug}'.")


def init_app(app):
    """Register the evaluations group (users grant/revoke hang on auth's users group)."""
    app.cli.add_command(evaluations_cli)
