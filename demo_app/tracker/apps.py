from django.apps import AppConfig


class TrackerConfig(AppConfig):
    """The legislative tracker: the domain the demo app serves."""

    name = "demo_app.tracker"
    label = "tracker"
    verbose_name = "Legislative tracker"
