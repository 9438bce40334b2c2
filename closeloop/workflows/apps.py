from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "closeloop.workflows"
    label = "workflows"
    verbose_name = "Workflows"

    def ready(self) -> None:
        # Imported here: Django's app loading requires models to be ready before these load.
        from closeloop.surveys.signals import response_recorded
        from closeloop.workflows import actions, builtin, lookup_cache

        builtin.register()
        lookup_cache.connect_invalidation()
        response_recorded.connect(actions.on_response_recorded, dispatch_uid="workflows.response")
