from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "closeloop.directory"
    label = "directory"
    verbose_name = "XM Directory"
