"""``manage.py prepare_demo``: everything the app needs before Gunicorn starts, in one step.

Migrate, load the sample data if there are no bills yet, create (or reset) the demo admin
account, collect static files for WhiteNoise, then print where to go and how to log in.
``make app`` runs it before ``gunicorn``. Run it once per database, not once per instance:
several instances migrating one database at the same moment would race.

The admin password: under dev settings the published one (or ``DEMO_ADMIN_PASSWORD``), printed.
Under production settings only ``DEMO_ADMIN_PASSWORD`` from the environment, checked by
Django's password validators and never printed; the published one is refused before anything
is changed, and without any no admin account is made (one that still has the published
password is locked).
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from demo_app.tracker.management.commands.seed_demo import bounded_int


def checked_password() -> str:
    """The admin password to set, "" for none; a CommandError when it may not be used."""
    password = settings.DEMO_ADMIN_PASSWORD
    if settings.DEMO_ADMIN_PUBLISHED_PASSWORD_ALLOWED or not password:
        return password
    if password == settings.PUBLISHED_DEMO_ADMIN_PASSWORD:
        raise CommandError(
            "DEMO_ADMIN_PASSWORD is the published demo password; production settings need "
            "another one (or none, for no admin account)",
            returncode=2,
        )
    try:
        validate_password(password)
    except ValidationError as error:
        message = f"DEMO_ADMIN_PASSWORD is refused: {' '.join(error.messages)}"
        raise CommandError(message, returncode=2) from None
    return password


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
        password = checked_password()  # before anything changes
        database = settings.DATABASES["default"]
        if database["ENGINE"].endswith("sqlite3") and str(database["NAME"]) != ":memory:":
            # var/ is ignored by git, so a fresh clone has no folder for the SQLite file yet.
            Path(database["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("prepare_demo: database migrated")
        call_command("seed_demo", bills=bills, if_empty=True, stdout=self.stdout)
        login = self.ensure_admin(password)
        if not no_static:
            call_command("collectstatic", interactive=False, verbosity=0)
            self.stdout.write(f"prepare_demo: static files collected in {settings.STATIC_ROOT}")
        url = url or f"http://{os.environ.get('GUNICORN_BIND') or '127.0.0.1:8000'}/"
        self.stdout.write(
            self.style.SUCCESS(f"\n  The demo app: {url}\n") + f"  Admin: {url}admin/  {login}\n"
            f"  Trace: {url}trace/   Health: {url}healthz  {url}readyz\n"
        )

    def ensure_admin(self, password: str) -> str:
        """Create or reset the admin account; returns how to log in, for the summary."""
        users = get_user_model().objects
        name = settings.DEMO_ADMIN_USER
        if not password:
            old = users.filter(username=name).first()
            locked = old is not None and old.check_password(settings.PUBLISHED_DEMO_ADMIN_PASSWORD)
            if locked:
                old.set_unusable_password()
                old.save()
            self.stdout.write(
                "prepare_demo: no admin account: production settings need DEMO_ADMIN_PASSWORD"
                " in the environment"
                + (
                    f" (the account {name!r} had the published password and is locked)"
                    if locked
                    else ""
                )
            )
            return "no account (set DEMO_ADMIN_PASSWORD and run prepare_demo again)"
        user, _ = users.update_or_create(
            username=name, defaults={"is_staff": True, "is_superuser": True}
        )
        user.set_password(password)
        user.save()
        if settings.DEMO_ADMIN_PUBLISHED_PASSWORD_ALLOWED:
            return f"login {name} / {password}"
        return f"login {name} / the password in DEMO_ADMIN_PASSWORD"
