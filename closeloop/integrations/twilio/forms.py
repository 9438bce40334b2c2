"""The form of the Twilio settings page."""

from django import forms


class TwilioSettingsForm(forms.Form):
    account_sid = forms.CharField(label="Account SID", max_length=64)
    auth_token = forms.CharField(
        label="Auth token",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted. Leave empty to keep the saved token.",
    )
    messaging_service_sid = forms.CharField(
        label="Messaging service SID", max_length=64, required=False
    )
    from_number = forms.CharField(label="From number (E.164)", max_length=20, required=False)
    help_text = forms.CharField(
        label="HELP reply",
        max_length=320,
        required=False,
        help_text="Sent when someone texts HELP.",
    )
