"""Forms for setup, sign-in, profile, members, invitations and API tokens."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.password_validation import (
    password_validators_help_text_html,
    validate_password,
)
from django.core.validators import MaxValueValidator

from closeloop.accounts import actions, audit, queries, retention
from closeloop.accounts.models import ApiToken, Organization, Role, User


class NewPasswordMixin(forms.Form):
    """Two password fields that must match and pass the configured validators."""

    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validators_help_text_html(),
    )
    password_again = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def password_owner(self) -> User:
        return User(
            email=self.cleaned_data.get("email", ""),
            first_name=self.cleaned_data.get("first_name", ""),
            last_name=self.cleaned_data.get("last_name", ""),
        )

    def clean(self):
        cleaned = super().clean()
        password, again = cleaned.get("password"), cleaned.get("password_again")
        if password and again and password != again:
            self.add_error("password_again", "The two passwords are different.")
        elif password:
            try:
                validate_password(password, self.password_owner())
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned


class NameFields(forms.Form):
    first_name = forms.CharField(
        label="First name", max_length=User._meta.get_field("first_name").max_length
    )
    last_name = forms.CharField(
        label="Last name",
        max_length=User._meta.get_field("last_name").max_length,
        required=False,
    )


class SetupForm(NameFields, NewPasswordMixin):
    organization_name = forms.CharField(
        label="Organization name",
        max_length=Organization._meta.get_field("name").max_length,
        help_text="Your company or team, as people will see it.",
    )
    email = forms.EmailField(
        label="Your email", widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )

    field_order = [
        "organization_name",
        "first_name",
        "last_name",
        "email",
        "password",
        "password_again",
    ]


class AcceptInvitationForm(NameFields, NewPasswordMixin):
    def __init__(self, *args, email: str = "", **kwargs):
        self.invited_email = email
        super().__init__(*args, **kwargs)

    def password_owner(self) -> User:
        owner = super().password_owner()
        owner.email = self.invited_email
        return owner


class LoginForm(AuthenticationForm):
    """Sign in with an email address, whatever its letter case."""

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = "Email"
        self.fields["username"].widget.input_type = "email"
        self.fields["username"].widget.attrs["autocomplete"] = "email"

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip().lower()

    def clean(self):
        email = self.cleaned_data.get("username") or ""
        address = self.request.META.get("REMOTE_ADDR", "") if self.request else ""
        client = actions.client_fingerprint(address)
        if email and queries.sign_in_blocked(email, client):
            raise forms.ValidationError(
                "Too many wrong passwords. Sign-in is paused for 15 minutes; "
                "reset your password if you have forgotten it.",
                code="throttled",
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            if email:
                actions.record_failed_sign_in(email, client)
            raise
        actions.forget_failed_sign_ins(email)
        return cleaned


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["first_name", "last_name"]


class OrganizationForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = ["name"]


class RetentionForm(forms.Form):
    """How long this organization keeps its data; blank: as long as the server allows."""

    runs = forms.IntegerField(label="Workflow runs (days)", required=False, min_value=1)
    payloads = forms.IntegerField(label="Event payloads (days)", required=False, min_value=1)
    deliveries = forms.IntegerField(
        label="Deliveries (distribution history, days)", required=False, min_value=1
    )
    audit = forms.IntegerField(label="Audit log (days)", required=False, min_value=1)
    responses = forms.IntegerField(
        label="Survey responses (days)",
        required=False,
        min_value=1,
        help_text="Recorded responses (finished or closed as partial) are deleted this many "
        "days after they were recorded, with their answers. Blank: kept.",
    )

    def __init__(self, *args, organization: Organization, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "runs": organization.workflow_run_retention_days,
                "payloads": organization.workflow_payload_retention_days,
                "deliveries": organization.delivery_retention_days,
                "audit": organization.audit_retention_days,
                "responses": organization.response_retention_days,
            },
        )
        super().__init__(*args, **kwargs)
        run_ceiling = retention.run_ceiling_days()
        delivery_ceiling = retention.delivery_ceiling_days()
        self.fields["runs"].max_value = run_ceiling
        self.fields["runs"].help_text = (
            f"Finished runs are deleted from workflow reporting after this. At most "
            f"{run_ceiling} days (the server's limit); blank: {run_ceiling} days."
        )
        self.fields["payloads"].max_value = run_ceiling
        self.fields["payloads"].help_text = (
            "After this the event payload, its fields and each task's input and output are "
            "erased; the run, its status and its errors stay. At most as long as the runs; "
            "blank: as long as the runs."
        )
        if delivery_ceiling is None:
            self.fields["deliveries"].max_value = retention.UNBOUNDED_MAX_DAYS
            self.fields["deliveries"].help_text = (
                "Per-contact history of finished distributions. Blank: kept (the server sets "
                "no limit)."
            )
        else:
            self.fields["deliveries"].max_value = delivery_ceiling
            self.fields["deliveries"].help_text = (
                f"Per-contact history of finished distributions. At most {delivery_ceiling} "
                f"days (the server's limit); blank: {delivery_ceiling} days."
            )
        audit_ceiling = retention.audit_ceiling_days()
        self.fields["audit"].max_value = audit_ceiling
        self.fields["audit"].help_text = (
            f"Audit log events are deleted after this. At most {audit_ceiling} days (the "
            f"server's limit); blank: {audit_ceiling} days."
        )
        self.fields["responses"].max_value = retention.UNBOUNDED_MAX_DAYS
        for field in self.fields.values():  # max_value is known only now
            field.widget.attrs["max"] = field.max_value
            field.validators.append(MaxValueValidator(field.max_value))

    def clean(self):
        cleaned = super().clean()
        runs, payloads = cleaned.get("runs"), cleaned.get("payloads")
        if runs and payloads and payloads > runs:
            self.add_error("payloads", "Payloads cannot be kept longer than their runs.")
        return cleaned


class TokenPolicyForm(forms.Form):
    """The organization's API token policy."""

    max_age_days = forms.IntegerField(
        label="Maximum token age (days)",
        required=False,
        min_value=1,
        max_value=actions.TOKEN_MAX_AGE_DAYS,
        help_text="Tokens older than this stop working and must be replaced. Blank: tokens "
        "work until they are revoked.",
    )
    admins_only = forms.BooleanField(
        label="Only owners and admins can create API tokens",
        required=False,
        help_text="Members' existing tokens keep working until revoked or expired.",
    )

    def __init__(self, *args, organization: Organization, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "max_age_days": organization.api_token_max_age_days,
                "admins_only": organization.api_tokens_admins_only,
            },
        )
        super().__init__(*args, **kwargs)


class DefaultSenderForm(forms.Form):
    """The default sender of new distributions (the Sending page, in distributions, also
    checks that the from address is at a verified domain)."""

    from_name = forms.CharField(
        label="From name",
        required=False,
        max_length=Organization._meta.get_field("default_from_name").max_length,
    )
    from_email = forms.EmailField(
        label="From address",
        required=False,
        max_length=Organization._meta.get_field("default_from_email").max_length,
        help_text="An address at a verified sending domain. Blank: the server's default sender.",
    )
    reply_to = forms.EmailField(
        label="Reply-to (optional)",
        required=False,
        max_length=Organization._meta.get_field("default_reply_to").max_length,
    )

    def __init__(self, *args, organization: Organization, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "from_name": organization.default_from_name,
                "from_email": organization.default_from_email,
                "reply_to": organization.default_reply_to,
            },
        )
        super().__init__(*args, **kwargs)

    def clean_from_name(self) -> str:
        name = self.cleaned_data["from_name"]
        if any(character in name for character in "\r\n\x00"):
            raise forms.ValidationError("The from name must be on one line.")
        return name


class GroupForm(forms.Form):
    name = forms.CharField(label="Group name", max_length=actions.GROUP_NAME_MAX_LENGTH)


class GroupMemberForm(forms.Form):
    """Add one of the organization's members (not already in the group) to a group."""

    user = forms.ChoiceField(label="Member")

    def __init__(self, *args, candidates=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.candidates = {user.public_id: user for user in candidates}
        self.fields["user"].choices = [
            (user.public_id, f"{user.get_full_name()} ({user.email})") for user in candidates
        ]

    def clean_user(self) -> User:
        return self.candidates[self.cleaned_data["user"]]


class SwitchOrganizationForm(forms.Form):
    organization = forms.TypedChoiceField(label="Organization", coerce=int)

    def __init__(self, *args, memberships=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].choices = [
            (membership.organization_id, membership.organization.name) for membership in memberships
        ]


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email")
    role = forms.ChoiceField(label="Role", choices=Role.choices, initial=Role.MEMBER)

    def __init__(self, *args, can_grant_owner: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not can_grant_owner:
            self.fields["role"].choices = [c for c in Role.choices if c[0] != Role.OWNER]


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Role.choices)


class TokenForm(forms.Form):
    name = forms.CharField(
        label="Token name",
        max_length=ApiToken._meta.get_field("name").max_length,
        help_text="What will use it, e.g. “Segment production” or “nightly export script”.",
    )


class AuditFilterForm(forms.Form):
    """The audit page's filters; every one optional."""

    action = forms.ChoiceField(label="Action", required=False)
    actor = forms.ChoiceField(label="Who", required=False)
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    text = forms.CharField(label="Text", required=False, max_length=200)

    def __init__(self, *args, actors=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "Any action"), *audit.ACTIONS.items()]
        self.fields["actor"].choices = [("", "Anyone")] + [
            (user.public_id, user.email) for user in actors
        ]
