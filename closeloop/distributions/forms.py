from django import forms

from closeloop.distributions.channels.email import default_body
from closeloop.distributions.models import Kind, MessageChannel

INLINE = ""


def library_choices(library) -> list:
    """The library messages grouped by channel, after "write it here"."""
    groups = [(INLINE, "None: write the message below")]
    for channel in MessageChannel:
        found = [(m.public_id, m.name) for m in library if m.channel == channel]
        if found:
            groups.append((f"{channel.label} messages", found))
    return groups


class DistributionForm(forms.Form):
    survey = forms.ChoiceField(label="Survey")
    mailing_list = forms.ChoiceField(label="Mailing list")
    channel = forms.ChoiceField(
        label="Channel",
        choices=[
            ("email", "Email"),
            ("sms", "SMS invitation"),
            ("sms2way", "Two-way SMS survey"),
        ],
        initial="email",
        required=False,
        help_text="SMS: the message is the text (keep ${l://SurveyURL} in invitations); "
        "subject and sender apply to email only.",
    )
    message = forms.ChoiceField(
        label="Library message",
        required=False,
        help_text="A message from Distributions → Messages replaces the subject and message "
        "below; its text is copied into the distribution, so later edits of the library "
        "message do not change it.",
    )
    from_name = forms.CharField(label="From name", required=False, max_length=200)
    from_email = forms.CharField(
        label="From address",
        required=False,
        max_length=320,
        help_text="Empty: the default sender. Otherwise an address at a verified domain.",
    )
    reply_to = forms.CharField(label="Reply-to", required=False, max_length=320)
    subject = forms.CharField(
        label="Subject", max_length=500, initial="We would like your feedback", required=False
    )
    text_body = forms.CharField(
        label="Message",
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        initial=default_body(),
        help_text=(
            "Piped text: ${m://FirstName}, ${m://LastName}, ${e://Field/Name}, "
            "${l://SurveyLink?d=Take the survey}, ${l://SurveyURL}, ${l://OptOutLink?d=Unsubscribe}."
        ),
    )
    when = forms.ChoiceField(
        label="Send",
        choices=[("now", "Now"), ("later", "At a scheduled time")],
        widget=forms.RadioSelect,
        initial="now",
    )
    send_at = forms.DateTimeField(
        label="Send at (UTC)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(
        self, *args, surveys=(), mailing_lists=(), library=(), organization=None, **kwargs
    ):
        super().__init__(*args, **kwargs)
        if organization is not None:  # the organization's default sender (Settings → Sending)
            self.fields["from_name"].initial = organization.default_from_name
            self.fields["from_email"].initial = organization.default_from_email
            self.fields["reply_to"].initial = organization.default_reply_to
        self.fields["message"].choices = library_choices(library)
        self.fields["survey"].choices = [(s.public_id, s.name) for s in surveys]
        self.fields["mailing_list"].choices = [
            (m.public_id, f"{m.name} ({m.contact_count})") for m in mailing_lists
        ]

    def clean(self):
        data = super().clean()
        if data.get("when") == "later" and not data.get("send_at"):
            self.add_error("send_at", "Give the date and time to send at.")
        return data


class DomainForm(forms.Form):
    domain = forms.CharField(label="Domain", max_length=253)


class MessageForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200)
    category = forms.ChoiceField(label="Used for", choices=Kind.choices, initial=Kind.INVITE)
    subject = forms.CharField(label="Subject", max_length=500, required=False)
    html_body = forms.CharField(
        label="HTML body",
        required=False,
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text="Optional: without it the plain text is sent as HTML paragraphs.",
    )
    text_body = forms.CharField(
        label="Message",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Piped text: ${m://FirstName}, ${m://LastName}, ${e://Field/Name}, "
        "${l://SurveyLink?d=Take the survey}, ${l://SurveyURL}, ${l://OptOutLink?d=Unsubscribe}.",
    )
    shared = forms.BooleanField(
        label="Shared with the organization",
        required=False,
        initial=True,
        help_text="Unticked: only you see and use it.",
    )

    def __init__(self, *args, channel: str = MessageChannel.EMAIL, **kwargs):
        super().__init__(*args, **kwargs)
        if channel == MessageChannel.SMS:
            del self.fields["subject"], self.fields["html_body"]
            self.fields["text_body"].label = "SMS text"
            self.fields["text_body"].help_text = (
                "Piped text: ${m://FirstName}, ${e://Field/Name}, ${l://SurveyURL}. "
                "At most 1,600 characters; the preview shows the SMS segments it costs."
            )
        else:
            self.fields["text_body"].label = "Plain-text body"


class FollowUpForm(forms.Form):
    """A reminder or a thank-you of an invitation, from its page."""

    kind = forms.ChoiceField(
        label="Follow-up",
        choices=[
            ("reminder:notStarted", "Reminder to those who have not started"),
            ("reminder:notFinished", "Reminder to those who have not finished"),
            ("thankyou:finished", "Thank-you to those who finished"),
        ],
    )
    message = forms.ChoiceField(label="Library message", required=False)
    subject = forms.CharField(label="Subject", max_length=500, required=False)
    text_body = forms.CharField(
        label="Message",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="The same personal link as the invitation: ${l://SurveyLink?d=…} or "
        "${l://SurveyURL}. Frequency rules neither count nor block follow-ups.",
    )
    send_at = forms.DateTimeField(
        label="Send at (UTC, empty: now)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(self, *args, library=(), channel: str = "email", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["message"].choices = library_choices(library)
        if channel != "email":
            del self.fields["subject"]
        if channel == "sms2way":
            self.fields["kind"].choices = [
                ("reminder:notFinished", "Reminder to open sessions (repeats the question)"),
                ("thankyou:finished", "Thank-you to those who finished"),
            ]
