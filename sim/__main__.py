"""``python -m sim``: the command line (``sim/cli.py``)."""

from sim.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
