"""Evaluations (评价项目): the projects every campaign's data belongs to, and roles per evaluation.

An evaluation owns its sites, links, rosters, drafts, responses, visits, quality flags
and reviews, indicator systems and audit entries (each of those rows carries
`evaluation_id`, migration 8). Questionnaires form a library shared by all; an
evaluation uses some of them (`evaluation_questionnaires`), and answers to the same
questionnaire in two evaluations never mix because every response names its evaluation.

Roles are per evaluation (`evaluation_members`): manager (sets it up), staff (field
work), evaluator (all results), viewer (statistics only). `admin` is a global role and
may do everything everywhere. A user without a role in an evaluation must not learn
that it exists: the web and the API answer 404.

Pure storage: no Flask import. The web side (survey.web.scope) and the CLI call these.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone

from survey.storage.db import transaction

ROLES = ("manager", "staff", "evaluator", "viewer")
STATUSES = ("preparing", "collecting", "closed", "archived")
STATUS_LABELS = {"preparing": "准备中", "collecting": "采集中", "closed": "已结束", "archived": "已归档"}

# What each role may do in its evaluation; admin may do everything.
#   manage:     questionnaires, sites, links and posters, rosters, staff of the evaluation
#   field:      the field pages, the roster of assigned households, submitting visits
#   results:    response rows, open text, quality review, conflicts, exports of rows
#   statistics: rates, margins, breakdowns, charts, the score table (no rows, no text)
CAPABILITIES = {
    "manage": {"manager"},
    "field": {"manager", "staff"},
    "results": {"evaluator"},
    "statistics": {"manager", "evaluator", "viewer"},
}
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")
DEFAULT_SLUG = "default"


class EvaluationError(ValueError):
    """Bad evaluation data; names the field."""

    def __init__(self, field, message):
        """Keep the field name apart from the message."""
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class EvaluationChoiceError(LookupError):
    """No evaluation named, or a name that does not exist, where one must be chosen."""


@dataclass(frozen=True)
class Evaluation:
    """One evaluation project."""

    id: int
    slug: str
    name: str
    project: str | None
    unit: str | None
    year: int | None
    period_from: str | None
    period_to: str | None
    population: int | None
    status: str
    created_at: str

    @property
    def status_label(self):
        """The status in the UI's words."""
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def collecting(self):
        """Whether respondent links accept answers."""
        return self.status in ("preparing", "collecting")

    @property
    def read_only(self):
        """An archived evaluation changes no more."""
        return self.status == "archived"


FIELDS = ("id", "slug", "name", "project", "unit", "year", "period_from", "period_to", "population",
          "status", "created_at")
_SELECT = f"select {', '.join(FIELDS)} from evaluations"


def _row(row):
    """An Evaluation from a selected row (or None)."""
    return Evaluation(*row) if row is not None else None


def _now():
    """UTC now as ISO 8601 text."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check(slug, name, year, period_from, period_to, population, status):
    """Raise EvaluationError naming the first bad field."""
    if not isinstance(slug, str) or not SLUG.match(slug):
        raise EvaluationError("slug", "use 1-48 lower-case letters, digits and '-', starting with a letter or digit")
    if not name or not str(name).strip():
        raise EvaluationError("name", "an evaluation needs a name")
    if year is not None and not (2000 <= int(year) <= 2100):
        raise EvaluationError("year", f"{year} is not a plausible year")
    for field, value in (("period_from", period_from), ("period_to", period_to)):
        if value is not None:
            try:
                date.fromisoformat(value)
            except (TypeError, ValueError):
                raise EvaluationError(field, f"'{value}' is not a date like 2025-01-31") from None
    if period_from and period_to and period_from > period_to:
        raise EvaluationError("period_to", f"the period ends ({period_to}) before it starts ({period_from})")
    if population is not None and int(population) < 1:
        raise EvaluationError("population", "the target population must be a positive number")
    if status not in STATUSES:
        raise EvaluationError("status", f"must be one of {', '.join(STATUSES)}")


def create(db, slug, name, project=None, unit=None, year=None, period_from=None, period_to=None,
           population=None, status="collecting", questionnaires=None):
    """Create an evaluation using `questionnaires` (default: every one in the library); return it."""
    _check(slug, name, year, period_from, period_to, population, status)
    if get(db, slug) is not None:
        raise EvaluationError("slug", f"an evaluation '{slug}' exists already")
    library = [row[0] for row in db.execute("select id from questionnaires order by id").fetchall()]
    chosen = library if questionnaires is None else list(questionnaires)
    unknown = [q for q in chosen if q not in library]
    if unknown:
        raise EvaluationError("questionnaires", f"not in the library: {', '.join(unknown)}")
    with transaction(db):
        cursor = db.execute(
            "insert into evaluations (slug, name, project, unit, year, period_from, period_to, population,"
            " status, created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [slug, name.strip(), project, unit, year, period_from, period_to, population, status, _now()])
        evaluation_id = cursor.lastrowid
        for questionnaire_id in chosen:
            db.execute("insert into evaluation_questionnaires (evaluation_id, questionnaire_id, added_at)"
                       " values (?, ?, ?)", [evaluation_id, questionnaire_id, _now()])
    return by_id(db, evaluation_id)


def set_status(db, evaluation, status):
    """Move an evaluation to `status` (collection closed, archived ...)."""
    if status not in STATUSES:
        raise EvaluationError("status", f"must be one of {', '.join(STATUSES)}")
    with transaction(db):
        db.execute("update evaluations set status = ? where id = ?", [status, evaluation.id])
    return by_id(db, evaluation.id)


def get(db, slug):
    """The evaluation with this slug, or None."""
    return _row(db.execute(f"{_SELECT} where slug = ?", [slug]).fetchone())


def by_id(db, evaluation_id):
    """The evaluation with this id, or None."""
    return _row(db.execute(f"{_SELECT} where id = ?", [evaluation_id]).fetchone())


def every(db):
    """All evaluations, newest first."""
    return [_row(row) for row in db.execute(f"{_SELECT} order by id desc").fetchall()]


def for_user(db, user_id, is_admin=False):
    """The evaluations a user holds a role in (all of them for an admin), newest first."""
    if is_admin:
        return every(db)
    rows = db.execute(
        f"{_SELECT} where id in (select evaluation_id from evaluation_members where user_id = ?) order by id desc",
        [user_id]).fetchall()
    return [_row(row) for row in rows]


def with_roles(db, user_id, is_admin=False):
    """[(Evaluation, the user's role)] for every evaluation the user holds a role in (every
    one, as 'admin', for an admin), newest first: for_user and role_of in one statement."""
    if is_admin:
        return [(evaluation, "admin") for evaluation in every(db)]
    rows = db.execute(
        f"select {', '.join(f'e.{field}' for field in FIELDS)}, m.role from evaluations e"
        " join evaluation_members m on m.evaluation_id = e.id where m.user_id = ? order by e.id desc",
        [user_id]).fetchall()
    return [(_row(row[:-1]), row[-1]) for row in rows]


def role_of(db, user_id, evaluation_id, is_admin=False):
    """The user's role in the evaluation: 'admin' for admins, None without a role."""
    if is_admin:
        return "admin"
    row = db.execute("select role from evaluation_members where evaluation_id = ? and user_id = ?",
                     [evaluation_id, user_id]).fetchone()
    return row[0] if row else None


def may(role, capability):
    """Whether `role` (from role_of) may do `capability` (a key of CAPABILITIES)."""
    return role == "admin" or role in CAPABILITIES[capability]


def grant(db, user_id, evaluation_id, role, granted_by=None):
    """Give a user `role` in an evaluation (replacing any role they had there)."""
    if role not in ROLES:
        raise EvaluationError("role", f"must be one of {', '.join(ROLES)}")
    with transaction(db):
        db.execute(
            "insert into evaluation_members (evaluation_id, user_id, role, granted_at, granted_by)"
            " values (?, ?, ?, ?, ?) on conflict (evaluation_id, user_id)"
            " do update set role = excluded.role, granted_at = excluded.granted_at, granted_by = excluded.granted_by",
            [evaluation_id, user_id, role, _now(), granted_by])


def revoke(db, user_id, evaluation_id):
    """Take away a user's role in an evaluation; True if they had one."""
    with transaction(db):
        cursor = db.execute("delete from evaluation_members where evaluation_id = ? and user_id = ?",
                            [evaluation_id, user_id])
    return cursor.rowcount == 1


def members(db, evaluation_id):
    """[(user_id, username, display_name, role)] of an evaluation, by username."""
    return db.execute(
        "select u.id, u.username, u.display_name, m.role from evaluation_members m"
        " join users u on u.id = m.user_id where m.evaluation_id = ? order by u.username",
        [evaluation_id]).fetchall()


def questionnaire_ids(db, evaluation_id):
    """The ids of the questionnaires an evaluation uses, sorted."""
    return [row[0] for row in db.execute(
        "select questionnaire_id from evaluation_questionnaires where evaluation_id = ? order by questionnaire_id",
        [evaluation_id]).fetchall()]


def uses(db, evaluation_id, questionnaire_id):
    """Whether an evaluation uses a questionnaire."""
    return db.execute("select 1 from evaluation_questionnaires where evaluation_id = ? and questionnaire_id = ?",
                      [evaluation_id, questionnaire_id]).fetchone() is not None


def use_questionnaire(db, evaluation_id, questionnaire_id):
    """Add a library questionnaire to an evaluation (nothing if it is used already)."""
    with transaction(db):
        db.execute("insert into evaluation_questionnaires (evaluation_id, questionnaire_id, added_at)"
                   " values (?, ?, ?) on conflict do nothing", [evaluation_id, questionnaire_id, _now()])


def adopt_new_questionnaires(db, questionnaire_ids):
    """Questionnaires loaded into the library for the first time join every evaluation still
    preparing or collecting (so a fresh database's `default` uses the standard three)."""
    if not questionnaire_ids:
        return
    with transaction(db):
        for questionnaire_id in questionnaire_ids:
            db.execute(
                "insert into evaluation_questionnaires (evaluation_id, questionnaire_id, added_at)"
                " select id, ?, ? from evaluations where status in ('preparing', 'collecting')"
                " on conflict do nothing", [questionnaire_id, _now()])


def for_legacy_link(db, questionnaire_id):
    """The evaluation an unscoped link /q/<questionnaire> (printed before evaluations existed)
    answers for: the oldest evaluation using that questionnaire, or None."""
    return _row(db.execute(
        f"{_SELECT} where id = (select min(evaluation_id) from evaluation_questionnaires where questionnaire_id = ?)",
        [questionnaire_id]).fetchone())


def choose(db, slug=None):
    """The evaluation a command works on: `slug`'s, or the only one when none is named.

    Raises EvaluationChoiceError naming the choices when `slug` is unknown, or when it is
    missing and there is more than one evaluation.
    """
    known = every(db)
    if slug is not None:
        found = next((e for e in known if e.slug == slug), None)
        if found is None:
            raise EvaluationChoiceError(f"no evaluation '{slug}'; choose one of: {_names(known)}")
        return found
    if len(known) == 1:
        return known[0]
    if not known:
        raise EvaluationChoiceError("there is no evaluation yet; create one with `evaluations create`")
    raise EvaluationChoiceError(f"{len(known)} evaluations exist; name one with --evaluation: {_names(known)}")


def _names(known):
    """'slug (name), ...' for an error message."""
    return ", ".join(f"{e.slug} ({e.name})" for e in sorted(known, key=lambda e: e.slug)) or "(none)"
