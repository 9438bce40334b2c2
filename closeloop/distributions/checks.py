"""The rule every channel's content shares: DistributionError, and the piped text an invitation
can fill. Each channel checks the rest of its own content (channels/email.py, channels/sms.py,
channels/sms2way.py); closeloop.distributions.actions checks the rest of a distribution."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from closeloop import piping

# Fields an invitation may pipe. Transaction fields are piped as ${e://Field/Name}.
PIPED_FIELDS = {"m": piping.CONTACT_FIELDS, "e": None, "l": piping.LINK_NAMES, "date": None}


class DistributionError(ValueError):
    """The distribution cannot be created as asked; the message names the rule."""


def check_piped_text(text: str, what: str) -> None:
    unknown = piping.unknown_fields(text, PIPED_FIELDS)
    if unknown:
        raise DistributionError(
            f"The {what} uses piped text that an invitation cannot fill: "
            + ", ".join(item.raw for item in unknown)
        )


def clean_address(value: str, what: str) -> str:
    value = (value or "").strip()
    try:
        checked = validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as error:
        raise DistributionError(f"{what} {value!r} is not a valid email address: {error}") from None
    return checked.normalized
