"""The WSGI entry point Gunicorn loads (``demo_app.wsgi:application``).

Settings default to ``demo_app.settings.production``: whatever serves this callable in earnest
should run the deploy-checked settings unless told otherwise.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_app.settings.production")

application = get_wsgi_application()
