"""``python -m demo_app.serve [gunicorn options]``: Gunicorn with ``demo_app/gunicorn.conf.py``,
its environment checked before Gunicorn is imported.

Gunicorn computes the default of its ``workers`` setting from ``WEB_CONCURRENCY`` while its
config module is imported, before it reads any config file, so ``WEB_CONCURRENCY=abc`` stops
a bare ``gunicorn`` with a traceback. This runs the config file's checks first (each bad value
is one line, exit 2), then Gunicorn in this process, which becomes the master.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

CONF = Path(__file__).resolve().with_name("gunicorn.conf.py")


def main(argv: list[str] | None = None) -> None:
    runpy.run_path(str(CONF))  # exits 2 with one line on a bad value
    from gunicorn.app.wsgiapp import run

    sys.argv = ["gunicorn", "-c", str(CONF), *(sys.argv[1:] if argv is None else argv)]
    run()


if __name__ == "__main__":
    main()
