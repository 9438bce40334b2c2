import os

from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "closeloop.workflows"
    label = "workflows"
    verbose_name = "Workflows"

    def ready(self) -> None:
        from closeloop.workflows import builtin, lookup_cache

        builtin.register()
        lookup_cache.connect_invalidation()
        if os.environ.get("CLOSELOOP_TEST_HANDLERS") == "1":
            from closeloop.workflows import testing_tasks

            testing_tasks.register()
