"""The project's URLs with the distributions pages first (the shell has a placeholder at
/distributions/ until the lead removes it) and the distributions router mounted on a test copy
of the v3 API (the project registers it in closeloop/api/v3.py; see docs/distributions.md)."""

from django.urls import include, path

from closeloop.api.auth import TOKEN_AUTH
from closeloop.api.qualtrics import QualtricsAPI
from closeloop.distributions.api_v3 import router as v3_router
from closeloop.urls import urlpatterns as project_urlpatterns

api_v3 = QualtricsAPI(
    title="v3 (distributions tests)", urls_namespace="distributions-tests-v3", auth=TOKEN_AUTH
)
api_v3.add_router("", v3_router)

urlpatterns = [
    path("distributions/", include("closeloop.distributions.urls")),
    path("API/v3/", api_v3.urls),
    *project_urlpatterns,
]
