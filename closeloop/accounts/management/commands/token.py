"""`closeloop token create|list|revoke`: API tokens from the command line.

`closeloop token create` prints only the token, so that scripts can capture it:

    TOKEN=$(closeloop token create --email me@example.com --name "nightly export")
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from closeloop.accounts import actions, queries
from closeloop.accounts.models import Organization, User


def find_user(email: str) -> User:
    user = User.objects.filter(email=actions.normalize_email(email)).first()
    if user is None:
        raise CommandError(f"No user with the email {email}.")
    return user


def find_organization(user: User, brand_id: str | None) -> Organization:
    memberships = list(queries.memberships_of_user(user))
    if brand_id:
        for membership in memberships:
            if membership.organization.brand_id == brand_id:
                return membership.organization
        raise CommandError(f"{user.email} is not a member of an organization {brand_id!r}.")
    if not memberships:
        raise CommandError(f"{user.email} is not a member of any organization.")
    if len(memberships) > 1:
        brands = ", ".join(m.organization.brand_id for m in memberships)
        raise CommandError(
            f"{user.email} is in several organizations; pass --organization ({brands})."
        )
    return memberships[0].organization


class Command(BaseCommand):
    help = "Create, list or revoke API tokens."

    def add_arguments(self, parser):
        actions_parsers = parser.add_subparsers(dest="action", required=True)
        create = actions_parsers.add_parser("create", help="create a token; prints only the token")
        create.add_argument("--email", required=True)
        create.add_argument("--name", required=True, help="what the token is for")
        create.add_argument("--organization", help="brand id, if the user is in several")
        listing = actions_parsers.add_parser("list", help="list a user's tokens")
        listing.add_argument("--email", required=True)
        listing.add_argument("--organization", help="brand id, if the user is in several")
        revoke = actions_parsers.add_parser("revoke", help="revoke a token by the id `list` shows")
        revoke.add_argument("--email", required=True)
        revoke.add_argument("--organization", help="brand id, if the user is in several")
        revoke.add_argument("id", type=int)

    def handle(self, *args, **options):
        user = find_user(options["email"])
        organization = find_organization(user, options.get("organization"))
        getattr(self, "handle_" + options["action"])(user, organization, options)

    def handle_create(self, user, organization, options):
        try:
            _, secret = actions.create_api_token(organization, user, options["name"])
        except actions.AccountsError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(secret)

    def handle_list(self, user, organization, options):
        for token in queries.tokens_of(organization, user):
            status = "revoked" if token.revoked_at else "expired" if token.is_expired else "active"
            used = token.last_used_at.isoformat() if token.last_used_at else "never"
            self.stdout.write(
                f"{token.id}\t…{token.hint}\t{status}\tlast used {used}\t{token.name}"
            )

    def handle_revoke(self, user, organization, options):
        token = queries.tokens_of(organization, user).filter(pk=options["id"]).first()
        if token is None:
            raise CommandError(
                f"{user.email} has no token {options['id']} in {organization.brand_id}."
            )
        actions.revoke_api_token(token)
        self.stdout.write(f"Revoked token {token.id} ({token.name}).")
