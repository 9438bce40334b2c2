from django.urls import path

from closeloop.web import views

app_name = "web"
urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("extensions/", views.extensions, name="extensions"),
]
