"""URLs for the workflows tests: the project's (closeloop/urls.py mounts the workflows pages and
the trigger URLs; closeloop/api/v1.py mounts closeloop.workflows.api_v1 on /api/v1/workflows)."""

from closeloop.urls import urlpatterns

__all__ = ["urlpatterns"]
