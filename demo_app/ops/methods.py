"""Views that only read say so: ``@read_only`` answers GET and HEAD, OPTIONS with the list,
anything else with a 405.

Like a museum's "look, don't touch" sign: a POST, PUT, PATCH or DELETE to a page, the trace
page, a health check or the JSON API gets 405 with an ``Allow`` header (one line of JSON
under ``/api/``, the app's own error page elsewhere), and OPTIONS gets ``Allow`` with an empty
body, as Django's class-based views answer it. ``tests/demo_app/test_demo_methods.py`` checks
that every URL except ``/calibrate/`` and ``/admin/`` carries it.
"""

from __future__ import annotations

from functools import wraps

from django.http import HttpResponse

from .errors import method_not_allowed

READ_METHODS = ("GET", "HEAD", "OPTIONS")


def read_only(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method in ("GET", "HEAD"):
            return view(request, *args, **kwargs)
        if request.method == "OPTIONS":
            response = HttpResponse()
            response.headers["Allow"] = ", ".join(READ_METHODS)
            response.headers["Content-Length"] = "0"
            return response
        return method_not_allowed(request, READ_METHODS)

    # CsrfViewMiddleware runs before the view and would answer a POST with 403 first; a view
    # that never acts on a write has nothing to protect, so the 405 is the truthful answer.
    wrapper.csrf_exempt = True
    wrapper.allowed_methods = READ_METHODS
    return wrapper
