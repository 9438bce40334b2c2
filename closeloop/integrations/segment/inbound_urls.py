"""The URLs Segment sends a workflow's events to (under /inbound/segment/)."""

from django.urls import path

from closeloop.integrations.segment import webhooks

app_name = "segment-inbound"
urlpatterns = [
    path("<str:token>", webhooks.segment_event, name="event"),
]
