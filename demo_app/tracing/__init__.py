"""Request tracing: where a request's time went, in the simulation's own layer names.

Like the stamps on a parcel: ``middleware.py`` stamps each response with a ``Server-Timing``
header (``queue``, ``app``, ``db`` from ``sim/layers.py``) and the instance and worker that
served it; ``query_timer.py`` counts and times the queries underneath; ``request_start.py``
reads the proxy's ``X-Request-Start`` stamp to measure queueing before Django. The browser
side of the story (DNS, connect, download) is drawn by the ``/trace/`` page
(``views.py``, ``static/tracing/trace.js``), which joins the browser's Navigation Timing with
this header.
"""
