"""Puts the instance name, worker pid and release on every page (the footer shows who served
it, and which code)."""

import os

from django.conf import settings


def instance(request):
    return {
        "instance_name": settings.INSTANCE_NAME,
        "worker_pid": os.getpid(),
        "release": settings.RELEASE,
    }
