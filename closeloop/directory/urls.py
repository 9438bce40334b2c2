from django.urls import path

from closeloop.directory import views_public

app_name = "directory"
urlpatterns = [
    path("opt-out/<str:token>/", views_public.opt_out, name="opt-out"),
]
