"""Friendly error pages, and a 503 instead of a 500 when the database is the problem.

Like a shop's "back in five minutes" sign: when PostgreSQL is unreachable the page says the
service is unavailable for now (503, with ``Retry-After``) rather than "we broke" (500), which
tells a load balancer and a user to come back rather than report a bug. Django calls
``server_error`` while the exception is being handled, so ``sys.exc_info()`` names the cause;
the page itself never shows it, nor any setting. Templates here must not touch the database
nor the static files manifest: they render exactly when either may be gone (``error.html``
inlines its stylesheet). Under ``/api/`` every error is one line of JSON instead.
"""

from __future__ import annotations

import sys

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string

#: Exceptions that mean "the database is not there" rather than "the code is wrong".
DATABASE_DOWN = (OperationalError, InterfaceError)


def is_database_down(error: BaseException | None) -> bool:
    return isinstance(error, DATABASE_DOWN) or (
        isinstance(error, DatabaseError) and "connect" in str(error).lower()
    )


def error_page(request, status: int, heading: str, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):  # API clients get JSON, in the API's error shape
        return JsonResponse({"error": f"{heading.lower()}: {message}"}, status=status)
    context = {"status": status, "heading": heading, "message": message}
    response = HttpResponse(render_to_string("error.html", context, request), status=status)
    return response


def service_unavailable(request) -> HttpResponse:
    response = error_page(
        request,
        503,
        "Temporarily unavailable",
        "The database cannot be reached right now. Please try again in a minute.",
    )
    response.headers["Retry-After"] = "30"
    return response


def method_not_allowed(request, allowed: tuple[str, ...]) -> HttpResponse:
    method = request.method[:20]
    response = error_page(
        request,
        405,
        "Method not allowed",
        f"This address answers {', '.join(allowed)}; {method} is not one of them.",
    )
    response.headers["Allow"] = ", ".join(allowed)
    return response


def bad_request(request, exception=None, message: str | None = None):
    return error_page(
        request,
        400,
        "Bad request",
        message or "The request could not be understood. Check the address and try again.",
    )


def permission_denied(request, exception=None):
    return error_page(request, 403, "Forbidden", "You do not have permission to see this page.")


def csrf_failure(request, reason: str = ""):
    """``CSRF_FAILURE_VIEW``: a form posted without a valid token (Django says why in
    ``reason``, e.g. "CSRF cookie not set."; it names no setting)."""
    return error_page(
        request,
        403,
        "Forbidden",
        f"The form's security check failed ({reason.rstrip('.') or 'no reason given'}). "
        "Reload the page and submit the form again.",
    )


def page_not_found(request, exception=None):
    return error_page(
        request,
        404,
        "Page not found",
        "There is nothing at this address. It may have moved, or the link may be mistyped.",
    )


def server_error(request):
    if is_database_down(sys.exc_info()[1]):
        return service_unavailable(request)
    return error_page(
        request,
        500,
        "Something went wrong",
        "The error has been logged. Please try again, or go back to the dashboard.",
    )
