"""Settings for a developer's machine: DEBUG on by default (``DEBUG=0`` turns it off, which
``make app`` does so the friendly error pages and WhiteNoise's compressed files are what you see),
a fixed throwaway secret key, every local host name allowed."""

from .base import *  # noqa: F403
from .base import env_bool

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = SECRET_KEY or "dev-only-not-secret-0b6f4c1e9a7d4e2f8c3b5a6d7e8f9a0b1c2d3e4f5a6b7c8d"  # noqa: F405
ALLOWED_HOSTS = [*ALLOWED_HOSTS, "[::1]", "0.0.0.0", ".localhost"]  # noqa: F405
# With DEBUG on, serve static straight from the app folders: no collectstatic needed.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
