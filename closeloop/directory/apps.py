from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class DirectoryConfig(AppConfig):
    name = "closeloop.directory"
    label = "directory"
    verbose_name = "XM Directory"

    def ready(self) -> None:
        # Every app's touchpoints.py registers its timeline providers (closeloop.directory.touchpoints).
        autodiscover_modules("touchpoints")
