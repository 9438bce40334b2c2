"""The pure definition schema and respondent logic: validation, pages, display logic, answers."""

from __future__ import annotations

import pytest

from closeloop import piping
from closeloop.surveys import definition as schema
from closeloop.surveys import logic
from closeloop.surveys.tests.sample import sample, simple


def Q(definition: dict, qid: str) -> dict:
    return schema.question_map(definition)[qid]


def form(data: dict):
    def get_list(name):
        value = data.get(name)
        if value is None:
            return []
        return value if isinstance(value, list) else [value]

    return get_list


def test_sample_and_new_definitions_are_valid():
    assert schema.validate(sample()) == []
    assert schema.validate(schema.new_definition("x")) == []
    assert schema.validate(simple("mc", "text", "nps", "rating", "matrix")) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(blocks=[]), "blocks: must be a non-empty list"),
        (lambda d: Q(d, "QID1").update(id="Q1"), "must look like QID1"),
        (lambda d: Q(d, "QID2").update(id="QID1"), "QID1: question id used twice"),
        (lambda d: Q(d, "QID1").update(type="slider"), "must be one of"),
        (lambda d: Q(d, "QID1").update(text=""), "must not be empty"),
        (lambda d: Q(d, "QID1").update(text="x" * 6000), "is too long"),
        (lambda d: Q(d, "QID3").update(scale=10), "must be 5 or 7"),
        (
            lambda d: Q(d, "QID2")["choices"].append({"id": "1", "text": "dup"}),
            "1 is used twice",
        ),
        (lambda d: Q(d, "QID2").update(choices=[]), "must be a list of 1 to"),
        (lambda d: Q(d, "QID5").update(validation="phone"), "email or number"),
        (lambda d: d["flow"].pop(), "block BL_1 is not in the survey flow"),
        (lambda d: d["flow"][0]["fields"][0].update(source="cookie"), "source: must be one of"),
        (lambda d: d["flow"][0]["fields"].append({"name": "Store"}), "'Store' is defined twice"),
        (
            lambda d: d["flow"][0]["fields"][0].update(name="store"),
            "unknown piped text ${e://Field/Store}",
        ),
        (
            lambda d: Q(d, "QID2")["display"]["conditions"][0].update(question="QID5"),
            "'QID5' is not an earlier question",
        ),
        (
            lambda d: Q(d, "QID2")["display"]["conditions"].__setitem__(
                0, {"question": "QID1", "op": "selected", "choice": "1"}
            ),
            "QID1 has no choices",
        ),
        (
            lambda d: Q(d, "QID1").update(text="${q://QID2/ChoiceGroup/SelectedChoices}"),
            "only earlier questions",
        ),
        (
            lambda d: Q(d, "QID1").update(text="${l://SurveyLink}"),
            "not available in surveys",
        ),
        (lambda d: d["translations"].update(FR={"QID99": {"text": "x"}}), "unknown question"),
        (lambda d: d["end"].update(message="${e://Field/Nope}"), "end.message: unknown piped"),
    ],
)
def test_validation_problems(change, expected):
    definition = sample()
    change(definition)
    problems = schema.validate(definition)
    assert any(expected in problem for problem in problems), problems


def test_validation_refuses_non_json_and_huge_definitions():
    assert schema.validate([]) == ["the definition must be a JSON object"]
    huge = sample()
    huge["title"] = "x" * (schema.MAX_JSON_BYTES + 1)
    assert "too large" in schema.validate(huge)[0]
    with pytest.raises(schema.DefinitionError):
        schema.check({"blocks": "no"})


def test_pages_split_at_page_breaks_and_blocks():
    definition = sample()
    definition["blocks"].append(
        {"id": "BL_2", "name": "More", "elements": [schema.new_question("nps", "QID7")]}
    )
    definition["flow"].insert(1, {"type": "block", "block": "BL_2"})
    pages = schema.pages(definition)
    assert [[q["id"] for q in page] for page in pages] == [
        ["QID7"],
        ["QID1"],
        ["QID2"],
        ["QID3", "QID4"],
        ["QID5", "QID6"],
    ]


def test_display_logic_on_answers_and_embedded_data():
    definition = sample()
    questions = schema.question_map(definition)
    qid2, qid6 = questions["QID2"], questions["QID6"]
    assert not logic.is_displayed(qid2, {}, {}, questions)
    assert logic.is_displayed(qid2, {"QID1": 6}, {}, questions)
    assert not logic.is_displayed(qid2, {"QID1": 7}, {}, questions)
    assert logic.is_displayed(qid6, {}, {"Store": "Oslo"}, questions)
    assert not logic.is_displayed(qid6, {}, {"Store": "oslo"}, questions)
    assert not logic.is_displayed(qid6, {}, {}, questions)


@pytest.mark.parametrize(
    ("op", "actual", "expected", "holds"),
    [
        ("=", "10", 10, True),
        ("!=", "a", "b", True),
        ("!=", None, "b", True),
        (">", 9, "8", True),
        (">=", 8, 9, False),
        ("<", "apple", "banana", True),
        ("<=", 3, 3, True),
        ("contains", "Hello World", "world", True),
        ("empty", "", None, True),
        ("not_empty", "x", None, True),
        ("=", None, "", False),
    ],
)
def test_comparisons(op, actual, expected, holds):
    condition = {"embedded": "X", "op": op, "value": expected}
    assert logic.condition_holds(condition, {}, {"X": actual}, {}) is holds


def test_choice_conditions_and_matrix_rows():
    definition = sample()
    questions = schema.question_map(definition)
    answers = {"QID2": {"choices": ["1", "3"], "text": {"3": "x"}}, "QID4": {"1": "3"}}
    holds = logic.condition_holds
    assert holds({"question": "QID2", "op": "selected", "choice": "3"}, answers, {}, questions)
    assert holds({"question": "QID2", "op": "not_selected", "choice": "2"}, answers, {}, questions)
    assert holds({"question": "QID2", "op": "=", "value": "Speed"}, answers, {}, questions)
    matrix = {"question": "QID4", "row": "1", "op": "selected", "choice": "3"}
    assert holds(matrix, answers, {}, questions)
    assert not holds(matrix | {"row": "2"}, answers, {}, questions)


def test_next_page_skips_pages_without_visible_questions():
    definition = sample()
    pages = schema.pages(definition)
    questions = schema.question_map(definition)
    assert logic.next_page(pages, 0, {"QID1": 9}, {}, questions) == 2
    assert logic.next_page(pages, 0, {"QID1": 5}, {}, questions) == 1
    assert logic.next_page(pages, 2, {"QID1": 9}, {}, questions, step=-1) == 0
    assert logic.next_page(pages, 3, {"QID1": 9}, {}, questions) is None
    assert logic.first_page(definition, {}, {}) == 0


def test_prune_hidden_drops_answers_of_questions_not_shown():
    answers = {"QID1": 10, "QID2": {"choices": ["1"]}, "QID6": "hi"}
    assert logic.prune_hidden(sample(), answers, {"Store": "Bergen"}) == {"QID1": 10}


def test_parse_answers_of_every_type():
    q = schema.question_map(sample())
    assert logic.parse_answer(q["QID1"], form({"QID1": "9"})) == logic.Parsed(9)
    assert logic.parse_answer(q["QID1"], form({})).error == "Please choose a value."
    assert "from 0 to 10" in logic.parse_answer(q["QID1"], form({"QID1": "11"})).error
    assert "from 0 to 10" in logic.parse_answer(q["QID1"], form({"QID1": "-1"})).error
    parsed = logic.parse_answer(q["QID2"], form({"QID2": ["1", "3"], "QID2_TEXT_3": " more "}))
    assert parsed == logic.Parsed({"choices": ["1", "3"], "text": {"3": "more"}})
    assert "fill in" in logic.parse_answer(q["QID2"], form({"QID2": "3"})).error
    assert "one of the options" in logic.parse_answer(q["QID2"], form({"QID2": "7"})).error
    assert logic.parse_answer(q["QID2"], form({})) == logic.Parsed(None)
    assert logic.parse_answer(q["QID3"], form({"QID3": "5"})).value == 5
    assert logic.parse_answer(q["QID3"], form({"QID3": "6"})).error
    assert logic.parse_answer(q["QID4"], form({"QID4_ROW_1": "2"})).value == {"1": "2"}
    assert logic.parse_answer(q["QID4"], form({"QID4_ROW_1": "9"})).error
    assert logic.parse_answer(q["QID5"], form({"QID5": "a@b.co"})).value == "a@b.co"
    assert "valid email" in logic.parse_answer(q["QID5"], form({"QID5": "nope"})).error
    assert logic.parse_answer(q["QID6"], form({"QID6": "line\nline"})).value == "line\nline"


def test_single_choice_refuses_two_answers_and_required_matrix_needs_every_row():
    q = schema.question_map(simple("mc", "matrix"))
    assert "only one" in logic.parse_answer(q["QID1"], form({"QID1": ["1", "2"]})).error
    q["QID2"]["required"] = True
    assert "every statement" in logic.parse_answer(q["QID2"], form({"QID2_ROW_1": "1"})).error


def test_oversized_and_numeric_text_answers():
    q = schema.question_map(simple("text"))["QID1"]
    assert "too long" in logic.parse_answer(q, form({"QID1": "x" * 1001})).error
    q["multiline"] = True
    assert logic.parse_answer(q, form({"QID1": "x" * 1001})).error == ""
    assert "too long" in logic.parse_answer(q, form({"QID1": "x" * 10_001})).error
    q["validation"] = "number"
    assert logic.parse_answer(q, form({"QID1": "-3.5"})).value == "-3.5"
    assert logic.parse_answer(q, form({"QID1": "3e5"})).error == "Please enter a number."


def test_piped_answers():
    definition = sample()
    questions = schema.question_map(definition)
    answers = {
        "QID1": 4,
        "QID2": {"choices": ["1", "3"], "text": {"3": "<b>other</b>"}},
        "QID4": {"1": "3"},
        "QID5": "x@y.z",
    }
    context = {"q": lambda item: logic.piped_answer(item, answers, questions)}

    def pipe(text):
        return piping.render(text, context, escape_html=True)

    assert pipe("${q://QID2/ChoiceGroup/SelectedChoices}") == "Speed, Other"
    assert pipe("${q://QID2/ChoiceGroup/SelectedChoicesRecode}") == "1, 9"
    assert pipe("${q://QID2/ChoiceTextEntryValue/3}") == "&lt;b&gt;other&lt;/b&gt;"
    assert pipe("${q://QID2/ChoiceGroup/UnselectedChoices}") == "Price"
    assert pipe("${q://QID1/ChoiceNumericEntryValue}") == "4"
    assert pipe("${q://QID1/ChoiceGroup/SelectedChoices}") == "4"
    assert pipe("${q://QID4/ChoiceGroup/SelectedAnswers/1}") == "Agree"
    assert pipe("${q://QID5/ChoiceTextEntryValue}") == "x@y.z"
    assert pipe("${q://QID9/ChoiceTextEntryValue}") == ""


def test_translations_replace_texts():
    definition = sample()
    definition["translations"]["FR"]["QID2"] = {"choices": {"1": "Vitesse"}}
    french = schema.translated(definition, "FR")
    questions = schema.question_map(french)
    assert questions["QID1"]["text"].startswith("Recommanderiez-vous")
    assert questions["QID2"]["choices"][0]["text"] == "Vitesse"
    assert questions["QID2"]["choices"][1]["text"] == "Price"
    assert schema.translated(definition, "DE") is definition


def test_answer_text_and_nps_groups():
    q = schema.question_map(sample())
    assert logic.answer_text(q["QID2"], {"choices": ["3"], "text": {"3": "x"}}) == "Other: x"
    assert logic.answer_text(q["QID4"], {"1": "3", "2": "1"}) == "Friendly: Agree; Quick: Disagree"
    assert logic.answer_text(q["QID1"], None) == ""
    assert [logic.nps_group(n) for n in (0, 6, 7, 8, 9, 10, None)] == [
        "detractor",
        "detractor",
        "passive",
        "passive",
        "promoter",
        "promoter",
        None,
    ]


def test_display_logic_joins_several_conditions_with_and_or_or():
    questions = schema.question_map(sample())
    answers = {"QID1": 4, "QID2": {"choices": ["3"], "text": {"3": "Parking"}}}
    conditions = [
        {"question": "QID1", "op": "<=", "value": 6},
        {"question": "QID2", "op": "selected", "choice": "1"},
        {"embedded": "Store", "op": "=", "value": "Oslo"},
    ]

    def shown(conjunction, embedded):
        question = {"id": "QID9", "display": {"conjunction": conjunction, "conditions": conditions}}
        return logic.is_displayed(question, answers, embedded, questions)

    assert not shown("and", {"Store": "Oslo"})  # QID2 choice 1 was not selected
    assert shown("or", {"Store": "Bergen"})  # QID1 is 4
    conditions[0]["value"] = 3
    assert not shown("or", {"Store": "Bergen"})
    assert shown("or", {"Store": "Oslo"})
