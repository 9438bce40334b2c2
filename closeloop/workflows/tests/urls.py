"""URLs for the workflows tests: the project's, with the workflows pages and API in front until
the project routes to them itself. Pending outside this app (see docs/workflows.md):

- closeloop/api/v1.py: `api.add_router("/workflows", workflows_router)` (closeloop.workflows.api);
- closeloop/web/urls.py: drop the `workflows/` placeholder section, so that /workflows/ reaches
  closeloop.workflows.urls (and point the "Workflows" navigation entry at workflows:list).
"""

from django.urls import include, path

from closeloop.api.auth import TOKEN_AUTH
from closeloop.api.problems import ProblemAPI
from closeloop.api.v1 import api as v1_api
from closeloop.urls import urlpatterns as project_urlpatterns
from closeloop.workflows.api import router

MOUNTED = any(mounted is router for _prefix, mounted in v1_api._routers)

urlpatterns = [path("workflows/", include("closeloop.workflows.urls"))]
if not MOUNTED:
    test_api = ProblemAPI(
        title="workflows tests",
        version="1-test",
        urls_namespace="api-v1-workflows-tests",
        auth=TOKEN_AUTH,
    )
    test_api.add_router("/workflows", router)
    urlpatterns.append(path("api/v1/", test_api.urls))
urlpatterns += project_urlpatterns
