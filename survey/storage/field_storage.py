"""Storage of an evaluation's field work: sites, households' status, assignments, visits, audit.

Every query here takes the evaluation and filters by it (two evaluations may have sites
with the same code and households with the same number). The views of survey.web.admin and
survey.web.fieldwork call these; no SQL in the views.
"""

import sqlite3

from survey.storage import evaluations
from survey.storage.db import transaction
from survey.storage.responses import now_iso


def evaluation_id_or_only(db, evaluation_id):
    """`evaluation_id`, or the only evaluation's id when None (raises EvaluationChoiceError
    naming the choices when there are several): storage helpers called by scripts and tests
    of a single-campaign database keep working unchanged."""
    return evaluation_id if evaluation_id is not None else evaluations.choose(db).id


def _named(db, sql, params):
    """Rows that leave this module: sqlite3.Row, read by name (row["name"]) or unpacked."""
    cursor = db.conn.cursor()
    cursor.row_factory = sqlite3.Row
    return cursor.execute(sql, params).fetchall()


def sites(db, evaluation_id):
    """(id, name) of the evaluation's sites, by name."""
    return _named(db, "select id, name from sites where evaluation_id = ? order by name", [evaluation_id])


def sites_with_households(db, evaluation_id):
    """The evaluation's sites (dict rows) with their number of households on the roster."""
    return list(db.query(
        "select s.*, (select count(*) from households h where h.site_id = s.id) as households"
        " from sites s where s.evaluation_id = ? order by s.name", [evaluation_id]))


def site_name(db, evaluation_id, code):
    """The name of the site with this code in the evaluation, or None."""
    row = db.execute("select name from sites where evaluation_id = ? and code = ?", [evaluation_id, code]).fetchone()
    return row[0] if row else None


def site_id_of(db, evaluation_id, code):
    """The id of the site with this code in the evaluation, or None."""
    row = db.execute("select id from sites where evaluation_id = ? and code = ?", [evaluation_id, code]).fetchone()
    return row[0] if row else None


def site_ids_by_code_and_name(db, evaluation_id):
    """{code or name: site id} of the evaluation's sites (files name a site either way; a
    name equal to another site's code names that other site)."""
    rows = db.execute("select id, code, name from sites where evaluation_id = ?", [evaluation_id]).fetchall()
    result = {name: site_id for site_id, _code, name in rows}
    result.update({code: site_id for site_id, code, _name in rows})
    return result


def site_belongs(db, evaluation_id, site_id):
    """Whether site `site_id` is one of the evaluation's."""
    return db.execute("select 1 from sites where id = ? and evaluation_id = ?",
                      [site_id, evaluation_id]).fetchone() is not None


def questionnaire_list(db, evaluation_id):
    """(id, title) of the questionnaires the evaluation uses."""
    return _named(db, "select q.id, q.title_zh from questionnaires q join evaluation_questionnaires e"
                      " on e.questionnaire_id = q.id where e.evaluation_id = ? order by q.id",
                      [evaluation_id])


def counts(db, evaluation_id):
    """How many sites, tracked links and households the evaluation has."""
    return {table: db.execute(f"select count(*) from {table} where evaluation_id = ?", [evaluation_id]).fetchone()[0]
            for table in ("sites", "links", "households")}


def tracked_links(db, evaluation_id):
    """The evaluation's tracked links that are not a household's, newest first (dict rows)."""
    return list(db.query("select l.*, s.name as site_name from links l left join sites s on s.id = l.site_id"
                         " where l.evaluation_id = ? and l.household_id is null order by l.created_at desc",
                         [evaluation_id]))


def household_links_rows(db, evaluation_id, questionnaire_id):
    """The evaluation's household links of a questionnaire (dict rows)."""
    return list(db.query("select * from links where evaluation_id = ? and questionnaire_id = ?"
                         " and household_id is not null", [evaluation_id, questionnaire_id]))


def field_staff(db, evaluation_id):
    """(id, username, display name) of active users who may do field work in the evaluation:
    its managers and staff, and admins."""
    return _named(
        db, "select u.id, u.username, u.display_name from users u where u.active = 1 and (u.role = 'admin'"
        " or u.id in (select user_id from evaluation_members where evaluation_id = ? and role in ('manager', 'staff')))"
        " order by u.username", [evaluation_id])


def households_numbered(db, evaluation_id, household_no, site_id=None):
    """(id, site_id) of the evaluation's households with this number (in one site if given)."""
    sql, params = "select id, site_id from households where evaluation_id = ? and household_no = ?", \
        [evaluation_id, household_no]
    if site_id:
        sql += " and site_id = ?"
        params.append(site_id)
    return _named(db, sql, params)


def assignments(db, evaluation_id):
    """The evaluation's assignments (dict rows) with the user, site and household."""
    return list(db.query(
        "select a.id, u.username, u.display_name, s.name as site_name, h.household_no,"
        " hs.name as household_site, a.assigned_at from assignments a join users u on u.id = a.user_id"
        " left join sites s on s.id = a.site_id left join households h on h.id = a.household_id"
        " left join sites hs on hs.id = h.site_id where a.evaluation_id = ?"
        " order by u.username, s.name, h.household_no", [evaluation_id]))


def add_assignment(db, evaluation_id, user_id, site_id=None, household_id=None, by=None):
    """Assign a site or a household of the evaluation to a user (nothing if it is already)."""
    with transaction(db):
        db.execute("insert into assignments (evaluation_id, user_id, site_id, household_id, assigned_at, assigned_by)"
                   " values (?, ?, ?, ?, ?, ?) on conflict do nothing",
                   [evaluation_id, user_id, site_id, household_id, now_iso(), by])


def remove_assignment(db, evaluation_id, assignment_id):
    """Remove one of the evaluation's assignments; True if there was one."""
    with transaction(db):
        return db.execute("delete from assignments where id = ? and evaluation_id = ?",
                          [assignment_id, evaluation_id]).rowcount == 1


def assigned_household_ids(db, evaluation_id, user_id):
    """Ids of the evaluation's households assigned to a user, one by one or through their site."""
    return {row[0] for row in db.execute(
        "select h.id from households h join assignments a on a.user_id = ? and a.evaluation_id = ?"
        " and (a.household_id = h.id or a.site_id = h.site_id) where h.evaluation_id = ?",
        [user_id, evaluation_id, evaluation_id]).fetchall()}


def answered_household_ids(db, evaluation_id, questionnaire_id):
    """Ids of the households with a stored response to the questionnaire in the evaluation."""
    return {row[0] for row in db.execute(
        "select household_id from responses where evaluation_id = ? and questionnaire_id = ?"
        " and household_id is not null", [evaluation_id, questionnaire_id]).fetchall()}


def household_answered(db, evaluation_id, questionnaire_id, household_id):
    """Whether a household has a stored response to this questionnaire in the evaluation."""
    return bool(household_id) and db.execute(
        "select 1 from responses where evaluation_id = ? and questionnaire_id = ? and household_id = ?",
        [evaluation_id, questionnaire_id, household_id]).fetchone() is not None


def last_outcomes(db, evaluation_id, questionnaire_id):
    """{household id: (outcome, visited_at)} of the last visit per household."""
    last = {}
    for household_id, outcome, visited_at in db.execute(
            "select household_id, outcome, visited_at from visits where evaluation_id = ? and questionnaire_id = ?"
            " order by visited_at", [evaluation_id, questionnaire_id]).fetchall():
        last[household_id] = (outcome, visited_at)
    return last


def visits_by(db, evaluation_id, user_id, limit=500):
    """A staff member's visits and calls in the evaluation, newest first (dict rows)."""
    return list(db.query(
        "select v.visited_at, v.mode, v.outcome, v.questionnaire_id, h.household_no, s.name as site_name"
        " from visits v join households h on h.id = v.household_id join sites s on s.id = h.site_id"
        " where v.evaluation_id = ? and v.staff_user_id = ? order by v.visited_at desc limit ?",
        [evaluation_id, user_id, limit]))


def audit_entries(db, evaluation_id, action="", limit=500):
    """The evaluation's audit entries, newest first, optionally of one action (dict rows)."""
    sql, params = "select * from audit_log where evaluation_id = ?", [evaluation_id]
    if action:
        sql += " and action = ?"
        params.append(action)
    return list(db.query(sql + " order by id desc limit ?", params + [limit]))


def users_without_role(db, evaluation_id):
    """(id, username, display name) of active non-admin users with no role in the evaluation."""
    return _named(
        db, "select id, username, display_name from users where active = 1 and role != 'admin' and id not in"
        " (select user_id from evaluation_members where evaluation_id = ?) order by username",
        [evaluation_id])


def user_exists(db, user_id):
    """The username of an active or inactive user, or None."""
    row = db.execute("select username from users where id = ?", [user_id]).fetchone()
    return row[0] if row else None
