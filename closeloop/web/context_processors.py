from django.conf import settings

NAVIGATION = [
    ("surveys", "Surveys", "surveys:list"),
    ("directory", "Directory", "directory:contacts"),
    ("workflows", "Workflows", "workflows:list"),
    ("distributions", "Distributions", "distributions:list"),
    ("extensions", "Extensions", "web:extensions"),
    ("settings", "Settings", "accounts:settings"),
]


def shell(request):
    return {
        "navigation": NAVIGATION,
        "outbox_active": settings.CLOSELOOP_OUTBOX_ACTIVE,
        "current_organization": getattr(request, "organization", None),
        "current_membership": getattr(request, "membership", None),
    }
