from django.urls import path

from . import calibrate, health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("calibrate/", calibrate.calibrate, name="calibrate"),
]
