"""Piped text: parsing, rendering, escaping, save-time checks, and linear time on hostile input."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from closeloop import piping
from closeloop.piping import Field, Text, fields_used, parse, render, unknown_fields

NOW = datetime(2024, 6, 21, 15, 4, 5, tzinfo=UTC)


def context(**extra):
    base = {
        "m": {"FirstName": "Ann", "LastName": "Lee", "Email": "ann@example.com"},
        "e": {"Store": "Oslo", "Store Name": "Oslo Central", "store": "lowercase"},
        "l": {"SurveyLink": "https://cl.test/jfe/l/abc", "OptOutLink": "https://cl.test/o/x"},
        "now": NOW,
    }
    return base | extra


def test_parse_splits_text_and_fields():
    segments = parse("Hi ${m://FirstName}, your store: ${e://Field/Store Name}!")
    assert segments == [
        Text("Hi "),
        Field(raw="${m://FirstName}", sigil="$", scheme="m", path="FirstName"),
        Text(", your store: "),
        Field(raw="${e://Field/Store Name}", sigil="$", scheme="e", path="Field/Store Name"),
        Text("!"),
    ]
    assert segments[3].key == "Store Name"


def test_contact_and_embedded_fields_render():
    text = "${m://FirstName} ${m://LastName} <${m://Email}> ${e://Field/Store Name}"
    assert render(text, context(), escape_html=False) == "Ann Lee <ann@example.com> Oslo Central"


def test_embedded_data_names_are_case_sensitive():
    assert render("${e://Field/store}|${e://Field/STORE}", context(), escape_html=False) == (
        "lowercase|"
    )


def test_unknown_fields_render_empty():
    text = "a${m://Nickname}b${e://Field/Missing}c${x://What}d${e://NotField}e"
    assert render(text, context(), escape_html=False) == "abcde"


def test_text_without_fields_is_unchanged():
    for text in ["", "plain", "$ { m://x }", "${m:/x}", "${}", "~{m://FirstName}", "${M://A}"]:
        assert render(text, context(), escape_html=False) == text
        assert fields_used(text) == []


def test_values_are_escaped_for_html_and_not_for_text():
    hostile = {"e": {"Note": '<script>alert("x")</script>&'}}
    assert render("${e://Field/Note}", hostile, escape_html=True) == (
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;"
    )
    assert render("${e://Field/Note}", hostile, escape_html=False) == (
        '<script>alert("x")</script>&'
    )


def test_escape_text_escapes_the_template_too():
    out = render("<b>${m://FirstName}</b>", context(), escape_html=True, escape_text=True)
    assert out == "&lt;b&gt;Ann&lt;/b&gt;"
    assert render("<b>${m://FirstName}</b>", context(), escape_html=True) == "<b>Ann</b>"


def test_survey_link_is_an_anchor_in_html_and_the_url_in_text():
    text = "${l://SurveyLink?d=Take the survey}"
    assert render(text, context(), escape_html=True) == (
        '<a href="https://cl.test/jfe/l/abc">Take the survey</a>'
    )
    assert render(text, context(), escape_html=False) == "https://cl.test/jfe/l/abc"
    assert render("${l://SurveyURL}", context(), escape_html=True) == "https://cl.test/jfe/l/abc"
    assert render("${l://OptOutLink?d=Stop%20emails}", context(), escape_html=True) == (
        '<a href="https://cl.test/o/x">Stop emails</a>'
    )


def test_link_label_is_escaped_and_unsafe_urls_are_not_links():
    text = '${l://SurveyLink?d=<img src=x onerror="a">}'
    out = render(text, context(), escape_html=True)
    assert "<img" not in out and "&lt;img" in out
    out = render(
        "${l://SurveyLink?d=go}", {"l": {"SurveyLink": "javascript:alert(1)"}}, escape_html=True
    )
    assert out == "javascript:alert(1)"
    assert "<a" not in out


def test_question_fields_go_to_a_callable():
    answers = {"QID1": ["Red", "Blue"], "QID2": "<i>great</i>"}

    def question(item: Field):
        if item.selector == "ChoiceGroup/SelectedChoices":
            return answers.get(item.key)
        if item.selector == "ChoiceTextEntryValue":
            return answers.get(item.key)
        return None

    text = "${q://QID1/ChoiceGroup/SelectedChoices} / ${q://QID2/ChoiceTextEntryValue}"
    assert render(text, {"q": question}, escape_html=True) == "Red, Blue / &lt;i&gt;great&lt;/i&gt;"


def test_dates():
    ctx = context()
    assert render("${date://CurrentDate/Y-m-d}", ctx, escape_html=False) == "2024-06-21"
    assert render("${date://CurrentDate/SL}", ctx, escape_html=False) == "06/21/2024"
    assert render("${date://CurrentDate/FL}", ctx, escape_html=False) == "Friday, June 21, 2024"
    assert render("${date://CurrentDate/DS}", ctx, escape_html=False) == "June 21, 2024"
    assert render("${date://CurrentTime/PT}", ctx, escape_html=False) == "3:04 PM"
    assert render("${date://CurrentDate/d%2Fm%2FY}", ctx, escape_html=False) == "21/06/2024"
    assert render("${date://CurrentDate/\\Y: Y}", ctx, escape_html=False) == "Y: 2024"
    plus2 = NOW.astimezone(timezone(timedelta(hours=2)))
    assert render("${date://CurrentDate/ISO}", {"now": plus2}, escape_html=False) == (
        "2024-06-21T17:04:05+02:00"
    )
    assert render("${date://Tomorrow/Y}", ctx, escape_html=False) == ""


def test_workflow_fields_with_mapping_and_json_path():
    outputs = {
        "OCAC_1": {"Subject": "Broken", "Case": {"Owner": {"Name": "Bo"}, "Tags": ["a", "b"]}},
        "OCAC_2": {"weird key": 5},
    }
    text = (
        "~{ch://OCAC_1/Subject}|~{ch://OCAC_1/$.Case.Owner.Name}|~{ch://OCAC_1/$.Case.Tags[1]}"
        "|~{ch://OCAC_2/$['weird key']}|~{ch://OCAC_1/$.Nope}|~{ch://OCAC_9/Subject}"
    )
    assert render(text, {"ch": outputs}, escape_html=False) == "Broken|Bo|b|5||"


def test_workflow_fields_with_a_callable():
    seen = []

    def resolve(item):
        seen.append((item.key, item.selector))
        return {"a": 1}

    assert render("~{ch://T1/$.x}", {"ch": resolve}, escape_html=False) == '{"a": 1}'
    assert seen == [("T1", "$.x")]


def test_value_conversion():
    ctx = {"e": {"B": True, "N": 3, "F": 2.5, "L": ["x", None, 2], "None": None}}
    text = "${e://Field/B},${e://Field/N},${e://Field/F},${e://Field/L},${e://Field/None}"
    assert render(text, ctx, escape_html=False) == "true,3,2.5,x, 2,"


def test_fields_used_is_ordered_and_unique():
    text = "${m://FirstName} ${e://Field/A} ${m://FirstName} ~{ch://T/x}"
    assert [item.raw for item in fields_used(text)] == [
        "${m://FirstName}",
        "${e://Field/A}",
        "~{ch://T/x}",
    ]
    assert piping.keys_of(fields_used(text), "e") == ["A"]


def test_unknown_fields_for_save_time_validation():
    text = (
        "${m://FirstName} ${m://Nick} ${e://Field/Store} ${e://Field/store} "
        "${q://QID1/ChoiceGroup/SelectedChoices} ${q://QID9/ChoiceTextEntryValue} "
        "${q://QID1/Bogus} ${date://CurrentDate/SL} ${l://SurveyLink} ${l://Elsewhere} "
        "${zz://x} ~{ch://T1/$.a}"
    )
    available = {
        "m": piping.CONTACT_FIELDS,
        "e": {"Store"},
        "q": {"QID1"},
        "date": None,
        "l": lambda item: item.key == "SurveyLink",
    }
    assert [item.raw for item in unknown_fields(text, available)] == [
        "${m://Nick}",
        "${e://Field/store}",
        "${q://QID9/ChoiceTextEntryValue}",
        "${q://QID1/Bogus}",
        "${l://Elsewhere}",
        "${zz://x}",
        "~{ch://T1/$.a}",
    ]


def test_walk_path_edge_cases():
    assert piping.walk_path({"a": [1]}, "$.a[3]") is None
    assert piping.walk_path({"a": 1}, "$..a") is None
    assert piping.walk_path({"a": 1}, "$") == {"a": 1}
    assert piping.walk_path("text", "$.a") is None
    assert piping.walk_path(None, "a") is None


# Properties -----------------------------------------------------------------------------

piece = st.sampled_from(
    ["${", "~{", "}", "://", "m", "e", "Field/", "q", "QID1", "/", "$", "~", "{", "a", " ", "<"]
)
texts = st.one_of(st.text(max_size=200), st.lists(piece, max_size=60).map("".join))


@given(texts)
@settings(max_examples=300, deadline=None)
def test_parse_round_trips(text):
    segments = parse(text)
    rebuilt = "".join(s.value if isinstance(s, Text) else s.raw for s in segments)
    assert rebuilt == text


@given(texts)
@settings(max_examples=300, deadline=None)
def test_render_without_context_only_drops_fields(text):
    expected = "".join(s.value for s in parse(text) if isinstance(s, Text))
    assert render(text, {}, escape_html=False) == expected


@given(st.text(max_size=100))
@settings(max_examples=200, deadline=None)
def test_escaped_values_never_carry_markup(value):
    out = render("${e://Field/X}", {"e": {"X": value}}, escape_html=True)
    assert "<" not in out and ">" not in out and '"' not in out


@pytest.mark.parametrize(
    "unit",
    ["${", "${m://", "${e://Field/", "~{ch://", "${aaaa", "${m://x}", "$~{", "${m://a{"],
)
def test_hostile_input_takes_linear_time(unit):
    def fastest_of_three(text: str) -> float:
        # The fastest run: another process taking the CPU only ever adds time.
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            render(text, context(), escape_html=True)
            timings.append(time.perf_counter() - started)
        return min(timings)

    small_time = fastest_of_three(unit * 2_000)
    large_time = fastest_of_three(unit * 40_000)
    # 20 times the input: linear takes ~20 times as long, quadratic ~400 times.
    assert large_time < max(small_time * 80, 0.5)


def test_piping_imports_no_django():
    import subprocess
    import sys

    code = (
        "import sys, closeloop.piping; "
        "assert not [m for m in sys.modules if m.split('.')[0] == 'django'], 'django imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
