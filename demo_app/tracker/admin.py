"""The Django admin for the tracker's tables (login printed by ``prepare_demo`` at start-up).

List pages use ``list_select_related`` and raw-id widgets: with tens of thousands of votes, the
admin's defaults would issue one query per row and render a select box with every bill.
"""

from django.contrib import admin

from .models import Bill, Committee, Legislator, Sponsorship, Vote


@admin.register(Committee)
class CommitteeAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "chamber")
    list_filter = ("chamber",)
    search_fields = ("code", "name")


@admin.register(Legislator)
class LegislatorAdmin(admin.ModelAdmin):
    list_display = ("code", "last_name", "first_name", "party", "chamber", "state")
    list_filter = ("chamber", "party")
    search_fields = ("code", "last_name", "first_name", "state")
    filter_horizontal = ("committees",)


class SponsorshipInline(admin.TabularInline):
    model = Sponsorship
    raw_id_fields = ("legislator",)
    extra = 0


@admin.register(Bill)
class BillAdmin(admin.ModelAdmin):
    list_display = (
        "number",
        "congress",
        "title",
        "status",
        "introduced_on",
        "last_action_on",
        "committee",
    )
    list_filter = ("status", "chamber", "congress")
    list_select_related = ("committee",)
    search_fields = ("number", "title")
    raw_id_fields = ("committee",)
    date_hierarchy = "introduced_on"
    inlines = (SponsorshipInline,)


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ("bill", "legislator", "position", "cast_on")
    list_filter = ("position",)
    list_select_related = ("bill", "legislator")
    raw_id_fields = ("bill", "legislator")
    search_fields = ("bill__number",)


@admin.register(Sponsorship)
class SponsorshipAdmin(admin.ModelAdmin):
    list_display = ("bill", "legislator", "kind", "joined_on")
    list_filter = ("kind",)
    list_select_related = ("bill", "legislator")
    raw_id_fields = ("bill", "legislator")
