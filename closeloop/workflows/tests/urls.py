"""URLs for the workflows tests: the project's, with the workflows pages and API in front until
the project routes to them itself. Pending outside this app (see docs/workflows.md):

- closeloop/api/v1.py: `api.add_router("/workflows", workflows_router)` (closeloop.workflows.api);
- closeloop/web/urls.py: drop the `workflows/` placeholder section, so that /workflows/ reaches
  closeloop.workflows.urls (and point the "Workflows" navigation entry at workflows:list).
"""

from django.urls import include, path

from closeloop.urls import urlpatterns as project_urlpatterns

urlpatterns = [path("workflows/", include("closeloop.workflows.urls")), *project_urlpatterns]
