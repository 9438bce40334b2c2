from django.apps import AppConfig


class SalesforceConfig(AppConfig):
    """Linked Salesforce accounts (OAuth); the outbound-message event and the Salesforce task
    register with workflows from here as they land (docs/salesforce.md)."""

    name = "closeloop.integrations.salesforce"
    label = "salesforce"
    verbose_name = "Salesforce"
