from django.apps import AppConfig


class DistributionsConfig(AppConfig):
    name = "closeloop.distributions"
    label = "distributions"
    verbose_name = "Distributions"

    def ready(self) -> None:
        # Imported here: Django's app loading needs the models ready before these modules load.
        from closeloop.distributions import actions, provider_events, workflow_tasks
        from closeloop.surveys.signals import invitation_progress

        provider_events.connect()
        invitation_progress.connect(
            actions.on_invitation_progress, dispatch_uid="closeloop.distributions.survey_events"
        )
        workflow_tasks.register()  # the Distribute survey task, into workflows' registry
