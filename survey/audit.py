"""The audit log: logins, imports, exports, and changes to rosters and users."""

from datetime import datetime, timezone

from flask import has_request_context
from flask_login import current_user

from survey.db import transaction


def create_schema(db):
    """The audit_log table."""
    db["audit_log"].create({"id": int, "at": str, "user": str, "action": str, "detail": str, "ip": str},
                           pk="id", not_null={"at", "action"}, if_not_exists=True)


def log(db, action, detail="", user=None):
    """Append one audit entry (its own small transaction)."""
    ip = None
    if user is None and has_request_context():
        from flask import request

        ip = request.remote_addr
        user = current_user.username if current_user and current_user.is_authenticated else None
    with transaction(db):
        db.execute("insert into audit_log (at, user, action, detail, ip) values (?, ?, ?, ?, ?)",
                   [datetime.now(timezone.utc).isoformat(timespec="seconds"), user, action, detail, ip])
