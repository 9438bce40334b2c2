"""Extensions → Twilio Segment (under /extensions/segment/)."""

from django.urls import path

from closeloop.integrations.segment import views

app_name = "segment"
urlpatterns = [
    path("", views.sources, name="sources"),
    path("new", views.source_create, name="source-create"),
    path("workflows/<str:workflow_id>/secret", views.workflow_secret, name="workflow-secret"),
    path("<str:source_id>/", views.source, name="source"),
    path("<str:source_id>/secret", views.source_secret, name="source-secret"),
    path("<str:source_id>/use-cases", views.source_use_case, name="source-use-case"),
    path("<str:source_id>/delete", views.source_delete, name="source-delete"),
]
