from django.apps import AppConfig


class DistributionsConfig(AppConfig):
    name = "closeloop.distributions"
    label = "distributions"
    verbose_name = "Distributions"

    def ready(self) -> None:
        from closeloop.distributions import provider_events

        provider_events.connect()
        try:
            from closeloop.distributions import workflow_tasks
        except ImportError:  # the workflows app is not installed
            return
        workflow_tasks.register()
