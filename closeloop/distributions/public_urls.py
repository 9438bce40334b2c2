"""Public tracking endpoints under /t/: the open pixel and one-click unsubscribe."""

from django.urls import include, path

from closeloop.distributions import views_public

app_name = "tracking"
urlpatterns = [
    path("o/<str:token>.gif", views_public.open_pixel, name="open"),
    path("u/<str:token>/", views_public.unsubscribe, name="unsubscribe"),
    # Provider tracking webhooks (django-anymail), e.g. /t/anymail/sendgrid/tracking/.
    path("anymail/", include("anymail.urls")),
]
