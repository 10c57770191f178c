"""The explicit schema of the survey database, created with sqlite-utils."""


def create(db):
    """Create every table and index if it does not exist yet (idempotent)."""
    _questionnaires(db)
    _sites(db)
    _roster(db)
    _links(db)
    _responses(db)
    _accounts(db)
    for extension in _extensions():
        extension(db)


def _extensions():
    """Tables owned by feature modules, each created by the module's create_schema(db)."""
    from survey import quality
    from survey.storage import audit, tallies
    from survey.web import api, auth, fieldwork, scores

    return [audit.create_schema, auth.create_schema, scores.create_schema, quality.create_schema,
            api.create_schema, fieldwork.create_schema, tallies.create_schema]


def _questionnaires(db):
    """Questionnaires and every version ever loaded (answers keep their version)."""
    db["questionnaires"].create(
        {"id": str, "title_zh": str, "title_en": str, "current_version": int, "audience": str},
        pk="id", not_null={"title_zh", "current_version"}, if_not_exists=True,
    )
    db["questionnaire_versions"].create(
        {"questionnaire_id": str, "version": int, "definition": str, "sha256": str, "loaded_at": str},
        pk=("questionnaire_id", "version"), not_null={"definition", "sha256"},
        foreign_keys=[("questionnaire_id", "questionnaires", "id")], if_not_exists=True,
    )


def _sites(db):
    """Sites (社区/街道/乡镇), with their population when known (for sample sizes)."""
    db["sites"].create(
        {"id": int, "code": str, "name": str, "kind": str, "parent_id": int, "population": int},
        pk="id", not_null={"code", "name"},
        foreign_keys=[("parent_id", "sites", "id")], if_not_exists=True,
    )
    db["sites"].create_index(["code"], unique=True, if_not_exists=True)


def _links(db):
    """Tracked links with short codes: per site and channel, or per household (one-time)."""
    db["links"].create(
        {"code": str, "questionnaire_id": str, "site_id": int, "channel": str, "label": str,
         "household_id": int, "single_use": int, "disabled": int, "created_at": str},
        pk="code", not_null={"questionnaire_id", "channel", "created_at"},
        defaults={"single_use": 0, "disabled": 0},
        foreign_keys=[("questionnaire_id", "questionnaires", "id"), ("site_id", "sites", "id"),
                      ("household_id", "households", "id")],
        if_not_exists=True,
    )


def _roster(db):
    """Households of service recipients (名册); personal data lives only here."""
    db["households"].create(
        {"id": int, "site_id": int, "household_no": str, "name": str, "id_number": str,
         "address": str, "phone": str, "created_at": str},
        pk="id", not_null={"site_id", "household_no", "name", "created_at"},
        foreign_keys=[("site_id", "sites", "id")], if_not_exists=True,
    )
    db["households"].create_index(["site_id", "household_no"], unique=True, if_not_exists=True)


def _responses(db):
    """Responses (one row each), their answers (one row per answer value) and drafts."""
    db["responses"].create(
        {"id": int, "submission_id": str, "questionnaire_id": str, "questionnaire_version": int,
         "link_code": str, "site_id": int, "channel": str, "respondent_type": str,
         "household_id": int, "staff_user_id": int, "consent": int, "source": str,
         "age_band": str, "living_alone": int,
         "started_at": str, "submitted_at": str, "received_at": str, "duration_s": float,
         "device_hash": str, "excluded": int, "flags": str},
        pk="id",
        not_null={"submission_id", "questionnaire_id", "questionnaire_version", "channel",
                  "submitted_at", "received_at", "source"},
        defaults={"excluded": 0},
        foreign_keys=[("questionnaire_id", "questionnaires", "id"), ("link_code", "links", "code"),
                      ("site_id", "sites", "id"), ("household_id", "households", "id")],
        if_not_exists=True,
    )
    # The submission id is generated when the form starts: unique, so a retry
    # of the same form can never be stored twice.
    db["responses"].create_index(["submission_id"], unique=True, if_not_exists=True)
    db["responses"].create_index(["questionnaire_id", "excluded", "submitted_at"], if_not_exists=True)
    db["answers"].create(
        {"response_id": int, "question_id": str, "value": str},
        pk=("response_id", "question_id", "value"), not_null={"value"},
        foreign_keys=[("response_id", "responses", "id")], if_not_exists=True,
    )
    db["answers"].create_index(["question_id", "value"], if_not_exists=True)
    db["drafts"].create(
        {"submission_id": str, "questionnaire_id": str, "questionnaire_version": int,
         "answers": str, "meta": str, "started_at": str, "updated_at": str},
        pk="submission_id", not_null={"questionnaire_id", "questionnaire_version", "answers", "meta"},
        foreign_keys=[("questionnaire_id", "questionnaires", "id")], if_not_exists=True,
    )


def _accounts(db):
    """Back-office users (admin, staff, evaluator)."""
    db["users"].create(
        {"id": int, "username": str, "password_hash": str, "role": str, "display_name": str,
         "can_see_personal_data": int, "active": int, "created_at": str},
        pk="id", not_null={"username", "password_hash", "role"},
        defaults={"can_see_personal_data": 0, "active": 1}, if_not_exists=True,
    )
    db["users"].create_index(["username"], unique=True, if_not_exists=True)
