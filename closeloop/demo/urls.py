from django.urls import path

from closeloop.demo import views

app_name = "demo"
urlpatterns = [
    path("", views.try_it, name="try-it"),
    path("create", views.create, name="create"),
    path("remove", views.remove, name="remove"),
    path("close-case", views.close_case, name="close-case"),
    path("segment-event", views.segment_event, name="segment-event"),
    path("steps/<str:step_id>", views.step, name="step"),
]
