"""The local stack lab: the production request path of quorum.us, replayed on one machine.

Like a flight simulator cockpit built from real instruments: a real DNS server, a real nginx,
real Gunicorn processes of the demo app and a real supervisord, all on 127.0.0.1, so a new
hire can type quorum.us, kill an instance, or run a load test and read real logs.

Run it with ``python -m demo_app.stack <command>`` (``__main__.py``); state lives in one
folder (``var/lab`` by default). Modules, in the order a request meets them:

- ``dns.py``: authoritative DNS for quorum.us (TTL 60) and a caching ``dig``;
- ``certs.py``: the lab's CA and the quorum.us certificate;
- ``nginx.py`` + ``templates/nginx.conf.j2``: the load balancer's config, test and reload;
- ``instance.py``: one Gunicorn instance (``web-N``): environment, then ``exec``;
- ``supervisor.py`` + ``templates/supervisord.conf.j2``: the process watcher and its API;
- ``lab.py``: up, status, scale, kill, down; ``config.py``: ports, sizes, the saved plan;
- ``client.py``, ``traffic.py``: a visitor through DNS + TLS, and light steady traffic;
  ``client.running_lab()``: is this checkout's lab up (its id, not just its port)?
- ``load.py`` + ``locustfile.py`` + ``mix.py``: locust and the page mix;
- ``releases.py``: releases built from git, one folder each, switched by a ``current`` link;
  ``deploy/``: ``deploy``, ``rollback``, ``releases`` and the Ansible playbook they run;
- ``drills.py``: instance failure, worker timeout, database down, a deploy and a bad deploy;
  ``accesslog.py``: nginx's log fields and the one rule for a failed request;
- ``calibrate.py``, ``compare.py``, ``cpu.py``: measured service times -> a sim scenario, and
  the sim's predictions against measurements.
"""
