"""Deterministic sample data for the tracker: plain Python objects, no database.

Like a printed phone book with a fixed seed: page 17 always lists the same names whatever page
you open first. Each legislator and bill draws from its own ``random.Random`` seeded by
``(seed, kind, index)``, so asking for 3,000 bills and later for 5,000 produces the same first
3,000, and rows carry stable natural keys (``Legislator.code``, ``Bill`` congress + number).
``management/commands/seed_demo.py`` turns these objects into bulk inserts.

True to life where a reader would notice: every date lies between ``SESSION_START`` and
``AS_OF`` (a fixed day in the past), a floor vote comes after introduction and never after the
bill's last action, and the tally agrees with the status (a failed bill has more nays than
yeas, a passed or enacted one more yeas).
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from .models import BillStatus, Chamber, Party, Position, SponsorshipKind

CONGRESS = 119
SESSION_START = dt.date(2025, 1, 3)
#: The day the data set ends: no date in it is later. A fixed day in the past, not today, so a
#: seed gives the same rows whatever day it runs, and nothing is dated in the future.
AS_OF = dt.date(2025, 12, 31)
SESSION_DAYS = (AS_OF - SESSION_START).days + 1
#: Days from introduction to a floor vote (committee work first), from a vote to an enacted
#: bill's signature, and from introduction to a referral.
VOTE_AFTER = (30, 150)
SIGNED_AFTER = (1, 10)
REFERRED_WITHIN = 8

STATES = (  # noqa: SIM905 (a word list reads better as prose)
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH "
    "NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY"
).split()
FIRST_NAMES = (  # noqa: SIM905 (a word list reads better as prose)
    "Ada Alan Alice Amara Ana Ben Carla Chen Dara David Elena Emil Fatima Grace Hana Ivan "
    "Jamal Jia Jonas Kara Leo Lina Maya Mateo Nadia Noah Omar Priya Rosa Sam Sofia Tariq "
    "Uma Victor Wen Yara Zoe"
).split()
LAST_NAMES = (  # noqa: SIM905 (a word list reads better as prose)
    "Abbott Baker Castillo Dunn Ellis Fischer Garcia Hayes Ito Jensen Kaur Lopez Moreno "
    "Nakamura Okafor Patel Quinn Rivera Schmidt Tanaka Underwood Vargas Walsh Xu Young "
    "Zimmerman Brooks Carter Delgado Foster Gupta Hughes Kim Larsen Murphy Nguyen Olsen "
    "Price Reyes Shah"
).split()
COMMITTEES = (
    ("HSAG", "Agriculture", Chamber.HOUSE),
    ("HSAP", "Appropriations", Chamber.HOUSE),
    ("HSAS", "Armed Services", Chamber.HOUSE),
    ("HSBU", "Budget", Chamber.HOUSE),
    ("HSED", "Education and Workforce", Chamber.HOUSE),
    ("HSIF", "Energy and Commerce", Chamber.HOUSE),
    ("HSBA", "Financial Services", Chamber.HOUSE),
    ("HSFA", "Foreign Affairs", Chamber.HOUSE),
    ("HSHM", "Homeland Security", Chamber.HOUSE),
    ("HSJU", "Judiciary", Chamber.HOUSE),
    ("HSII", "Natural Resources", Chamber.HOUSE),
    ("HSSY", "Science, Space, and Technology", Chamber.HOUSE),
    ("HSPW", "Transportation and Infrastructure", Chamber.HOUSE),
    ("HSWM", "Ways and Means", Chamber.HOUSE),
    ("SSAF", "Agriculture, Nutrition, and Forestry", Chamber.SENATE),
    ("SSAP", "Appropriations", Chamber.SENATE),
    ("SSBK", "Banking, Housing, and Urban Affairs", Chamber.SENATE),
    ("SSCM", "Commerce, Science, and Transportation", Chamber.SENATE),
    ("SSEG", "Energy and Natural Resources", Chamber.SENATE),
    ("SSFI", "Finance", Chamber.SENATE),
    ("SSFR", "Foreign Relations", Chamber.SENATE),
    ("SSHR", "Health, Education, Labor, and Pensions", Chamber.SENATE),
    ("SSJU", "Judiciary", Chamber.SENATE),
)
TITLE_VERBS = (
    "Protecting",
    "Modernizing",
    "Expanding",
    "Strengthening",
    "Improving",
    "Reforming",
    "Securing",
    "Investing in",
    "Lowering the Cost of",
    "Promoting",
)
TITLE_SUBJECTS = (
    "Rural Broadband",
    "Veterans Health Care",
    "Small Business Lending",
    "Clean Water Infrastructure",
    "Student Loan Transparency",
    "Election Security",
    "Wildfire Resilience",
    "Prescription Drug Pricing",
    "Public Transit",
    "Child Care Access",
    "Cybersecurity Workforce",
    "Farm Credit",
    "Coastal Communities",
    "Apprenticeships",
    "Affordable Housing",
    "Open Government Data",
)
TITLE_SUFFIXES = ("Act", "Act of 2025", "Act of 2026", "Improvement Act", "Accountability Act")

#: Status mix: roughly one bill in eight reaches a floor vote (and so carries votes).
STATUS_WEIGHTS = {
    BillStatus.INTRODUCED: 38,
    BillStatus.IN_COMMITTEE: 50,
    BillStatus.PASSED_CHAMBER: 7,
    BillStatus.FAILED: 2,
    BillStatus.ENACTED: 3,
}
VOTED_STATUSES = {BillStatus.PASSED_CHAMBER, BillStatus.FAILED, BillStatus.ENACTED}


@dataclass(frozen=True)
class LegislatorRow:
    code: str
    first_name: str
    last_name: str
    party: str
    chamber: str
    state: str
    district: int | None
    committee_codes: tuple[str, ...]


@dataclass(frozen=True)
class BillRow:
    congress: int
    number: str
    chamber: str
    title: str
    summary: str
    status: str
    introduced_on: dt.date
    #: Introduction, referral, the floor vote or the signature, whichever came last.
    last_action_on: dt.date
    committee_code: str | None
    #: (legislator code, kind, joined_on); the first entry is the sponsor.
    sponsors: tuple[tuple[str, str, dt.date], ...]
    #: (legislator code, position, cast_on); empty unless the bill reached a floor vote.
    votes: tuple[tuple[str, str, dt.date], ...]


def _rng(seed: int, kind: str, index: int) -> random.Random:
    # A string seed is hashed with SHA-512 by random.Random: stable across runs and platforms.
    return random.Random(f"{seed}:{kind}:{index}")


def legislators(count: int, seed: int) -> list[LegislatorRow]:
    """``count`` legislators, one in five a senator, with two committees of their chamber each."""
    rows = []
    n_senate = count // 5
    for i in range(count):
        rng = _rng(seed, "legislator", i)
        chamber = Chamber.SENATE if i < n_senate else Chamber.HOUSE
        party = rng.choices([Party.DEMOCRAT, Party.REPUBLICAN, Party.INDEPENDENT], [48, 49, 3])[0]
        own = [code for code, _, ch in COMMITTEES if ch == chamber]
        rows.append(
            LegislatorRow(
                code=f"L{i:05d}",
                first_name=rng.choice(FIRST_NAMES),
                last_name=rng.choice(LAST_NAMES),
                party=party.value,
                chamber=chamber.value,
                state=rng.choice(STATES),
                district=None if chamber == Chamber.SENATE else rng.randint(1, 12),
                committee_codes=tuple(sorted(rng.sample(own, 2))),
            )
        )
    return rows


def _days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


def _timeline(rng: random.Random, status: str) -> tuple[dt.date, dt.date | None, dt.date]:
    """(introduced, floor vote or None, last action), all between SESSION_START and AS_OF.
    A bill that reached the floor was introduced early enough for committee work, its vote
    and, when enacted, the signature."""
    if status not in VOTED_STATUSES:
        introduced = SESSION_START + _days(rng.randrange(SESSION_DAYS))
        if status == BillStatus.IN_COMMITTEE:
            return introduced, None, min(AS_OF, introduced + _days(rng.randrange(REFERRED_WITHIN)))
        return introduced, None, introduced
    last_vote = AS_OF - _days(SIGNED_AFTER[1])
    introduced = SESSION_START + _days(
        rng.randrange((last_vote - SESSION_START).days - VOTE_AFTER[0] + 1)
    )
    first = introduced + _days(VOTE_AFTER[0])
    last = min(last_vote, introduced + _days(VOTE_AFTER[1]))
    cast_on = first + _days(rng.randrange((last - first).days + 1))
    if status == BillStatus.ENACTED:
        return introduced, cast_on, cast_on + _days(rng.randint(*SIGNED_AFTER))
    return introduced, cast_on, cast_on


def _floor_vote(
    rng: random.Random, pool: list[LegislatorRow], sponsor_party: str, passes: bool
) -> list[str]:
    """One position per member of ``pool``: the sponsor's party mostly for, the other party
    mostly against; then, as the status records the outcome, members who voted otherwise
    switch, one at a time, until the yeas outnumber the nays (or the nays the yeas)."""
    p_same, p_other = (0.88, 0.35) if passes else (0.6, 0.1)
    positions = []
    for m in pool:
        draw = rng.random()
        if draw < 0.03:
            positions.append(Position.NOT_VOTING.value)
        elif draw < 0.04:
            positions.append(Position.PRESENT.value)
        elif rng.random() < (p_same if m.party == sponsor_party else p_other):
            positions.append(Position.YEA.value)
        else:
            positions.append(Position.NAY.value)
    want, against = (Position.YEA, Position.NAY) if passes else (Position.NAY, Position.YEA)
    tally = Counter(positions)
    while tally[want.value] <= tally[against.value]:
        switch = rng.choice([i for i, p in enumerate(positions) if p != want.value])
        tally[positions[switch]] -= 1
        tally[want.value] += 1
        positions[switch] = want.value
    return positions


def bills(count: int, seed: int, members: list[LegislatorRow]) -> Iterator[BillRow]:
    """``count`` bills; the ones that reached a floor vote carry a vote from every member of
    their chamber (``_floor_vote``), dated before the bill's last action."""
    by_chamber = {
        chamber: [m for m in members if m.chamber == chamber] for chamber in Chamber.values
    }
    statuses = list(STATUS_WEIGHTS)
    weights = list(STATUS_WEIGHTS.values())
    for i in range(count):
        rng = _rng(seed, "bill", i)
        chamber = Chamber.HOUSE if rng.random() < 0.7 else Chamber.SENATE
        pool = by_chamber[chamber] or members
        if not pool:
            return
        status = rng.choices(statuses, weights)[0]  # draws up to here fix bill 8 (the N+1 page)
        introduced, cast_on, last_action = _timeline(rng, status)
        committees = [code for code, _, ch in COMMITTEES if ch == chamber]
        committee = None if status == BillStatus.INTRODUCED else rng.choice(committees)
        subject = rng.choice(TITLE_SUBJECTS)
        title = f"{rng.choice(TITLE_VERBS)} {subject} {rng.choice(TITLE_SUFFIXES)}"
        n_cosponsors = min(len(pool) - 1, int(rng.expovariate(1 / 4)))
        chosen = rng.sample(pool, n_cosponsors + 1)
        sponsors = [(chosen[0].code, SponsorshipKind.SPONSOR.value, introduced)]
        sponsors += [
            (
                m.code,
                SponsorshipKind.COSPONSOR.value,
                min(AS_OF, introduced + _days(rng.randrange(60))),
            )
            for m in chosen[1:]
        ]
        votes: tuple[tuple[str, str, dt.date], ...] = ()
        if cast_on is not None:
            passes = status != BillStatus.FAILED
            positions = _floor_vote(rng, pool, chosen[0].party, passes)
            votes = tuple((m.code, p, cast_on) for m, p in zip(pool, positions, strict=True))
        prefix = "H.R." if chamber == Chamber.HOUSE else "S."
        yield BillRow(
            congress=CONGRESS,
            number=f"{prefix} {i + 1}",
            chamber=chamber.value,
            title=title,
            summary=(
                f"A bill about {subject.lower()}: {title}, referred in the "
                f"{CONGRESS}th Congress, and for other purposes."
            ),
            status=status.value,
            introduced_on=introduced,
            last_action_on=last_action,
            committee_code=committee,
            sponsors=tuple(sponsors),
            votes=votes,
        )
