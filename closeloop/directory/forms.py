"""Forms for the directory pages. They check shapes; the actions check meaning, and the views
show an InvalidValue from an action as a form error."""

from __future__ import annotations

from django import forms

from closeloop.directory.dedup import InvalidValue, normalize_email
from closeloop.directory.models import Channel
from closeloop.directory.values import clean_embedded_data


def parse_embedded_lines(text: str) -> dict[str, str]:
    """'Name = value' per line; blank lines ignored. Raises InvalidValue naming the line."""
    data: dict[str, str] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        name, separator, value = line.partition("=")
        if not separator or not name.strip():
            raise InvalidValue(f"Line {number}: write it as Name = value.")
        data[name.strip()] = value.strip()
    return clean_embedded_data(data)


def embedded_lines(data: dict) -> str:
    return "\n".join(f"{name} = {value}" for name, value in data.items())


class ContactForm(forms.Form):
    firstName = forms.CharField(label="First name", max_length=200, required=False)
    lastName = forms.CharField(label="Last name", max_length=200, required=False)
    email = forms.CharField(label="Email", max_length=320, required=False)
    phone = forms.CharField(
        label="Phone",
        max_length=64,
        required=False,
        help_text="With +country code, or in the directory's default region.",
    )
    extRef = forms.CharField(
        label="External data reference",
        max_length=200,
        required=False,
        help_text="Your system's id for this person (extRef).",
    )
    language = forms.CharField(label="Language", max_length=16, required=False)
    embedded = forms.CharField(
        label="Embedded data",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
        help_text="One per line: Name = value. Names are case-sensitive.",
    )

    def clean_email(self):
        email = self.cleaned_data["email"].strip()
        try:
            normalize_email(email)
        except InvalidValue as error:
            raise forms.ValidationError(str(error)) from None
        return email

    def clean_embedded(self):
        try:
            return parse_embedded_lines(self.cleaned_data["embedded"])
        except InvalidValue as error:
            raise forms.ValidationError(str(error)) from None

    def contact_fields(self) -> dict[str, str]:
        return {name: value for name, value in self.cleaned_data.items() if name != "embedded"}


class MailingListForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200)


class DirectorySettingsForm(forms.Form):
    name = forms.CharField(label="Directory name", max_length=200)
    default_phone_region = forms.CharField(
        label="Default phone region",
        max_length=2,
        help_text="Two letters (US, GB, DE …) for phone numbers written without +country code.",
    )
    rule1 = forms.CharField(label="Rule 1", max_length=600, required=False)
    rule2 = forms.CharField(label="Rule 2", max_length=600, required=False)
    rule3 = forms.CharField(label="Rule 3", max_length=600, required=False)

    RULE_HELP = (
        "Field names separated by commas; all must match (AND). Rules are tried in order (OR). "
        "Standard fields: firstName, lastName, email, phone, extRef; any other name is an "
        "embedded data field."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rule1"].help_text = self.RULE_HELP

    def dedup_rules(self) -> list[list[str]]:
        rules = []
        for key in ("rule1", "rule2", "rule3"):
            names = [name.strip() for name in self.cleaned_data[key].split(",") if name.strip()]
            if names:
                rules.append(names)
        return rules

    @staticmethod
    def initial_for(directory) -> dict:
        initial = {"name": directory.name, "default_phone_region": directory.default_phone_region}
        for index, rule in enumerate(directory.dedup_rules[:3], start=1):
            initial[f"rule{index}"] = ", ".join(rule)
        return initial


class FrequencyRuleForm(forms.Form):
    channel = forms.ChoiceField(label="Channel", choices=Channel.choices)
    max_messages = forms.IntegerField(
        label="At most … messages", min_value=1, max_value=3650, required=False
    )
    period_days = forms.IntegerField(
        label="… in this many days", min_value=1, max_value=3650, required=False
    )
    min_days_between = forms.IntegerField(
        label="At least … days between messages", min_value=1, max_value=3650, required=False
    )
    scope = forms.ChoiceField(
        label="Applies to",
        choices=[
            ("directory", "The whole directory"),
            ("list", "One mailing list"),
            ("survey", "One survey"),
        ],
    )
    mailing_list = forms.ChoiceField(label="Mailing list", required=False)
    survey_id = forms.CharField(
        label="Survey id", max_length=32, required=False, help_text="SV_… — for a survey override."
    )

    def __init__(self, *args, mailing_lists=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["mailing_list"].choices = [("", "—")] + [
            (item.public_id, item.name) for item in mailing_lists
        ]


class ImportForm(forms.Form):
    MAX_BYTES = 200 * 1024 * 1024

    file = forms.FileField(
        label="CSV file",
        help_text=(
            "UTF-8, first row = column names. Recognised columns: First Name, Last Name, Email, "
            "Phone, External Data Reference (extRef), Language, Unsubscribed; every other column "
            "becomes embedded data with the column name. Up to 200 MB."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
    mailing_list = forms.ChoiceField(label="Also add everyone to the mailing list", required=False)

    def __init__(self, *args, mailing_lists=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["mailing_list"].choices = [("", "No list")] + [
            (item.public_id, item.name) for item in mailing_lists
        ]

    def clean_file(self):
        uploaded = self.cleaned_data["file"]
        if uploaded.size > self.MAX_BYTES:
            raise forms.ValidationError("The file is larger than 200 MB; split it in parts.")
        return uploaded
