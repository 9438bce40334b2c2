from django.conf import settings

from closeloop.demo import queries as demo_queries

NAVIGATION = [
    ("surveys", "Surveys", "surveys:list"),
    ("directory", "Directory", "directory:contacts"),
    ("workflows", "Workflows", "workflows:list"),
    ("distributions", "Distributions", "distributions:list"),
    ("extensions", "Extensions", "web:extensions"),
    ("settings", "Settings", "accounts:settings"),
]


def shell(request):
    organization = getattr(request, "organization", None)
    return {
        # A callable: asked only when the navigation is drawn, not on every partial.
        "has_demo": lambda: demo_queries.has_demo(organization),
        "navigation": NAVIGATION,
        "outbox_active": settings.CLOSELOOP_OUTBOX_ACTIVE,
        "current_organization": getattr(request, "organization", None),
        "current_membership": getattr(request, "membership", None),
    }
