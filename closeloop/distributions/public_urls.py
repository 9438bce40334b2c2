"""Public tracking endpoints under /t/: the open pixel, one-click unsubscribe, the providers'
webhooks (django-anymail's, and those integrations add, e.g. Twilio's)."""

from django.urls import include, path

from closeloop.distributions import extensions, views_public

app_name = "tracking"
urlpatterns = [
    path("o/<str:token>.gif", views_public.open_pixel, name="open"),
    path("u/<str:token>/", views_public.unsubscribe, name="unsubscribe"),
    *extensions.tracking_pages,
    # Provider tracking webhooks (django-anymail), e.g. /t/anymail/sendgrid/tracking/.
    path("anymail/", include("anymail.urls")),
]
