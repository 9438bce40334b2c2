from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo workspace and the Try it page (docs/getting-started.md)."""

    name = "closeloop.demo"
    label = "demo"
    verbose_name = "Demo workspace"
