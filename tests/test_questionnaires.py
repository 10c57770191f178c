"""Questionnaire definitions: loading, versions, show-if, answer checking."""

import pytest

from survey import questionnaires
from survey.questionnaires import AnswerError, Questionnaire, QuestionnaireError


def test_init_db_loads_the_three_standard_questionnaires(db):
    """init-db (run by create_app) loaded every definition file."""
    ids = {row["id"] for row in questionnaires.list_current(db)}
    assert ids == {"elder-satisfaction", "public-awareness", "security-feeling"}


def test_init_db_is_idempotent(runner):
    """Running init-db again reports every file unchanged."""
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0
    assert "elder-satisfaction v3: unchanged" in result.output


def test_changed_definition_needs_new_version(db):
    """A changed file under the same version is refused; a new version is stored beside it."""
    definition = dict(questionnaires.get(db, "public-awareness").definition)
    definition["title"] = {"zh": "改过的标题"}
    with pytest.raises(QuestionnaireError, match="new version"):
        questionnaires.store_definition(db, definition)
    definition["version"] = 3
    assert questionnaires.store_definition(db, definition)[2] == "loaded"
    assert questionnaires.get(db, "public-awareness").version == 3
    assert questionnaires.get(db, "public-awareness", 2).text("title") != "改过的标题"


@pytest.mark.parametrize("broken, message", [
    ({"version": 1, "title": {"zh": "x"}, "questions": []}, "missing 'id'"),
    ({"id": "x", "version": 0, "title": {"zh": "x"}, "questions": []}, "version"),
    ({"id": "x", "version": 1, "title": {"zh": "x"}, "questions": [{"id": "a", "type": "slider", "text": {"zh": "?"}}]},
     "type must be"),
    ({"id": "x", "version": 1, "title": {"zh": "x"}, "questions": [{"id": "a", "type": "single", "text": {"zh": "?"}}]},
     "needs choices"),
    ({"id": "x", "version": 1, "title": {"zh": "x"},
      "questions": [{"id": "a", "type": "yesno", "text": {"zh": "?"}, "show_if": {"question": "b", "equals": "1"}}]},
     "earlier question"),
    ({"id": "x", "version": 1, "title": {"zh": "x"},
      "questions": [{"id": "a", "type": "yesno", "text": {"zh": "?"}},
                    {"id": "a", "type": "yesno", "text": {"zh": "?"}}]},
     "duplicate"),
])
def test_bad_definitions_are_refused_naming_the_problem(broken, message):
    """Each malformed definition raises an error that says what is wrong."""
    with pytest.raises(QuestionnaireError, match=message):
        questionnaires.validate_definition(broken, "test.yaml")


@pytest.fixture
def elder(db):
    """The elder-satisfaction questionnaire."""
    return questionnaires.get(db, "elder-satisfaction")


@pytest.mark.parametrize("question_id, raw, expected", [
    ("overall", "5", "5"),
    ("overall", " 4 ", "4"),
    ("services", ["hotline", "meals", "meals"], ["hotline", "meals"]),
    ("living_alone", "0", "0"),
    ("suggestion", "  很好  ", "很好"),
    ("suggestion", "", None),
    ("item_attitude", None, None),
])
def test_parse_accepts_valid_answers(elder, question_id, raw, expected):
    """Valid answers of every type become stored codes."""
    assert elder.parse(elder.question(question_id), raw) == expected


@pytest.mark.parametrize("question_id, raw, message", [
    ("overall", "6", "not one of"),
    ("overall", None, "required"),
    ("overall", ["4", "5"], "only one"),
    ("services", ["meals", "karaoke"], "karaoke"),
    ("suggestion", "长" * 501, "longer than 500"),
])
def test_parse_refuses_invalid_answers(elder, question_id, raw, message):
    """Invalid answers raise AnswerError naming the question."""
    with pytest.raises(AnswerError, match=message) as error:
        elder.parse(elder.question(question_id), raw)
    assert error.value.question_id == question_id


def test_number_question_bounds():
    """A number question checks numbers and its bounds."""
    q = Questionnaire({"id": "n", "version": 1, "title": {"zh": "n"},
                       "questions": [{"id": "calls", "type": "number", "min": 0, "max": 99, "text": {"zh": "?"}}]})
    assert q.parse(q.question("calls"), "12") == "12"
    with pytest.raises(AnswerError, match="not a number"):
        q.parse(q.question("calls"), "twelve")
    with pytest.raises(AnswerError, match="outside"):
        q.parse(q.question("calls"), "100")


def test_show_if_hides_device_questions_without_emergency_call(elder):
    """Device items show only to those who used the emergency-call service."""
    shown = {q["id"] for q in elder.visible_questions({"services": ["meals"]})}
    assert "item_device_ease" not in shown and "hotline_unanswered" not in shown
    shown = {q["id"] for q in elder.visible_questions({"services": ["emergency_call", "hotline"]})}
    assert {"item_device_ease", "item_fault_response", "item_repair", "hotline_unanswered"} <= shown


def test_clean_answers_drops_answers_to_hidden_questions(elder):
    """An answer to a question that is no longer shown is not kept."""
    clean = elder.clean_answers({"respondent": "self", "services": ["meals"], "overall": "4",
                                 "item_device_ease": "5"})
    assert "item_device_ease" not in clean


def test_agree_scale_uses_agreement_words(db):
    """The security questions use 同意 words, not 满意 words."""
    security = questionnaires.get(db, "security-feeling")
    words = [c["zh"] for c in security.choices(security.question("worry_reduced"))]
    assert words[0] == "非常同意" and "满意" not in "".join(words)


def test_edited_definition_without_new_version(tmp_path):
    """Edited without a new version: init-db refuses in one line; other commands still run."""
    import shutil
    from pathlib import Path

    from app import create_app

    folder = tmp_path / "definitions"
    shutil.copytree(Path(__file__).resolve().parents[1] / "survey" / "definitions", folder)
    config = {"TESTING": True, "SECRET_KEY": "t", "DATABASE": str(tmp_path / "q.sqlite"),
              "QUESTIONNAIRE_DIR": str(folder)}
    create_app(config)
    path = folder / "public-awareness.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("您知道本地的养老服务热线电话吗？",
                                                             "您知道热线电话吗？"), encoding="utf-8")
    app = create_app(config)  # used to raise: every command printed a 38-line traceback
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["init-db"])
    assert refused.exit_code == 1
    assert "Traceback" not in refused.output
    lines = [line for line in refused.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "public-awareness: version" in lines[0] and "new version number" in lines[0]
    backed_up = runner.invoke(args=["backup", str(tmp_path / "copy.sqlite")])
    assert backed_up.exit_code == 0, backed_up.output


def test_broken_definition_yaml_is_one_line(tmp_path):
    """A definition file that is not valid YAML (or a bomb) is refused naming the file."""
    from app import create_app

    folder = tmp_path / "definitions"
    folder.mkdir()
    (folder / "bad.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE": str(tmp_path / "q.sqlite"),
                      "QUESTIONNAIRE_DIR": str(folder)})
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 1 and "bad.yaml" in result.output and "invalid YAML" in result.output


def test_wording_follows_who_answers(db):
    """A relative answering for an elder (代答) is asked about the elder, not about themselves."""
    security = questionnaires.get(db, "security-feeling")
    question = security.question("worry_reduced")
    assert security.question_text(question, "zh", "self").startswith("现在您担心")
    assert security.question_text(question, "zh", "proxy").startswith("现在老人担心")
    assert "The elder" in security.question_text(question, "en", "proxy")
    assert security.respondent_type({"respondent": "proxy"}) == "proxy"


def test_every_required_multiple_choice_has_a_way_out(db):
    """Each required multi question of every shipped questionnaire offers an exclusive choice
    (都没用过), which cannot be ticked together with another one."""
    checked = 0
    for row in questionnaires.list_current(db):
        questionnaire = questionnaires.get(db, row["id"])
        for question in questionnaire.questions:
            if question["type"] == "multi" and question.get("required"):
                checked += 1
                way_out = [c for c in question["choices"] if c.get("exclusive")]
                assert way_out, f"{row['id']}.{question['id']} has no way out"
                with pytest.raises(questionnaires.AnswerError, match="cannot be combined"):
                    questionnaire.parse(question, [way_out[0]["value"], question["choices"][0]["value"]])
                assert questionnaire.parse(question, [way_out[0]["value"]]) == [way_out[0]["value"]]
    assert checked


def test_yes_no_labels_reword_but_keep_codes(db):
    """"您知道…吗" is answered 知道/不知道; the stored codes stay 1/0."""
    public = questionnaires.get(db, "public-awareness")
    choices = public.choices(public.question("knows_hotline"))
    assert [(c["value"], c["zh"]) for c in choices] == [("1", "知道"), ("0", "不知道")]


@pytest.mark.parametrize("question, message", [
    ({"id": "a", "type": "yesno", "text": {"zh": "?"}, "wording": {"friend": {"zh": "?"}}}, "wording must be"),
    ({"id": "a", "type": "single", "text": {"zh": "?"}, "choices": [{"value": "x", "zh": "x"}],
      "labels": {"1": {"zh": "知道"}}}, "only apply to a yesno"),
])
def test_bad_wording_or_labels_are_refused(question, message):
    """A wording for an unknown respondent type, or yes/no labels on another type, are refused."""
    with pytest.raises(QuestionnaireError, match=message):
        questionnaires.validate_definition({"id": "x", "version": 1, "title": {"zh": "x"}, "questions": [question]})
