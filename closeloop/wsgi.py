import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "closeloop.settings")
application = get_wsgi_application()

# Import every URLconf (and so every view module) while the worker boots, not on its first
# request: otherwise the first requests after a deploy wait seconds each.
import closeloop.urls  # noqa: E402, F401
