"""Operating the demo app: health checks, the calibration endpoint and the error pages.

The parts a load balancer, an on-call engineer and the simulation's calibration care about
rather than the product: ``health.py`` (``/healthz``, ``/readyz``), ``calibrate.py``
(``/calibrate/``, a request of chosen cost), ``errors.py`` (friendly 400/404/500 pages, and a
503 when the database is down).
"""
