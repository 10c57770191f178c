"""The command line (`flask --app app ...`): every command group is registered here.

Data commands take `--evaluation SLUG`; with exactly one evaluation in the database it
may be left out, with more it is refused naming the choices (evaluation_option).
"""

import click
from flask import current_app
from flask.cli import ScriptInfo

from survey.storage import evaluations
from survey.storage.db import get_db


def evaluation_option(command):
    """Add `--evaluation SLUG` to a command; the command receives `evaluation` (an Evaluation)."""
    def resolve(ctx, param, value):
        """Turn the slug into the evaluation, or stop with the choices."""
        if not current_app:
            # Parameter callbacks run before @with_appcontext does; `flask` pushes the context
            # itself, the test runner (app.cli directly) does not. A context of our own, popped
            # here: one left pushed on a refusal would outlive the command.
            with ctx.ensure_object(ScriptInfo).load_app().app_context():
                return resolve(ctx, param, value)
        try:
            return evaluations.choose(get_db(), value)
        except evaluations.EvaluationChoiceError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None

    return click.option("--evaluation", "evaluation", metavar="SLUG", callback=resolve, expose_value=True,
                        help="The evaluation to work on (may be left out when there is only one).")(command)


def init_app(app):
    """Register every command group of the CLI."""
    from survey.cli import (
        api_commands,
        collection_commands,
        demo_commands,
        evaluations_commands,
        links_commands,
        questionnaire_commands,
        report_commands,
        results_commands,
    )

    evaluations_commands.init_app(app)
    api_commands.init_app(app)
    links_commands.init_app(app)
    demo_commands.init_app(app)
    results_commands.init_app(app)
    collection_commands.init_app(app)
    report_commands.init_app(app)
    questionnaire_commands.init_app(app)
