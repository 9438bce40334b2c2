from django.urls import path

from closeloop.jobs import views

app_name = "jobs"
urlpatterns = [
    path("", views.job_list, name="list"),
    path("<int:job_id>/", views.job_detail, name="detail"),
    path("<int:job_id>/retry/", views.retry, name="retry"),
    path("<int:job_id>/cancel/", views.cancel, name="cancel"),
]
