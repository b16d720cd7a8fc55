"""The things the simulation models, one noun per module, written to be read as teaching text.

=====================  ===============================================================
``request.py``         one request's travel log, stamped by every layer it passes
``distributions.py``   random durations (constant, exponential, lognormal, empirical, uniform)
``workload.py``        traffic over time: rate profiles, arrivals, user sessions
``users.py``           a closed population: users who wait for each answer, then think
``dns.py``             browser, OS and resolver caches
``routing.py``         how the load balancer picks an instance
``load_balancer.py``   the Elastic Load Balancer: targets, surge queue, idle timeout
``slots.py``           numbered servers (Gunicorn slots, vCPUs, database CPUs)
``cpu.py``             the kernel's scheduler: vCPUs time-sliced among bursts
``instance.py``        one EC2 instance: nginx, Gunicorn's backlog and workers, vCPUs
``app.py``             Django's work on a request: CPU bursts and queries
``database.py``        PostgreSQL: connections and its CPU
``assets.py``          a page's static files: the browser's connections, the CDN, who serves them
``health.py``          the load balancer's health checks
``failures.py``        scheduled failures: crashes, a lost zone, slow queries, bad deploys
``autoscaling/``       the auto-scaling group, CloudWatch alarms and scaling policies
=====================  ===============================================================

A request's process is a generator the engine drives (``sim/engine/kernel.py``): it yields a
number of seconds to wait, a :class:`~sim.model.slots.Slots` pool to take a slot from, or a
SimPy event. Speed tricks live in the engine, not here.

May import ``sim.config``, ``sim.layers``, SimPy and numpy; never the engine, the results or
the figures.
"""
