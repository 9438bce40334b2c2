"""The project's URLs with the surveys builder first and the surveys API routers mounted
(the project registers them in closeloop/api; see docs/surveys.md)."""

from django.urls import include, path

from closeloop.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("surveys/", include("closeloop.surveys.urls")),
    *project_urlpatterns,
]
