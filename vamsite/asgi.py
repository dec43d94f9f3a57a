"""ASGI entry point. Websocket routing joins here with the jobs issue; today it serves HTTP only."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vamsite.settings")
application = get_asgi_application()
