"""The tables of the legislative tracker.

Each row has a stable natural key (a legislator's ``code``, a bill's ``congress`` + ``number``),
so the sample-data command can insert with ``ignore_conflicts`` and running it twice adds
nothing. Foreign keys point from the many to the one: a vote knows its bill and legislator,
which is exactly what makes the bill page's N+1 query possible.
"""

from __future__ import annotations

from django.db import models


class Chamber(models.TextChoices):
    HOUSE = "house", "House"
    SENATE = "senate", "Senate"


class Committee(models.Model):
    code = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=200)
    chamber = models.CharField(max_length=8, choices=Chamber.choices)

    class Meta:
        ordering = ("chamber", "name")

    def __str__(self) -> str:
        return f"{self.name} ({self.get_chamber_display()})"


class Party(models.TextChoices):
    DEMOCRAT = "D", "Democrat"
    REPUBLICAN = "R", "Republican"
    INDEPENDENT = "I", "Independent"


class Legislator(models.Model):
    code = models.CharField(max_length=16, unique=True)
    first_name = models.CharField(max_length=80)
    last_name = models.CharField(max_length=80)
    party = models.CharField(max_length=1, choices=Party.choices)
    chamber = models.CharField(max_length=8, choices=Chamber.choices)
    state = models.CharField(max_length=2)
    district = models.PositiveSmallIntegerField(null=True, blank=True)
    committees = models.ManyToManyField(Committee, related_name="members", blank=True)

    class Meta:
        ordering = ("last_name", "first_name")
        indexes = (models.Index(fields=["chamber", "state"]),)

    def __str__(self) -> str:
        return f"{self.full_name} ({self.party}-{self.state})"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def title(self) -> str:
        return "Sen." if self.chamber == Chamber.SENATE else "Rep."


class BillStatus(models.TextChoices):
    INTRODUCED = "introduced", "Introduced"
    IN_COMMITTEE = "in_committee", "In committee"
    PASSED_CHAMBER = "passed_chamber", "Passed chamber"
    FAILED = "failed", "Failed"
    ENACTED = "enacted", "Enacted"


class Bill(models.Model):
    congress = models.PositiveSmallIntegerField()
    number = models.CharField(max_length=16)
    chamber = models.CharField(max_length=8, choices=Chamber.choices)
    title = models.CharField(max_length=300)
    summary = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=BillStatus.choices)
    introduced_on = models.DateField()
    #: The latest of introduction, referral, floor vote and signature (``last_action``).
    last_action_on = models.DateField()
    committee = models.ForeignKey(
        Committee, null=True, blank=True, on_delete=models.SET_NULL, related_name="bills"
    )

    class Meta:
        ordering = ("-introduced_on", "-id")
        constraints = (
            models.UniqueConstraint(fields=["congress", "number"], name="bill_natural_key"),
        )
        indexes = (models.Index(fields=["status"]), models.Index(fields=["-introduced_on"]))

    def __str__(self) -> str:
        return f"{self.number}: {self.title}"

    @property
    def last_action(self) -> str:
        """What happened on ``last_action_on``, as the status tells it."""
        chamber = self.get_chamber_display()
        return {
            BillStatus.INTRODUCED: f"introduced in the {chamber}",
            BillStatus.IN_COMMITTEE: "referred to committee",
            BillStatus.PASSED_CHAMBER: f"passed the {chamber}",
            BillStatus.FAILED: f"failed in the {chamber}",
            BillStatus.ENACTED: "signed into law",
        }.get(self.status, self.get_status_display())


class SponsorshipKind(models.TextChoices):
    SPONSOR = "sponsor", "Sponsor"
    COSPONSOR = "cosponsor", "Cosponsor"


class Sponsorship(models.Model):
    bill = models.ForeignKey(Bill, on_delete=models.CASCADE, related_name="sponsorships")
    legislator = models.ForeignKey(
        Legislator, on_delete=models.CASCADE, related_name="sponsorships"
    )
    kind = models.CharField(max_length=10, choices=SponsorshipKind.choices)
    joined_on = models.DateField()

    class Meta:
        ordering = ("-kind", "joined_on", "id")  # the sponsor first, then cosponsors by date
        constraints = (
            models.UniqueConstraint(fields=["bill", "legislator"], name="one_sponsorship"),
        )

    def __str__(self) -> str:
        return f"{self.legislator} {self.kind} of {self.bill.number}"


class Position(models.TextChoices):
    YEA = "yea", "Yea"
    NAY = "nay", "Nay"
    PRESENT = "present", "Present"
    NOT_VOTING = "not_voting", "Not voting"


class Vote(models.Model):
    """One legislator's position on a bill's floor vote."""

    bill = models.ForeignKey(Bill, on_delete=models.CASCADE, related_name="votes")
    legislator = models.ForeignKey(Legislator, on_delete=models.CASCADE, related_name="votes")
    position = models.CharField(max_length=10, choices=Position.choices)
    cast_on = models.DateField()

    class Meta:
        ordering = ("id",)
        constraints = (models.UniqueConstraint(fields=["bill", "legislator"], name="one_vote"),)

    def __str__(self) -> str:
        return f"{self.legislator}: {self.position} on {self.bill.number}"
