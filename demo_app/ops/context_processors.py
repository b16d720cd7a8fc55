"""Puts the instance name and worker pid on every page (the footer shows who served it)."""

import os

from django.conf import settings


def instance(request):
    return {"instance_name": settings.INSTANCE_NAME, "worker_pid": os.getpid()}
