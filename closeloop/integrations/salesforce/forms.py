from __future__ import annotations

from django import forms

from closeloop.integrations.salesforce.models import Environment


class LinkAccountForm(forms.Form):
    environment = forms.ChoiceField(
        label="Connection type",
        choices=[choice for choice in Environment.choices if choice[0] != Environment.DEMO],
        initial=Environment.PRODUCTION,
    )
    name = forms.CharField(
        label="Account name", max_length=100, help_text="How you will recognise it in workflows."
    )
    my_domain_url = forms.CharField(
        label="My Domain URL",
        required=False,
        max_length=300,
        help_text="Only for My Domain: https://yourcompany.my.salesforce.com",
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("environment") == Environment.MY_DOMAIN and not cleaned.get("my_domain_url"):
            self.add_error("my_domain_url", "Enter your org's My Domain URL.")
        return cleaned


class RenameAccountForm(forms.Form):
    name = forms.CharField(label="New name", max_length=100)
