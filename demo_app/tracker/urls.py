from django.urls import path, register_converter

from . import api, views
from .converters import RowIdConverter

register_converter(RowIdConverter, "id")

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("bills/", views.bill_list, name="bill-list"),
    path("bills/<id:bill_id>/", views.bill_detail, name="bill-detail"),
    path("legislators/<id:legislator_id>/", views.legislator_detail, name="legislator-detail"),
    path("api/", api.index, name="api-index"),
    path("api/bills/", api.bill_list, name="api-bill-list"),
    path("api/bills/<id:bill_id>/", api.bill_detail, name="api-bill-detail"),
    path("api/legislators/", api.legislator_list, name="api-legislator-list"),
    path(
        "api/legislators/<id:legislator_id>/",
        api.legislator_detail,
        name="api-legislator-detail",
    ),
]
