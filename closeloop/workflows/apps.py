from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "closeloop.workflows"
    label = "workflows"
    verbose_name = "Workflows"
