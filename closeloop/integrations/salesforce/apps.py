from django.apps import AppConfig


class SalesforceConfig(AppConfig):
    """Linked Salesforce accounts (OAuth), the Salesforce Outbound Message event and the
    Salesforce task, registered with workflows when the app is ready (docs/salesforce.md)."""

    name = "closeloop.integrations.salesforce"
    label = "salesforce"
    verbose_name = "Salesforce"

    def ready(self) -> None:
        # Imported here: Django's app loading needs the models ready before these modules load.
        from closeloop.integrations.salesforce import event, task
        from closeloop.workflows import registry

        registry.register_event(event.OutboundMessageEvent())
        registry.register_task(task.SalesforceTask())
