"""A URL configuration for the 500-page test: the app's own URLs plus a view that fails."""

from django.urls import path

from demo_app.urls import handler400, handler403, handler404, handler500, urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


def boom(request):
    raise RuntimeError("kaboom: a bug in a view")


urlpatterns = [*urlpatterns, path("boom/", boom)]
