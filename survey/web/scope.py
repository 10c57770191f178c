"""Which evaluation a back-office request is in, and what the user may do there.

Every back-office blueprint is mounted under `/e/<evaluation>/...` and scoped with
`scope_blueprint(bp)`: the slug leaves the view's arguments, the evaluation and the
user's role in it land on `g.evaluation` and `g.evaluation_role`, and a user without a
role there (or an unknown slug) gets 404, the same answer for both so that nobody
learns which evaluations exist. `url_for` inside a scoped request fills the slug in, so
views and templates name endpoints as before.
"""

import functools

from flask import abort, current_app, g
from flask_login import current_user

from survey.storage import evaluations
from survey.storage.db import get_db


def scope_blueprint(bp):
    """Make every route of `bp` (its rule carries `<evaluation>`) belong to one evaluation."""
    bp.url_value_preprocessor(_take_slug)
    bp.before_request(_load_evaluation)


def _take_slug(endpoint, values):
    """Keep the slug for _load_evaluation (the login check runs between the two)."""
    g.evaluation_slug = values.pop("evaluation", None) if values else None


def _load_evaluation():
    """Put the evaluation and the user's role on `g`; 404 without a role there."""
    slug = g.pop("evaluation_slug", None)
    if slug is None:
        abort(404)
    db = get_db()
    evaluation = evaluations.get(db, slug)
    if evaluation is None or not current_user.is_authenticated:
        abort(404)
    role = evaluations.role_of(db, current_user.id, evaluation.id, current_user.role == "admin")
    if role is None:
        abort(404)
    g.evaluation, g.evaluation_role = evaluation, role


def requires(capability):
    """Decorate a scoped view: only roles with `capability` (evaluations.CAPABILITIES) may use it.

    A role without it gets 403: the user may know the evaluation, not this page.
    """
    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not evaluations.may(g.evaluation_role, capability):
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator


def may(capability):
    """In a scoped request: whether the user may do `capability` (templates use it for menus)."""
    role = g.get("evaluation_role")
    return role is not None and evaluations.may(role, capability)


def current():
    """The evaluation of this request (a scoped view only)."""
    return g.evaluation


def fill_slug(endpoint, values):
    """url_for(endpoint) inside a scoped request: the current evaluation's slug by default."""
    evaluation = g.get("evaluation") if g else None
    if evaluation is not None and "evaluation" not in values \
            and current_app.url_map.is_endpoint_expecting(endpoint, "evaluation"):
        values["evaluation"] = evaluation.slug


def init_app(app):
    """Register the slug filler and the template helpers."""
    app.url_defaults(fill_slug)
    app.jinja_env.globals["may"] = may
