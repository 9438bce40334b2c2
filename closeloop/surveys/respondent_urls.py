from django.urls import path

from closeloop.surveys import views_respondent as views

app_name = "respondent"
urlpatterns = [
    path("form/<str:survey_id>", views.anonymous, name="form"),
    path("form/<str:survey_id>/done", views.anonymous_done, name="form-done"),
    path("l/<str:token>", views.individual, name="link"),
    path("l/<str:token>/done", views.individual_done, name="link-done"),
]
