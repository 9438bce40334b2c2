from django.apps import AppConfig


class TwilioConfig(AppConfig):
    """Twilio plugs into distributions: its SMS backend for the organizations that configured
    an account, its settings page, the SMS simulator and its webhooks."""

    name = "closeloop.integrations.twilio"
    label = "twilio"
    verbose_name = "Twilio"

    def ready(self) -> None:
        # Imported here: Django's app loading needs the models ready before these modules load.
        from closeloop.distributions import extensions
        from closeloop.integrations.twilio import backend, urls

        extensions.add_sms_provider(backend.configured_backend)
        extensions.add_pages(urls.pages)
        extensions.add_tracking_pages(urls.public_pages)
