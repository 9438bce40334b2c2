from django.urls import path

from closeloop.distributions import views

app_name = "distributions"
urlpatterns = [
    path("", views.distribution_list, name="list"),
    path("new/", views.distribution_create, name="create"),
    path("survey/<str:survey_id>/", views.distribution_list, name="survey"),
    path("domains/", views.domains, name="domains"),
    path("domains/<int:domain_id>/check/", views.domain_check, name="domain-check"),
    path("domains/<int:domain_id>/delete/", views.domain_delete, name="domain-delete"),
    path("sms-settings/", views.sms_settings, name="sms-settings"),
    path("sms-simulator/", views.sms_simulator, name="sms-simulator"),
    path("<str:distribution_id>/", views.distribution_detail, name="detail"),
    path("<str:distribution_id>/history.csv", views.history_csv, name="history-csv"),
]
