"""The project's URLs with the surveys builder first and the surveys API routers mounted on
test copies of the two APIs (the project registers them in closeloop/api/v1.py and v3.py;
see docs/surveys.md)."""

from django.urls import include, path

from closeloop.api.auth import TOKEN_AUTH
from closeloop.api.problems import ProblemAPI
from closeloop.api.qualtrics import QualtricsAPI
from closeloop.surveys.api_v1 import router as v1_router
from closeloop.surveys.api_v3 import router as v3_router
from closeloop.urls import urlpatterns as project_urlpatterns

api_v1 = ProblemAPI(title="v1 (surveys tests)", urls_namespace="surveys-tests-v1", auth=TOKEN_AUTH)
api_v1.add_router("", v1_router)
api_v3 = QualtricsAPI(
    title="v3 (surveys tests)", urls_namespace="surveys-tests-v3", auth=TOKEN_AUTH
)
api_v3.add_router("", v3_router)

urlpatterns = [
    path("surveys/", include("closeloop.surveys.urls")),
    path("api/v1/", api_v1.urls),
    path("API/v3/", api_v3.urls),
    *project_urlpatterns,
]
