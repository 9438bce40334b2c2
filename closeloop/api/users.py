"""Who am I, organizations and users: /API/v3 (Qualtrics shapes) and /api/v1/me."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from ninja import Query, Router, Schema

from closeloop.accounts import queries
from closeloop.accounts.models import Membership, Role
from closeloop.api import problems, qualtrics
from closeloop.api.auth import require_organization, token_of
from closeloop.api.errors import NotFound

v3_router = Router(tags=["Organizations and users"])
v1_router = Router(tags=["Account"])

USERS_PAGE_SIZE = 100


def datacenter() -> str:
    """Qualtrics names its datacenter (fra1, iad1); we name the host this instance answers on."""
    return (
        getattr(settings, "CLOSELOOP_DATACENTER", "")
        or urlsplit(settings.CLOSELOOP_BASE_URL).hostname
    )


def account_type(membership: Membership | None) -> str:
    if membership is not None and membership.can_administer:
        return "UT_BRANDADMIN"
    return "UT_FULLUSER"


# Schemas -----------------------------------------------------------------------------------


class WhoAmI(Schema):
    userName: str
    userId: str
    brandId: str
    organizationId: str
    firstName: str
    lastName: str
    email: str
    accountType: str
    datacenter: str


class OrganizationOut(Schema):
    id: str
    name: str
    baseUrl: str
    type: str
    status: str
    creationDate: str


class UserSummary(Schema):
    id: str
    divisionId: str | None
    username: str
    email: str
    firstName: str
    lastName: str
    userType: str
    accountStatus: str


class UserOut(UserSummary):
    organizationId: str
    accountCreationDate: str


class UserPage(Schema):
    elements: list[UserSummary]
    nextPage: str | None


class Me(Schema):
    userId: str
    email: str
    firstName: str
    lastName: str
    role: str
    organizationId: str
    organizationName: str


# Shapes ------------------------------------------------------------------------------------


def _user_summary(membership: Membership) -> dict:
    user = membership.user
    return {
        "id": user.public_id,
        "divisionId": None,  # in Qualtrics' List Users elements; Closeloop has no divisions
        "username": user.email,
        "email": user.email,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "userType": account_type(membership),
        "accountStatus": "active" if user.is_active else "disabled",
    }


def _user_detail(membership: Membership) -> dict:
    return _user_summary(membership) | {
        "organizationId": membership.organization.brand_id,
        "accountCreationDate": membership.user.date_joined.isoformat(),
    }


# /API/v3 -----------------------------------------------------------------------------------


@v3_router.get("/whoami", response=qualtrics.responses(WhoAmI), summary="Who am I")
def whoami(request):
    token = token_of(request)
    user, organization = token.user, token.organization
    membership = queries.membership_of(organization, user)
    return qualtrics.ok(
        {
            "userName": user.email,
            "userId": user.public_id,
            "brandId": organization.brand_id,
            "organizationId": organization.brand_id,
            "firstName": user.first_name,
            "lastName": user.last_name,
            "email": user.email,
            "accountType": account_type(membership),
            "datacenter": datacenter(),
        },
        request=request,
    )


@v3_router.get(
    "/organizations/{organizationId}",
    response=qualtrics.responses(OrganizationOut, 403),
    summary="Get organization",
)
def get_organization(request, organizationId: str):
    organization = require_organization(request, queries.organization_by_brand_id(organizationId))
    return qualtrics.ok(
        {
            "id": organization.brand_id,
            "name": organization.name,
            "baseUrl": settings.CLOSELOOP_BASE_URL,
            "type": "Closeloop",
            "status": "Active",
            "creationDate": organization.created_at.isoformat(),
        },
        request=request,
    )


class UserListParams(Schema):
    pageSize: int = Query(USERS_PAGE_SIZE, ge=1, le=USERS_PAGE_SIZE)
    skipToken: str | None = None


@v3_router.get("/users", response=qualtrics.responses(UserPage), summary="List users")
def list_users(request, params: Query[UserListParams]):
    after = qualtrics.decode_skip_token(params.skipToken)
    organization = token_of(request).organization
    page = queries.members_after(organization, after, params.pageSize + 1)
    has_more = len(page) > params.pageSize
    page = page[: params.pageSize]
    next_page = None
    if has_more:
        next_page = qualtrics.next_page_url(request, page[-1].id, pageSize=params.pageSize)
    return qualtrics.ok(
        {"elements": [_user_summary(membership) for membership in page], "nextPage": next_page},
        request=request,
    )


@v3_router.get("/users/{userId}", response=qualtrics.responses(UserOut, 404), summary="Get user")
def get_user(request, userId: str):
    membership = queries.membership_by_user_id(token_of(request).organization, userId)
    if membership is None:
        raise NotFound(f"No user {userId} in this organization.")
    return qualtrics.ok(_user_detail(membership), request=request)


# /api/v1 -----------------------------------------------------------------------------------


@v1_router.get("/me", response=problems.responses(Me), summary="The token's user and organization")
def me(request):
    token = token_of(request)
    membership = queries.membership_of(token.organization, token.user)
    return {
        "userId": token.user.public_id,
        "email": token.user.email,
        "firstName": token.user.first_name,
        "lastName": token.user.last_name,
        "role": membership.role if membership else Role.MEMBER,
        "organizationId": token.organization.brand_id,
        "organizationName": token.organization.name,
    }
