from django.urls import path

from closeloop.directory import views, views_public

app_name = "directory"
urlpatterns = [
    path("", views.contacts, name="contacts"),
    path("contacts/new/", views.contact_create, name="contact-create"),
    path("contacts/<str:contact_id>/", views.contact_detail, name="contact"),
    path("contacts/<str:contact_id>/edit/", views.contact_edit, name="contact-edit"),
    path("contacts/<str:contact_id>/delete/", views.contact_delete, name="contact-delete"),
    path(
        "contacts/<str:contact_id>/unsubscribe/",
        views.contact_unsubscribe,
        name="contact-unsubscribe",
    ),
    path("contacts/<str:contact_id>/lists/", views.contact_add_to_list, name="contact-add-to-list"),
    path("lists/", views.mailing_lists, name="lists"),
    path("lists/<str:list_id>/", views.mailing_list_detail, name="list"),
    path("lists/<str:list_id>/delete/", views.mailing_list_delete, name="list-delete"),
    path(
        "lists/<str:list_id>/remove/<str:contact_id>/",
        views.mailing_list_remove,
        name="list-remove",
    ),
    path("import/", views.contact_imports, name="imports"),
    path("import/<int:import_id>/", views.contact_import_detail, name="import"),
    path("export.csv", views.contacts_export, name="export"),
    path("settings/", views.directory_settings, name="settings"),
    path(
        "settings/frequency/<int:rule_id>/delete/",
        views.frequency_rule_delete,
        name="frequency-rule-delete",
    ),
    path("opt-out/<str:token>/", views_public.opt_out, name="opt-out"),
]
