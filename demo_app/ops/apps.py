from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Health checks, calibration endpoint and error pages."""

    name = "demo_app.ops"
    label = "ops"
