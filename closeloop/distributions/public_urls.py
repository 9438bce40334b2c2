"""Public tracking endpoints under /t/: the open pixel and one-click unsubscribe."""

from django.urls import include, path

from closeloop.distributions import views_public
from closeloop.integrations.twilio import webhooks as twilio_webhooks

app_name = "tracking"
urlpatterns = [
    path("o/<str:token>.gif", views_public.open_pixel, name="open"),
    path("u/<str:token>/", views_public.unsubscribe, name="unsubscribe"),
    path("twilio/status", twilio_webhooks.status_callback, name="twilio-status"),
    path("twilio/inbound", twilio_webhooks.inbound, name="twilio-inbound"),
    # Provider tracking webhooks (django-anymail), e.g. /t/anymail/sendgrid/tracking/.
    path("anymail/", include("anymail.urls")),
]
