from __future__ import annotations

from django import forms

from closeloop.directory import queries as directory_queries
from closeloop.integrations.segment import use_cases as presets
from closeloop.integrations.segment.actions import MAX_SECRET
from closeloop.integrations.segment.models import UseCase
from closeloop.surveys import queries as survey_queries


class SourceForm(forms.Form):
    name = forms.CharField(
        label="Source name", max_length=100, help_text="The website or app Segment collects from."
    )
    directory = forms.ChoiceField(label="Directory", required=False)
    use_cases = forms.MultipleChoiceField(
        label="Use cases",
        choices=UseCase.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[UseCase.CONTACTS, UseCase.TRANSACTIONS],
        help_text="Each becomes a workflow of its own, with the filters and tasks it needs.",
    )
    transaction_event = forms.CharField(
        label="Transaction event name",
        max_length=200,
        required=False,
        initial=presets.DEFAULT_TRANSACTION_EVENT,
    )
    workflow_event = forms.CharField(
        label="Event that starts the workflow",
        max_length=200,
        required=False,
        initial=presets.DEFAULT_WORKFLOW_EVENT,
    )
    survey = forms.ChoiceField(label="Survey to send", required=False)
    secret = forms.CharField(
        label="Shared secret (optional)",
        max_length=MAX_SECRET,
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text="The Shared Secret of the Webhooks (Actions) destination, to check X-Signature.",
    )

    def __init__(self, organization, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.fields["directory"].choices = [("", "The default directory")] + [
            (item.public_id, item.name) for item in directory_queries.directories_of(organization)
        ]
        self.fields["survey"].choices = [("", "Choose a published survey…")] + [
            (item.public_id, item.name) for item in survey_queries.surveys_of(organization)
        ]

    def clean(self):
        cleaned = super().clean()
        directory_id = cleaned.get("directory") or ""
        cleaned["directory"] = (
            directory_queries.directory(self.organization, directory_id) if directory_id else None
        )
        survey_id = cleaned.get("survey") or ""
        cleaned["survey"] = (
            survey_queries.survey_of(self.organization, survey_id) if survey_id else None
        )
        if UseCase.WORKFLOW in (cleaned.get("use_cases") or []) and cleaned["survey"] is None:
            self.add_error("survey", "Choose the survey the started workflow sends.")
        return cleaned


class UseCaseForm(SourceForm):
    """A use case added to an existing source (the same fields, without name and secret)."""

    def __init__(self, organization, *args, **kwargs):
        super().__init__(organization, *args, **kwargs)
        for name in ("name", "directory", "secret"):
            del self.fields[name]
        self.fields["use_cases"].initial = []


class SecretForm(forms.Form):
    secret = forms.CharField(
        label="Shared secret",
        max_length=MAX_SECRET,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
    )
