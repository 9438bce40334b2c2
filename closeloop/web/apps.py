from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "closeloop.web"
    label = "web"
    verbose_name = "Web shell"
