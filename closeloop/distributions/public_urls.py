"""Public tracking endpoints under /t/: the open pixel and one-click unsubscribe."""

from django.urls import path

from closeloop.distributions import views_public

app_name = "tracking"
urlpatterns = [
    path("o/<str:token>.gif", views_public.open_pixel, name="open"),
    path("u/<str:token>/", views_public.unsubscribe, name="unsubscribe"),
]
