"""URLs for the directory tests: the project's (closeloop/urls.py mounts the directory pages;
closeloop/api/v3.py mounts closeloop.directory.api_v3 on /API/v3/directories)."""

from closeloop.urls import urlpatterns

__all__ = ["urlpatterns"]
