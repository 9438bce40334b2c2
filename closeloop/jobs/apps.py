from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "closeloop.jobs"
    label = "jobs"
    verbose_name = "Job ledger"
