"""URLs for the directory tests: the project's, plus the directory API on /API/v3 until the v3
API mounts it itself — closeloop/api/v3.py:

    from closeloop.directory.api_v3 import router as directory_router
    api.add_router("/directories", directory_router)
"""

from django.urls import path

from closeloop.api.auth import TOKEN_AUTH
from closeloop.api.qualtrics import QualtricsAPI
from closeloop.api.v3 import api as v3_api
from closeloop.directory.api_v3 import router
from closeloop.urls import urlpatterns as project_urlpatterns

MOUNTED = any(mounted is router for _prefix, mounted in v3_api._routers)

urlpatterns = []
if not MOUNTED:
    test_api = QualtricsAPI(
        title="directory tests",
        version="3-test",
        urls_namespace="api-v3-directory-tests",
        auth=TOKEN_AUTH,
    )
    test_api.add_router("/directories", router)
    urlpatterns.append(path("API/v3/", test_api.urls))
urlpatterns += project_urlpatterns
