from django.urls import path

from closeloop.integrations.salesforce import demo_views, task_views, views

app_name = "salesforce"

urlpatterns = [
    path("", views.accounts, name="accounts"),
    path("link/", views.link, name="link"),
    path("callback/", views.callback, name="callback"),
    path("<str:public_id>/rename/", views.rename, name="rename"),
    path("<str:public_id>/reconnect/", views.reconnect, name="reconnect"),
    path("<str:public_id>/share/", views.share, name="share"),
    path("<str:public_id>/remove/", views.remove, name="remove"),
    path("<str:public_id>/demo-writes/", demo_views.demo_writes, name="demo-writes"),
    path(
        "task-editor/<str:workflow_id>/<str:task_key>/",
        task_views.task_editor,
        name="task-editor",
    ),
]
