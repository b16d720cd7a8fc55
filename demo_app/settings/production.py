"""Settings for running behind nginx (the local stack lab, or a real deployment).

Refuses to start without ``SECRET_KEY``; ``DEBUG`` stays off unless ``DEBUG=1`` says otherwise;
``prepare_demo`` makes an admin account only with ``DEMO_ADMIN_PASSWORD`` from the environment.
``python demo_app/manage.py check --deploy`` with these settings passes; the two warnings it
would raise are silenced below, each with its reason.
"""

import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import SECRET_KEY, env_bool, env_list

if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set: production settings need it in the environment "
        "(for example SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(50))'))"
    )

DEBUG = env_bool("DEBUG", False)
CALIBRATION_ENDPOINT = env_bool("CALIBRATION_ENDPOINT", False)
# No admin account unless DEMO_ADMIN_PASSWORD is set, and never with the published password.
DEMO_ADMIN_PASSWORD = os.environ.get("DEMO_ADMIN_PASSWORD", "")
DEMO_ADMIN_PUBLISHED_PASSWORD_ALLOWED = False

# nginx terminates TLS and says so in X-Forwarded-Proto; trust it, and nothing else, to tell
# Django the original request was HTTPS. Only safe because Gunicorn listens behind nginx.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", ["https://quorum.us"])

# Cookies travel only over HTTPS. SECURE_COOKIES=0 is for a lab run over plain HTTP.
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

SILENCED_SYSTEM_CHECKS = [
    # security.W008 (SECURE_SSL_REDIRECT off): the HTTP -> HTTPS redirect is nginx's job
    # (`return 301 https://$host$request_uri`, sim/FACTS.md), and health
    # checks reach Gunicorn over plain HTTP, where a redirect would read as "unhealthy".
    "security.W008",
    # security.W004 (no HSTS): the lab serves quorum.us and localhost with a self-signed
    # certificate; HSTS would pin those names to HTTPS in the learner's browser for a year.
    # A real deployment sets Strict-Transport-Security at the load balancer or nginx.
    "security.W004",
]
