from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "closeloop.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # Imported here: signal receivers need the app registry, which is ready only now.
        from django.contrib.auth.signals import user_logged_in

        from closeloop.accounts import audit

        user_logged_in.connect(audit.record_sign_in, dispatch_uid="accounts.audit.sign_in")
