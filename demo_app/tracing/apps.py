from django.apps import AppConfig


class TracingConfig(AppConfig):
    """Trace middleware, query timer and the ``/trace/`` waterfall page."""

    name = "demo_app.tracing"
    label = "tracing"
