from django.urls import path

from closeloop.distributions import extensions, views, views_messages, views_sending

app_name = "distributions"
urlpatterns = [
    path("", views.distribution_list, name="list"),
    path("new/", views.distribution_create, name="create"),
    path("survey/<str:survey_id>/", views.distribution_list, name="survey"),
    path("domains/", views.domains, name="domains"),
    path("sending/", views_sending.sending, name="sending"),
    path("domains/<int:domain_id>/check/", views.domain_check, name="domain-check"),
    path("domains/<int:domain_id>/delete/", views.domain_delete, name="domain-delete"),
    path("messages/", views_messages.message_list, name="messages"),
    path("messages/new/", views_messages.message_create, name="message-create"),
    path("messages/<str:message_id>/", views_messages.message_edit, name="message-edit"),
    path(
        "messages/<str:message_id>/delete/",
        views_messages.message_delete,
        name="message-delete",
    ),
    # Pages of integrations (the Twilio settings, the SMS simulator), before the catch-all.
    *extensions.pages,
    path("<str:distribution_id>/", views.distribution_detail, name="detail"),
    path("<str:distribution_id>/history.csv", views.history_csv, name="history-csv"),
    path("<str:distribution_id>/followup/", views.followup_create, name="followup"),
]
