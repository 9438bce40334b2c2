from django.apps import AppConfig


class SegmentConfig(AppConfig):
    """Twilio Segment: the Segment event and the Segment contact task, registered with
    workflows when the app is ready, and the Segment sources page (docs/segment.md)."""

    name = "closeloop.integrations.segment"
    label = "segment"
    verbose_name = "Twilio Segment"

    def ready(self) -> None:
        # Imported here: Django's app loading needs the models ready before these modules load.
        from closeloop.integrations.segment import event, task
        from closeloop.workflows import registry

        registry.register_event(event.SegmentEvent())
        registry.register_task(task.SegmentContactTask())
