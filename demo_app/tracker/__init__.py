"""The legislative tracker: legislators, committees, bills, sponsorships and votes.

A small cousin of the product: a bill is introduced by a sponsor, joined by cosponsors, referred
to a committee and, for some, put to a floor vote where every member of its chamber votes.
``models.py`` holds the tables, ``views.py`` the HTML pages, ``api.py`` the JSON API,
``bill_loading.py`` the bill page's naive and fixed query plans (the N+1 lesson), and
``management/commands/seed_demo.py`` the deterministic sample data.
"""
