"""The people and workflows the permission tests try every entry point with.

Ana, a plain member, owns the survey "Support CSAT", its workflow and an organization
workflow of her own; the organization's owner (an admin) has an organization workflow too.
Bea may manage the survey's workflows, Cara was given every other permission, Dan nothing;
Olga owns another organization. Each workflow has one finished run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.utils import timezone

from closeloop.accounts import actions as accounts_actions
from closeloop.surveys import actions as survey_actions
from closeloop.surveys.permission_rules import Permission
from closeloop.workflows import actions
from closeloop.workflows.models import RunStatus, WorkflowRun
from closeloop.workflows.tests.conftest import SAMPLE, make_workflow
from conftest import add_member

ALLOWED = ("survey_owner", "org_admin", "granted")
FORBIDDEN = ("other_permissions",)
HIDDEN = ("not_shared", "other_org")
ACTORS = ALLOWED + FORBIDDEN + HIDDEN
REASON = "ask Ana Member (owner) for the Manage workflows permission"

ECHO = {"type": "test.echo", "name": "Echo", "config": {"who": "~{ch://event/email}"}}
ECHO_TOO = {"type": "test.echo", "name": "Echo again", "config": {"who": "again"}}


@dataclass
class World:
    organization: object
    survey: object
    workflow: object  # the survey's workflow
    own_workflow: object  # Ana's organization workflow
    admin_workflow: object  # the admin's organization workflow
    runs: dict  # workflow public id → its finished run
    users: dict
    tokens: dict

    @property
    def run(self) -> WorkflowRun:
        return self.runs[self.workflow.public_id]


def finished_run(workflow) -> WorkflowRun:
    """A run of the workflow that succeeded (so that it can be replayed)."""
    run, _created = actions.start_run(
        workflow,
        payload=json.dumps(SAMPLE),
        fields={"email": SAMPLE["customer"]["email"]},
        source="test",
    )
    WorkflowRun.objects.filter(pk=run.pk).update(
        status=RunStatus.SUCCEEDED, started_at=timezone.now(), finished_at=timezone.now()
    )
    run.refresh_from_db()
    return run


def build_world(org_a, org_b) -> World:
    organization, admin = org_a
    users = {
        "org_admin": admin,
        "survey_owner": add_member(organization, "ana@acme.test"),
        "granted": add_member(organization, "bea@acme.test"),
        "other_permissions": add_member(organization, "cara@acme.test"),
        "not_shared": add_member(organization, "dan@acme.test"),
        "other_org": org_b[1],
    }
    ana = users["survey_owner"]
    survey = survey_actions.create_survey(organization, ana, "Support CSAT")
    survey_actions.share_survey(
        survey, ana, user=users["granted"], permissions=[Permission.MANAGE_WORKFLOWS]
    )
    survey_actions.share_survey(
        survey,
        ana,
        user=users["other_permissions"],
        permissions=sorted(set(Permission) - {Permission.MANAGE_WORKFLOWS}),
    )
    workflow = make_workflow(
        organization, ana, tasks=[ECHO, ECHO_TOO], survey=survey.public_id, name="Case follow-up"
    )
    own = make_workflow(organization, ana, tasks=[ECHO], name="Ana's own flow")
    admins = make_workflow(organization, admin, tasks=[ECHO], name="Admin's own flow")
    runs = {item.public_id: finished_run(item) for item in (workflow, own, admins)}
    tokens = {
        role: accounts_actions.create_api_token(
            org_b[0] if role == "other_org" else organization, user, "permissions"
        )[1]
        for role, user in users.items()
    }
    return World(organization, survey, workflow, own, admins, runs, users, tokens)


def state_of(world: World) -> tuple:
    """What a refused request must leave as it was."""
    workflow = type(world.workflow).objects.filter(pk=world.workflow.pk).first()
    if workflow is None:
        return ("deleted",)
    return (
        workflow.revision,
        workflow.name,
        workflow.enabled,
        workflow.trigger_token,
        workflow.capture_until,
        workflow.sample_payload,
        workflow.survey_id,
        WorkflowRun.objects.filter(workflow_id=workflow.pk).count(),
    )
