"""Entry point: `flask --app app run`. Builds the app with `create_app`."""

import os
from pathlib import Path

from flask import Flask, request
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

from survey import cli, questionnaires
from survey.storage import db
from survey.web import i18n, scope

csrf = CSRFProtect()
babel = Babel()


def create_app(test_config=None):
    """Create and configure the survey app (the flaskr factory pattern)."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        SECRET_KEY="dev-only-change-me",
        DATABASE=os.path.join(app.instance_path, "survey.sqlite"),
        QUESTIONNAIRE_DIR=str(Path(__file__).parent / "survey" / "definitions"),
        BASE_URL=None,  # e.g. https://survey.example.cn, for absolute links in QR codes
        BABEL_DEFAULT_LOCALE="zh_Hans_CN",
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        IMPORT_MAX_BYTES=256 * 1024 * 1024,  # `responses import` on the server: paper campaigns
        IMPORT_MAX_ROWS=1_000_000,
        WTF_CSRF_TIME_LIMIT=None,  # a slow elder must not lose the form to a token timeout
        # Submissions joined into one transaction per fsync behind the writer gate
        # (survey/storage/group_commit.py; benchmarks/RESULTS.md). A served app has it on
        # (FLASK_GROUP_COMMIT=false turns it off); a test app opts in, since each writer is
        # a thread per database and every test has its own database.
        GROUP_COMMIT=test_config is None,
    )
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env()
    else:
        app.config.from_mapping(test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    i18n.init_timezone(app)  # first: an unknown FLASK_TIMEZONE stops the start, naming the value

    i18n.compile_catalogs(app.config["BABEL_TRANSLATION_DIRECTORIES"])
    babel.init_app(app, locale_selector=i18n.select_locale)
    app.after_request(i18n.remember_locale)
    csrf.init_app(app)
    db.init_app(app)
    with app.app_context():
        try:
            db.init_db()
        except questionnaires.QuestionnaireError as exc:
            # `init-db` refuses this in one line; every other command (backup, restore)
            # must still run, with the definitions already stored.
            app.logger.warning("questionnaire definitions not loaded: %s", exc)

    from survey.web import auth, evaluations_web, links, respond

    auth.init_app(app)
    evaluations_web.init_app(app)
    scope.init_app(app)
    cli.init_app(app)
    app.register_blueprint(respond.bp)
    app.register_blueprint(links.bp)
    from survey.web import api, evaluate

    evaluate.init_app(app)
    api.init_app(app)
    from survey.web import authoring, scores

    scores.init_app(app)
    authoring.init_app(app)
    from survey.web import admin, api_submissions, conflicts, fieldwork, users

    fieldwork.init_app(app)
    api_submissions.init_app(app)
    conflicts.init_app(app)
    admin.init_app(app)
    users.init_app(app)

    @app.get("/health")
    def health():
        """Readiness for load balancers and monitors: 200 only if the database can be written."""
        reason = db.readiness()
        if reason:
            return {"status": "unavailable", "reason": reason}, 503, {"Retry-After": "15"}
        return {"status": "ok"}

    @app.context_processor
    def inject_locale():
        """Templates need the locale for `lang` attributes and localised YAML texts."""
        return {"lang": i18n.short_locale(), "html_lang": i18n.html_lang(), "request": request}

    from survey.storage import backup
    from survey.web import errors, security

    backup.init_app(app)
    security.init_app(app)  # last: it rate-limits views registered above
    errors.init_app(app)  # after security: its calm 429 page replaces security's plain text
    return app
