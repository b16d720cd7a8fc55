#!/usr/bin/env python
"""Django's command-line utility for the demo app.

Runs as ``python demo_app/manage.py <command>`` or ``python -m demo_app.manage <command>``;
settings default to ``demo_app.settings.dev``.
"""

import os
import sys
from pathlib import Path


def main() -> None:
    repo_dir = str(Path(__file__).resolve().parents[1])
    # Run as a script, Python puts demo_app/ itself first on the path, which would make
    # demo_app.tracker importable a second time as plain "tracker"; put the repository there.
    if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
        sys.path[0] = repo_dir
    elif repo_dir not in sys.path:
        sys.path.insert(0, repo_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_app.settings.dev")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:  # a missing or bad setting: one line, no traceback
        print(f"manage.py: configuration error: {error}", file=sys.stderr)
        sys.exit(2)
    except OperationalError as error:  # the database is down, missing or unreadable
        from django.conf import settings

        where = settings.DATABASES["default"]
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(
            f"manage.py: cannot use the database {where.get('NAME')!r}"
            f" ({where.get('ENGINE', '').rsplit('.', 1)[-1]}): {first}",
            file=sys.stderr,
        )
        sys.exit(2)


if __name__ == "__main__":
    main()
