"""Settings for the demo app, split by where it runs: ``base`` (shared), ``dev``, ``test``,
``production``. Pick one with ``DJANGO_SETTINGS_MODULE``; ``manage.py`` defaults to ``dev``,
``wsgi.py`` to ``production``."""
