from django.contrib.auth.decorators import login_required
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from closeloop.demo import queries as demo_queries
from closeloop.web.sections import SECTIONS


@login_required
def home(request):
    organization = getattr(request, "organization", None)
    membership = getattr(request, "membership", None)
    context = {
        "sections": SECTIONS,
        "demo": demo_queries.workspace_of(organization),
        "offer_demo": demo_queries.offer_demo(organization),
        "can_administer": bool(membership and membership.can_administer),
    }
    return render(request, "web/home.html", context)


@login_required
def extensions(request):
    return render(request, "web/extensions.html", {"active": "extensions"})


def _database_reachable() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:  # any driver error means "not reachable"
        return f"database unreachable: {error.__class__.__name__}"
    return None


@never_cache
def healthz(request):
    """Liveness: the process answers and the database is reachable."""
    problem = _database_reachable()
    if problem:
        return JsonResponse({"status": "error", "problem": problem}, status=503)
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request):
    """Readiness: the database is reachable and every migration is applied."""
    problem = _database_reachable()
    if problem is None:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            problem = f"{len(pending)} migration(s) not applied; run `closeloop migrate`"
    if problem:
        return JsonResponse({"status": "not ready", "problem": problem}, status=503)
    return JsonResponse({"status": "ready"})
