from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "closeloop.outbox"
    label = "outbox"
    verbose_name = "Outbox"
