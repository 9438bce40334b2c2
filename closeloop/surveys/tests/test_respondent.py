"""Respondent pages: anonymous and individual links, embedded data, piped text, display
logic, validation, resume, back, expiry, single use, closed surveys, rate limits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from closeloop.directory import actions as directory_actions
from closeloop.jobs.models import Job
from closeloop.surveys import actions
from closeloop.surveys.models import Response, SurveyLink
from closeloop.surveys.tests.conftest import make_contact, make_survey
from closeloop.surveys.tests.sample import sample, simple

pytestmark = pytest.mark.django_db


def path_of(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[1].join(["/", ""])


def link_for(survey, contact, **kwargs):
    _link, url = actions.create_link(survey, contact, **kwargs)
    return path_of(url)


def post(client, url, page, data=None, action="next"):
    return client.post(url, {"page": page, "action": action, **(data or {})})


def test_individual_link_full_run(client, survey_a, contact_a):
    url = link_for(survey_a, contact_a, delivery_id="EMD_123")
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Ann, how likely are you to recommend Oslo?" in html
    assert 'lang="en"' in html
    response = Response.objects.get()
    assert response.contact == contact_a
    assert response.embedded_data == {"Store": "Oslo"}
    assert response.delivery_id == "EMD_123"
    assert response.metadata["channel"] == "individual"

    done = post(client, url, 0, {"QID1": "5"})
    assert done.status_code == 302
    response.refresh_from_db()
    assert response.answers == {"QID1": 5}
    assert response.last_page == 1

    html = client.get(url).content.decode()
    assert 'name="QID2"' in html  # shown: the score was 6 or less
    assert "Back" in html
    post(client, url, 1, {"QID2": ["1", "3"], "QID2_TEXT_3": "Parking"})
    html = client.get(url).content.decode()
    assert "You chose Speed, Other. Rate the staff." in html
    post(client, url, 2, {"QID3": "4", "QID4_ROW_1": "3"})
    html = client.get(url).content.decode()
    assert "Anything else about Oslo?" in html
    finish = post(client, url, 3, {"QID5": "ann@example.com", "QID6": "Great <b>staff</b>"})
    assert finish.status_code == 302 and finish["Location"].endswith("/done")
    thanks = client.get(finish["Location"])
    assert "Thank you Ann! We will share this with Oslo." in thanks.content.decode()

    response.refresh_from_db()
    assert response.finished and response.finished_at is not None
    assert response.progress == 100
    assert response.answers == {
        "QID1": 5,
        "QID2": {"choices": ["1", "3"], "text": {"3": "Parking"}},
        "QID3": 4,
        "QID4": {"1": "3"},
        "QID5": "ann@example.com",
        "QID6": "Great <b>staff</b>",
    }
    assert SurveyLink.objects.get().used_at is not None
    job = Job.objects.get(kind="surveys.response_finished")
    assert job.payload == {
        "response": response.public_id,
        "survey": survey_a.public_id,
        "finished": True,
    }
    assert job.idempotency_key == f"surveys.response_finished:{response.public_id}"

    again = client.get(url)
    assert again.status_code == 200
    assert "already taken this survey" in again.content.decode()
    assert post(client, url, 3, {"QID5": "x@y.z"}).status_code == 200
    assert Response.objects.count() == 1


def test_display_logic_shows_follow_up_for_detractors(client, survey_a, contact_a):
    url = link_for(survey_a, contact_a)
    client.get(url)
    post(client, url, 0, {"QID1": "3"})
    assert 'name="QID2"' in client.get(url).content.decode()

    other = make_contact(survey_a.organization, "bo@example.com")
    url2 = link_for(survey_a, other)
    client.get(url2)
    post(client, url2, 0, {"QID1": "9"})
    html = client.get(url2).content.decode()
    assert 'name="QID2"' not in html and "Rate the staff" in html


def test_validation_errors_are_shown_and_linked(client, survey_a, contact_a):
    url = link_for(survey_a, contact_a)
    client.get(url)
    page = post(client, url, 0, {})
    html = page.content.decode()
    assert page.status_code == 200
    assert 'role="alert"' in html and 'href="#QID1"' in html
    assert 'aria-describedby="QID1-error QID1-labels"' in html
    assert 'id="QID1-error"' in html and "Please choose a value." in html
    assert Response.objects.get().last_page == 0

    post(client, url, 0, {"QID1": "10"})
    page = post(client, url, 2, {"QID3": "9"})
    assert "Please choose a value from 1 to 5." in page.content.decode()
    post(client, url, 2, {"QID3": "3"})
    page = post(client, url, 3, {"QID5": "not an email"})
    html = page.content.decode()
    assert "Please enter a valid email address" in html
    assert 'value="not an email"' in html  # what was typed is shown again


def test_oversized_answers_are_refused(client, survey_a, contact_a):
    url = link_for(survey_a, contact_a)
    client.get(url)
    post(client, url, 0, {"QID1": "10"})
    post(client, url, 2, {"QID3": "3"})
    page = post(client, url, 3, {"QID5": "a@b.co", "QID6": "x" * 10_001})
    assert "too long" in page.content.decode()
    response = Response.objects.get()
    assert "QID6" not in response.answers and response.finished_at is None


def test_script_in_answers_and_piped_values_is_escaped(client, org_a):
    organization, user = org_a
    survey = make_survey(organization, user)
    hostile = '<script>alert("x")</script>'
    contact = make_contact(organization, embedded={"Store": hostile}, firstName=hostile)
    url = link_for(survey, contact)
    html = client.get(url).content.decode()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    post(client, url, 0, {"QID1": "2"})
    post(client, url, 1, {"QID2": ["3"], "QID2_TEXT_3": hostile})
    html = client.get(url).content.decode()
    assert "<script>" not in html
    assert "You chose Other." in html
    post(client, url, 2, {"QID3": "3"})
    post(client, url, 3, {})
    answers = Response.objects.get().answers
    assert answers["QID2"]["text"]["3"] == hostile  # stored as typed, escaped when shown
    thanks = client.get(url + "/done").content.decode()
    assert "<script>" not in thanks


def test_back_button_keeps_answers(client, survey_a, contact_a):
    url = link_for(survey_a, contact_a)
    client.get(url)
    post(client, url, 0, {"QID1": "8"})
    post(client, url, 2, {"QID3": "2"}, action="back")
    response = Response.objects.get()
    assert response.last_page == 0
    assert response.answers == {"QID1": 8, "QID3": 2}
    html = client.get(url).content.decode()
    assert 'value="8" checked' in html


def test_leaving_and_coming_back_resumes(client, survey_a, contact_a):
    url = link_for(survey_a, contact_a)
    client.get(url)
    post(client, url, 0, {"QID1": "10"})
    client.cookies.clear()
    html = client.get(url).content.decode()
    assert "Rate the staff" in html
    assert Response.objects.count() == 1


def test_stale_page_submission_changes_nothing(client, survey_a, contact_a):
    url = link_for(survey_a, contact_a)
    client.get(url)
    post(client, url, 0, {"QID1": "10"})
    post(client, url, 0, {"QID1": "1"})  # a second tab still on page 0
    response = Response.objects.get()
    assert response.answers == {"QID1": 10} and response.last_page == 2
    assert post(client, url, "x", {}).status_code == 302


def test_anonymous_link_resumes_with_a_signed_cookie(client, org_a):
    definition = sample()
    definition["flow"][0]["fields"][0]["source"] = "query"
    survey_a = make_survey(*org_a, definition)
    url = f"/jfe/form/{survey_a.public_id}?Store=Bergen&Q_Language=fr"
    page = client.get(url)
    assert page.status_code == 200
    assert Response.objects.count() == 0  # nothing is stored until the first answer
    assert "Recommanderiez-vous Bergen ?" in page.content.decode()
    assert 'lang="fr"' in page.content.decode()
    post(client, url, 0, {"QID1": "9"})
    response = Response.objects.get()
    assert response.contact is None and response.language == "FR"
    assert response.embedded_data == {"Store": "Bergen"}
    cookie = client.cookies[f"clr_{survey_a.public_id}"]
    assert response.public_id in cookie.value and cookie["httponly"]

    assert "Rate the staff" in client.get(f"/jfe/form/{survey_a.public_id}").content.decode()
    stranger = type(client)()
    assert "Recommanderiez" not in stranger.get(url.split("&")[0]).content.decode()
    assert "how likely" in stranger.get(f"/jfe/form/{survey_a.public_id}").content.decode()

    forged = type(client)()
    forged.cookies[f"clr_{survey_a.public_id}"] = response.public_id
    assert "how likely" in forged.get(f"/jfe/form/{survey_a.public_id}").content.decode()


def test_embedded_data_sources(org_a):
    organization, user = org_a
    definition = sample()
    definition["flow"][0]["fields"] = [
        {"name": "Store", "source": "contact", "value": ""},
        {"name": "Case Id", "source": "transaction", "value": ""},
        {"name": "campaign", "source": "query", "value": ""},
        {
            "name": "Greeting",
            "source": "fixed",
            "value": "Hi ${m://FirstName} from ${e://Field/Store}",
        },
        {"name": "Tier", "source": "contact", "value": ""},
    ]
    survey = make_survey(organization, user, definition)
    contact = make_contact(organization, embedded={"Store": "Oslo", "store": "wrong case"})
    transaction = directory_actions.add_transaction(
        contact, timezone.now(), {"Case Id": "500XYZ", "Other": "ignored"}
    )
    link, _url = actions.create_link(
        survey, contact, transaction=transaction, embedded_data={"Tier": "Gold", "Extra": 1}
    )
    response = actions.start_link_response(link)
    assert response.embedded_data == {
        "Store": "Oslo",
        "Case Id": "500XYZ",
        "campaign": "",
        "Greeting": "Hi Ann from Oslo",
        "Tier": "Gold",
    }
    anonymous = actions.start_response(
        survey, survey.current_version, query={"campaign": "spring", "Store": "x"}
    )
    assert anonymous.embedded_data["campaign"] == "spring"
    assert anonymous.embedded_data["Store"] == ""  # contact source: no contact, no value


def test_expired_link(client, survey_a, contact_a):
    url = link_for(survey_a, contact_a, expires_at=timezone.now() - timedelta(seconds=1))
    page = client.get(url)
    assert page.status_code == 410
    assert "expired" in page.content.decode()
    assert Response.objects.count() == 0


def test_links_expire_after_the_survey_setting(survey_a, contact_a):
    link, _ = actions.create_link(survey_a, contact_a)
    assert abs((link.expires_at - timezone.now()) - timedelta(days=60)) < timedelta(minutes=1)
    actions.update_settings(survey_a, link_expiry_days=3)
    link, _ = actions.create_link(survey_a, contact_a)
    assert abs((link.expires_at - timezone.now()) - timedelta(days=3)) < timedelta(minutes=1)


def test_closed_survey_page(client, survey_a, contact_a):
    url = link_for(survey_a, contact_a)
    actions.close_survey(survey_a)
    assert "This survey is closed" in client.get(url).content.decode()
    page = client.get(f"/jfe/form/{survey_a.public_id}")
    assert "This survey is closed" in page.content.decode()
    actions.reopen_survey(survey_a)
    assert "how likely" in client.get(url).content.decode()


@pytest.mark.parametrize(
    "path",
    [
        "/jfe/l/forged-token",
        "/jfe/l/" + "x" * 500,
        "/jfe/l/forged/done",
        "/jfe/form/SV_doesnotexist123",
        "/jfe/form/SV_doesnotexist123/done",
    ],
)
def test_forged_tokens_and_unknown_surveys_are_404(client, survey_a, path):
    assert client.get(path).status_code == 404


def test_draft_surveys_are_not_reachable(client, org_a):
    survey = make_survey(*org_a, publish=False)
    assert client.get(f"/jfe/form/{survey.public_id}").status_code == 404
    with pytest.raises(actions.SurveyNotActive, match="is not active: publish it first"):
        actions.create_link(survey, make_contact(org_a[0]))


def test_respondents_see_the_latest_published_version(client, survey_a, contact_a):
    url = link_for(survey_a, contact_a)
    client.get(url)  # started on version 1
    definition = sample()
    definition["blocks"][0]["elements"][0]["text"] = "Version two question"
    actions.save_definition(survey_a, definition)
    anonymous = f"/jfe/form/{survey_a.public_id}"
    assert "Version two" not in client.get(anonymous).content.decode()  # draft only
    actions.publish(survey_a)
    fresh = type(client)()
    assert "Version two" in fresh.get(anonymous).content.decode()
    assert "Version two" not in client.get(url).content.decode()  # in progress: own version


def test_rate_limit(client, settings, survey_a):
    settings.CLOSELOOP_SURVEY_RATE_LIMIT = 3
    url = f"/jfe/form/{survey_a.public_id}"
    statuses = [client.get(url).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    other = client.get(url, REMOTE_ADDR="10.0.0.9")
    assert other.status_code == 200


def test_csrf_is_enforced(survey_a, contact_a):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    url = link_for(survey_a, contact_a)
    assert strict.post(url, {"page": 0, "QID1": "9"}).status_code == 403
    page = strict.get(url)
    token = page.cookies["csrftoken"].value
    answered = strict.post(url, {"page": 0, "QID1": "9", "csrfmiddlewaretoken": token})
    assert answered.status_code == 302


def test_every_question_type_renders_accessibly(client, org_a):
    organization, user = org_a
    survey = make_survey(organization, user, simple("mc", "text", "nps", "rating", "matrix"))
    html = client.get(f"/jfe/form/{survey.public_id}").content.decode()
    assert html.count("<h1") == 1
    assert html.count('<fieldset class="question') == 5
    assert html.count("<legend") == 5 + 2  # five questions, two matrix statements
    for qid in ("QID1", "QID2", "QID3", "QID4", "QID5"):
        assert f'id="{qid}-legend"' in html
    assert 'aria-labelledby="QID2-legend"' in html  # the text box is named by its question
    assert '<label for="QID3-10">10</label>' in html
    assert '<label for="QID5-1-5">Strongly agree</label>' in html


def test_question_on_hidden_page_is_skipped(client, org_a):
    organization, user = org_a
    definition = simple("nps", "text")
    definition["blocks"][0]["elements"].insert(1, {"type": "page_break"})
    definition["blocks"][0]["elements"][2]["display"] = {
        "conjunction": "and",
        "conditions": [{"question": "QID1", "op": "<", "value": "7"}],
    }
    survey = make_survey(organization, user, definition)
    url = f"/jfe/form/{survey.public_id}"
    finished = post(client, url, 0, {"QID1": "10"})
    assert finished["Location"].endswith("/done")
    response = Response.objects.get()
    assert response.finished and response.answers == {"QID1": 10}
    assert "Thank you" in client.get(finished["Location"]).content.decode()


def test_respondent_pages_read_once_and_write_once(client, survey_a, contact_a):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = link_for(survey_a, contact_a)
    client.get(url)  # starts the response
    with CaptureQueriesContext(connection) as view:
        assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as submit:
        assert post(client, url, 0, {"QID1": "9"}).status_code == 302
    assert len(view) == 1  # link, survey, contact, response and version in one read
    writes = [q["sql"] for q in submit if not q["sql"].startswith("SELECT")]
    assert len(submit) == 2 and len(writes) == 1 and writes[0].startswith("UPDATE")


def test_a_submit_that_lost_a_race_changes_nothing(survey_a, contact_a):
    link, _url = actions.create_link(survey_a, contact_a)
    response = actions.start_link_response(link)
    stale = Response.objects.select_related("version", "survey").get(pk=response.pk)
    first = actions.submit_page(response, 0, lambda name: ["9"] if name == "QID1" else [])
    assert first.saved and first.page == 2  # 9: the page of QID2 (shown if 6 or less) skipped
    # The same page again from a copy read before the first save (a double submit).
    late = actions.submit_page(stale, 0, lambda name: ["2"] if name == "QID1" else [])
    assert not late.finished and late.page == 2
    response.refresh_from_db()
    assert response.answers == {"QID1": 9} and response.last_page == 2


def test_published_versions_are_cached_by_id_and_publication_time(org_a):
    from closeloop.surveys import published

    survey = make_survey(*org_a)
    version = survey.current_version
    cached = published.version(version.pk, version.published_at)
    assert cached.definition == version.definition
    assert published.version(version.pk, version.published_at) is cached
    other_time = version.published_at + timedelta(seconds=1)  # a reused id: never served
    assert published.version(version.pk, other_time) is not cached


def test_unanswered_questions_without_piped_text_render_once(client, survey_a, contact_a):
    from closeloop.surveys import presenter, published

    definition = survey_a.current_version.definition
    questions = {q["id"]: q for q in definition["blocks"][0]["elements"] if "id" in q}
    assert not presenter.is_static(questions["QID1"], None, "")  # ${m://FirstName}
    assert presenter.is_static(questions["QID4"], None, "")
    assert not presenter.is_static(questions["QID4"], {"1": "3"}, "")  # answered: checked
    assert not presenter.is_static(questions["QID4"], None, "Please answer every statement.")

    published.forget_all()
    url = link_for(survey_a, contact_a)
    post(client, url, 0, {"QID1": "9"})  # 9: straight to the page of QID3 and QID4
    first = client.get(url).content.decode()
    checked = 'id="QID4-1-3" value="3" checked'
    assert 'id="QID4-1-3" value="3">' in first and checked not in first
    assert [key[-1] for key in published._fragments] == ["QID4"]  # QID3 pipes QID2
    errors = post(client, url, 2, {"QID4_ROW_1": "3"})  # QID3 is required: shown again
    html = errors.content.decode()
    assert errors.status_code == 200 and checked in html and 'id="QID3-error"' in html
    assert first.count('<fieldset class="question') == html.count('<fieldset class="question')


def test_submit_shows_on_the_last_page_display_logic_leaves(client, org_a):
    from closeloop.surveys.tests.test_last_page import three_pages

    organization, user = org_a
    definition = three_pages()
    definition["flow"].insert(
        0,
        {"type": "embedded_data", "fields": [{"name": "Store", "source": "contact", "value": ""}]},
    )
    survey = make_survey(organization, user, definition)
    submit = ">Submit <span"

    oslo = link_for(survey, make_contact(organization, "oslo@example.com"))
    assert ">Next <span" in client.get(oslo).content.decode()  # the store page follows

    bergen = link_for(survey, make_contact(organization, "bergen@example.com", {"Store": "Bergen"}))
    assert submit in client.get(bergen).content.decode()
    finished = post(client, bergen, 0, {"QID1": "10"})
    assert finished["Location"].endswith("/done")

    # A detractor's score reveals the next page: Submit goes there, and that page submits.
    detractor = link_for(survey, make_contact(organization, "bo@example.com", {"Store": "Bergen"}))
    assert submit in client.get(detractor).content.decode()
    assert not post(client, detractor, 0, {"QID1": "3"})["Location"].endswith("/done")
    html = client.get(detractor).content.decode()
    assert 'name="QID2"' in html and submit in html
    assert post(client, detractor, 1, {"QID2": "Slow"})["Location"].endswith("/done")
    assert Response.objects.filter(survey=survey, finished=True).count() == 2
