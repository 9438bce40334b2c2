"""The Salesforce task's editor, shown again as it is being filled in.

The task editor is a part of the workflow editor's task form (salesforce/tasks/salesforce.html).
Choosing another account, operation or object, or *Reload fields*, posts that form here: the
editor comes back with the inputs of the operation and the object's fields from Salesforce,
nothing saved. *Reload fields* (?refresh=1) describes the object again instead of using the
hour-long cache. Without JavaScript the page reloads (the cache is refreshed all the same).
Like every page of a workflow, it needs Manage workflows on it (permissions.require_workflow).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from closeloop.accounts.middleware import organization_or_404
from closeloop.integrations.salesforce import metadata, queries
from closeloop.integrations.salesforce.record_values import is_api_name
from closeloop.integrations.salesforce.task import SalesforceTask
from closeloop.workflows import permissions as workflow_permissions
from closeloop.workflows import queries as workflow_queries
from closeloop.workflows import registry

MAX_EXTRA_ROWS = 20


def _saved_config(workflow, task_key: str) -> dict:
    for task in workflow.tasks or []:
        if task.get("id") == task_key and task.get("type") == SalesforceTask.key:
            return task.get("config") or {}
    if task_key != "new":
        raise Http404("No such Salesforce task in this workflow.")
    return {}


@login_required
@require_POST
def task_editor(request, workflow_id: str, task_key: str):
    organization = organization_or_404(request)
    workflow = workflow_permissions.require_workflow(
        workflow_queries.workflow(organization, workflow_id), request.user
    )
    kind = registry.task_type(SalesforceTask.key)
    if kind is None:
        raise Http404("No such workflow.")
    config = kind.config_from_form(request.POST, _saved_config(workflow, task_key))
    sobject = config.get("object") or ""
    if request.GET.get("refresh") and workflow.owner is not None and is_api_name(sobject):
        account = (
            queries.usable_accounts(organization, workflow.owner)
            .filter(public_id=config.get("account") or "")
            .first()
        )
        if account is not None:
            metadata.forget(account, sobject)
    if not request.htmx:
        if request.GET.get("refresh"):
            messages.info(request, f"The fields of {sobject} will be read again from Salesforce.")
        anchor = f"#task-{task_key}"
        return redirect(reverse("workflows:edit", args=[workflow.public_id]) + anchor)
    try:
        extra = int(request.POST.get("extra_rows", "0") or 0)
    except ValueError:
        extra = 0
    task = {
        "key": task_key,
        "picker_id": f"picker-{task_key}",
        "config": config,
        "editor": kind.editor_context(config, organization=organization, workflow=workflow),
        "extra_rows": range(1 + min(max(extra, 0), MAX_EXTRA_ROWS)),
    }
    return render(request, "salesforce/tasks/salesforce.html", {"t": task, "workflow": workflow})
