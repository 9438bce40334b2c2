"""`closeloop setup`: create the first organization and its owner from the command line."""

from __future__ import annotations

import getpass
import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from closeloop.accounts import actions, queries

PASSWORD_VARIABLE = "CLOSELOOP_PASSWORD"
ALREADY_SET_UP = (
    "Closeloop is already set up: an organization exists. "
    "Invite more people from Settings → Members."
)


def ask_password() -> str:
    if not os.isatty(0):
        raise CommandError(f"Set {PASSWORD_VARIABLE} or run this command in a terminal.")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise CommandError("The two passwords are different; nothing was created.")
    return first


class Command(BaseCommand):
    help = (
        "Create the first organization and its owner. The password comes from "
        f"${PASSWORD_VARIABLE}, or is asked for twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--organization", required=True, help="organization name")
        parser.add_argument("--email", required=True, help="the owner's email address")
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")

    def handle(self, *args, **options):
        if not queries.needs_setup():
            raise CommandError(ALREADY_SET_UP)
        password = os.environ.get(PASSWORD_VARIABLE) or ask_password()
        try:
            organization, user = actions.setup_first_organization(
                options["organization"],
                options["email"],
                password,
                options["first_name"],
                options["last_name"],
            )
        except actions.SetupAlreadyDone:
            raise CommandError(ALREADY_SET_UP) from None
        except actions.AccountsError as error:
            raise CommandError(str(error)) from None
        except ValidationError as error:
            raise CommandError("The password is too weak: " + " ".join(error.messages)) from None
        self.stdout.write(
            f"Created {organization.name} (brand id {organization.brand_id}) "
            f"with owner {user.email}. Log in at /login/."
        )
