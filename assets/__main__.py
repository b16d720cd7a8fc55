"""``python -m assets OUTDIR [--only NAME ...]``: build the figures (``assets/build.py``)."""

from assets.build import main

if __name__ == "__main__":
    raise SystemExit(main())
