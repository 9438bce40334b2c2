from django.urls import path

from closeloop.surveys import views, views_results, views_sharing, views_translations

app_name = "surveys"
urlpatterns = [
    path("", views.survey_list, name="list"),
    path("new", views.create, name="create"),
    path("<str:survey_id>/", views.edit, name="edit"),
    path("<str:survey_id>/name", views.rename, name="rename"),
    path("<str:survey_id>/status", views.status_header, name="status"),
    path("<str:survey_id>/questions/add", views.add_question, name="add-question"),
    path("<str:survey_id>/page-break", views.add_page_break, name="add-page-break"),
    path(
        "<str:survey_id>/elements/<str:block_id>/<int:index>",
        views.element_action,
        name="element",
    ),
    path("<str:survey_id>/questions/<str:qid>", views.question, name="question"),
    path("<str:survey_id>/flow", views.flow, name="flow"),
    path("<str:survey_id>/options", views.options, name="options"),
    path(
        "<str:survey_id>/translations",
        views_translations.translations,
        name="translations",
    ),
    path("<str:survey_id>/languages", views_translations.languages, name="languages"),
    path("<str:survey_id>/publish", views.publish, name="publish"),
    path("<str:survey_id>/close", views.close, name="close"),
    path("<str:survey_id>/reopen", views.reopen, name="reopen"),
    path("<str:survey_id>/delete", views.delete, name="delete"),
    path("<str:survey_id>/sharing", views_sharing.sharing, name="sharing"),
    path("<str:survey_id>/preview", views.preview, name="preview"),
    path("<str:survey_id>/results", views_results.results, name="results"),
    path("<str:survey_id>/results/export.<str:fmt>", views_results.export, name="export"),
    path(
        "<str:survey_id>/responses/<str:response_id>",
        views_results.response_detail,
        name="response",
    ),
]
