from django.apps import AppConfig


class DistributionsConfig(AppConfig):
    name = "closeloop.distributions"
    label = "distributions"
    verbose_name = "Distributions"
