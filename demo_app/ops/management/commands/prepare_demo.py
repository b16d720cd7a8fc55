"""``manage.py prepare_demo``: everything the app needs before Gunicorn starts, in one step.

Migrate, load the sample data if there are no bills yet, create (or reset) the demo admin
account, collect static files for WhiteNoise, then print where to go and how to log in.
``make app`` runs it before ``gunicorn``. Run it once per database, not once per instance:
several instances migrating one database at the same moment would race.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from demo_app.tracker.management.commands.seed_demo import bounded_int


class Command(BaseCommand):
    help = "Migrate, seed if empty, ensure the demo admin, collect static; print the login."

    def add_arguments(self, parser):
        parser.add_argument(
            "--url", default="", help="the address to print (default: from GUNICORN_BIND)"
        )
        parser.add_argument(
            "--bills",
            type=bounded_int(0, 200_000),
            default=3000,
            help="bills to seed when the database is empty",
        )
        parser.add_argument("--no-static", action="store_true", help="skip collectstatic")

    def handle(self, *args, url: str, bills: int, no_static: bool, **options):
        database = settings.DATABASES["default"]
        if database["ENGINE"].endswith("sqlite3") and str(database["NAME"]) != ":memory:":
            # var/ is ignored by git, so a fresh clone has no folder for the SQLite file yet.
            Path(database["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("prepare_demo: database migrated")
        call_command("seed_demo", bills=bills, if_empty=True, stdout=self.stdout)
        user, _ = get_user_model().objects.update_or_create(
            username=settings.DEMO_ADMIN_USER, defaults={"is_staff": True, "is_superuser": True}
        )
        user.set_password(settings.DEMO_ADMIN_PASSWORD)
        user.save()
        if not no_static:
            call_command("collectstatic", interactive=False, verbosity=0)
            self.stdout.write(f"prepare_demo: static files collected in {settings.STATIC_ROOT}")
        url = url or f"http://{os.environ.get('GUNICORN_BIND') or '127.0.0.1:8000'}/"
        self.stdout.write(
            self.style.SUCCESS(f"\n  The demo app: {url}\n")
            + f"  Admin: {url}admin/  login {settings.DEMO_ADMIN_USER} / "
            f"{settings.DEMO_ADMIN_PASSWORD}\n"
            f"  Trace: {url}trace/   Health: {url}healthz  {url}readyz\n"
        )
