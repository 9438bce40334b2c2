from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "closeloop.surveys"
    label = "surveys"
    verbose_name = "Surveys"
