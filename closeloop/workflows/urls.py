from django.urls import path

from closeloop.workflows import views, views_replays, views_runs, views_transfer

app_name = "workflows"
urlpatterns = [
    path("", views.workflow_list, name="list"),
    path("new", views.workflow_create, name="create"),
    path("runs/", views_runs.run_list, name="runs"),
    path("runs/export.csv", views_runs.run_csv, name="runs-csv"),
    path("runs/replay", views_replays.bulk_replay_new, name="runs-replay"),
    path("runs/replays/<str:replay_id>/", views_replays.bulk_replay_detail, name="bulk-replay"),
    path(
        "runs/replays/<str:replay_id>/cancel",
        views_replays.bulk_replay_cancel,
        name="bulk-replay-cancel",
    ),
    path("runs/<str:run_id>/", views_runs.run_detail, name="run"),
    path("runs/<str:run_id>/retry", views_runs.run_retry, name="run-retry"),
    path("runs/<str:run_id>/replay", views_replays.run_replay, name="run-replay"),
    path("transfer/<str:survey_id>/", views_transfer.transfer_page, name="transfer"),
    path("<str:workflow_id>/", views.workflow_edit, name="edit"),
    path("<str:workflow_id>/settings", views.workflow_settings, name="settings"),
    path("<str:workflow_id>/event", views.workflow_event, name="event"),
    path("<str:workflow_id>/trigger-token", views.workflow_rotate_token, name="rotate-token"),
    path("<str:workflow_id>/capture", views.workflow_capture, name="capture"),
    path("<str:workflow_id>/conditions", views.workflow_conditions, name="conditions"),
    path("<str:workflow_id>/tasks/<str:task_id>", views.task_save, name="task"),
    path("<str:workflow_id>/tasks/<str:task_id>/move", views.task_move, name="task-move"),
    path("<str:workflow_id>/tasks/<str:task_id>/delete", views.task_delete, name="task-delete"),
    path("<str:workflow_id>/dry-run", views.workflow_dry_run, name="dry-run"),
    path("<str:workflow_id>/revisions/", views.workflow_revisions, name="revisions"),
    path("<str:workflow_id>/revisions/<int:number>/", views.workflow_revision, name="revision"),
    path("<str:workflow_id>/delete", views.workflow_delete, name="delete"),
    path("<str:workflow_id>/runs/", views.workflow_runs, name="workflow-runs"),
]
