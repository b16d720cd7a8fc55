"""The map from URL to view: pages and API (tracker), trace page (tracing), health checks and
calibration (ops), and the Django admin. The error handlers at the bottom replace Django's
defaults with the friendly pages in ``demo_app/templates/``."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("demo_app.tracker.urls")),
    path("", include("demo_app.tracing.urls")),
    path("", include("demo_app.ops.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "demo_app.ops.errors.bad_request"
handler403 = "demo_app.ops.errors.permission_denied"
handler404 = "demo_app.ops.errors.page_not_found"
handler500 = "demo_app.ops.errors.server_error"
