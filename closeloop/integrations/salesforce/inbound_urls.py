"""The endpoint URLs Salesforce outbound messages are sent to (under /inbound/salesforce/)."""

from django.urls import path

from closeloop.integrations.salesforce import webhooks

app_name = "salesforce-inbound"
urlpatterns = [
    path("<str:token>", webhooks.outbound_message, name="outbound"),
]
