"""The audit log: logins, imports, exports, and changes to rosters, users and evaluations."""

from datetime import datetime, timezone

from flask import g, has_request_context, request
from flask_login import current_user

from survey.storage.db import transaction


def create_schema(db):
    """The audit_log table (migration 8 adds `evaluation_id`)."""
    db["audit_log"].create({"id": int, "at": str, "user": str, "action": str, "detail": str, "ip": str},
                           pk="id", not_null={"at", "action"}, if_not_exists=True)


def log(db, action, detail="", user=None, evaluation_id=None):
    """Append one audit entry (its own small transaction).

    In a request scoped to an evaluation the entry belongs to it unless told otherwise;
    entries of no evaluation (logins, users) keep `evaluation_id` NULL.
    """
    ip = None
    if has_request_context():
        if evaluation_id is None and g.get("evaluation") is not None:
            evaluation_id = g.evaluation.id
        if user is None:
            ip = request.remote_addr
            user = current_user.username if current_user and current_user.is_authenticated else None
    with transaction(db):
        db.execute("insert into audit_log (at, user, action, detail, ip, evaluation_id) values (?, ?, ?, ?, ?, ?)",
                   [datetime.now(timezone.utc).isoformat(timespec="seconds"), user, action, detail, ip,
                    evaluation_id])
