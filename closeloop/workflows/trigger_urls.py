"""Inbound trigger endpoints (/inbound/…): the events that arrive over HTTP."""

from django.urls import path

from closeloop.workflows import inbound

app_name = "triggers"
urlpatterns = [
    path("json/<str:token>", inbound.json_event, name="json"),
]
