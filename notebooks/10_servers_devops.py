# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: slideshow,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: rise,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
#   rise:
#     enable_chalkboard: false
#     scroll: true
#     start_slideshow_at: beginning
#     theme: white
#     transition: none
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# # 10. Servers and DevOps: what runs where, and who keeps it running
#
# The talk's "Backend Stack" slide ends with *Supervisor to watch all of the above*, its
# "Servers" slide counts *2+ production (client-facing) instances*, and its "DevOps" slide
# says the servers are described *primarily in Ansible*. Think of a restaurant chain: each
# branch (an instance) has a front desk (nginx), a head chef who hires and replaces cooks
# (the Gunicorn master and its workers), and a night manager who reopens whatever closes
# (supervisord). Ansible is the head office's binder: the same recipe for every branch, and
# the order in which branches are visited when the menu changes.
#
# The stack lab runs all of it on one machine. This chapter reads what a lab session
# recorded (`notebooks/data/`, its README says how), and asks this checkout's lab when it is
# up. Chapter 12 uses the same pieces to ship a release.

# %% slideshow={"slide_type": "skip"}
# %matplotlib inline
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import matplotlib.pyplot as plt
import yaml

sys.path.insert(0, str(Path.cwd()))  # course.py sits beside the chapters
import course
from gunicorn.config import GracefulTimeout

from demo_app.stack import accesslog, lab, nginx, supervisor
from demo_app.stack.client import running_lab
from demo_app.stack.config import LabConfig
from demo_app.stack.deploy import inventory

REPO = Path.cwd().parent
DATA = Path.cwd() / "data"
DEPLOY = REPO / "demo_app/stack/deploy"


def supervisord_events(path=DATA / "supervisord.log"):
    """(unix time, level, message) of each line of supervisord's log (local time, UTC here)."""
    events = []
    for line in path.read_text().splitlines():
        day, clock, level, message = line.split(" ", 3)
        when = datetime.strptime(f"{day} {clock}", "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC)
        events.append((when.timestamp(), level, message))
    return events


def first(events, pattern, after=0.0):
    """The time of the first event after ``after`` whose message matches ``pattern``."""
    return next(t for t, _, message in events if t > after and re.search(pattern, message))


EVENTS = supervisord_events()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What runs on an instance
#
# In production each instance is a virtual machine running nginx, one Gunicorn master with its
# workers (each worker a copy of the Django app), and supervisord, which started them. In the
# lab the "instances" are programs of one supervisord: `web-1` and `web-2` are Gunicorn
# masters on their own ports, next to nginx (the load balancer here) and the lab's DNS.
# `python -m demo_app.stack status` asks supervisord for each program's state and pid, then
# checks that each one answers.

# %%
lab_now = running_lab()  # this checkout's lab, known by its id: not whatever holds the port
LAB = bool(lab_now)
if LAB:
    try:
        lab.print_status(lab_now.cfg)
        root = supervisor.pid(lab_now.cfg)
        session = subprocess.run(["ps", "-o", "sid=", "-p", str(root)], capture_output=True,
                                 text=True, check=True).stdout.strip()  # fmt: skip
        tree = subprocess.run(["ps", "-ww", "-o", "pid,ppid,args", "--forest", "--sid", session],
                              capture_output=True, text=True, check=True).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:  # half up, or gone meanwhile
        print(f"The lab did not answer properly ({exc}): showing what it recorded instead.")
        LAB = False
if not LAB:
    if not lab_now:
        print(f"No lab ({lab_now.reason}): showing what it recorded instead.\n")
    print((DATA / "servers-status.txt").read_text())
    tree = (DATA / "servers-processes.txt").read_text()

# %% [markdown]
# Below supervisord, the process tree (`ps --forest`, shortened: which program, and for
# Gunicorn which instance and whether it is the master or a worker):

# %%
rows = [line.split(None, 2) for line in tree.splitlines()[1:]]
parents = {pid: ppid for pid, ppid, _ in rows}
names = {}
for pid, ppid, args in rows:
    command = args.lstrip(" |\\_")
    if "gunicorn" in command:
        instance = re.search(r"--name (\S+)", command).group(1)
        role = "worker" if "gunicorn" in names.get(ppid, "") else "master"
        names[pid] = f"gunicorn {role} of {instance}"
    elif command.startswith("nginx"):
        names[pid] = command.split(" process")[0] + " process"
    else:  # a Python program: its module
        words = command.split()
        names[pid] = words[words.index("-m") + 1] if "-m" in words else words[0]
depth = {}
for pid, ppid, _ in rows:
    depth[pid] = depth.get(ppid, -1) + 1
    print(f"{pid:>7}  {'    ' * depth[pid]}{names[pid]}")
masters = sum(1 for n in names.values() if n.startswith("gunicorn master"))
workers = sum(1 for n in names.values() if n.startswith("gunicorn worker"))
print(f"\n{masters} Gunicorn masters, {workers} workers: {workers // masters} per instance")

# %% [markdown]
# Each master only hires, watches and replaces its workers; the workers serve the requests
# (chapter 5). On a real instance the tree is the same with one master, and nginx beside it.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## supervisord's list
#
# supervisord reads one section per program. This is the one the lab writes for `web-1`
# (`demo_app/stack/supervisor.py`), rendered here for the lab's default folder:

# %%
cfg = lab_now.cfg if LAB else LabConfig(state_dir=REPO / "var/lab")
section = supervisor.instance_program(cfg, "web-1")
print(section)
program = dict(line.split("=", 1) for line in section.splitlines()[1:] if "=" in line)
STARTSECS = float(program["startsecs"])
STOPWAITSECS = float(program["stopwaitsecs"])
GRACEFUL = float(GracefulTimeout.default)
conf = (REPO / "demo_app/gunicorn.conf.py").read_text()
print(f"Gunicorn's graceful_timeout: {GRACEFUL:g} s (its default: demo_app/gunicorn.conf.py"
      f" {'sets it' if 'graceful_timeout' in conf else 'leaves it'})")  # fmt: skip

# %% [markdown]
# - `autorestart=true`: start it again whenever it exits, expected or not (the default,
#   `unexpected`, restarts only exit codes not listed as expected).
# - `startsecs`: a start counts as good only after the process has stayed up that long
#   (state `STARTING`, then `RUNNING`); one that dies sooner is retried, with a back-off that
#   grows by a second each time, `startretries` times, then given up (`FATAL`).
# - `stopasgroup` / `killasgroup`: `stop` sends its signal (TERM) to the whole process group,
#   master and workers; the SIGKILL that follows, if it must, too.
# - `stopwaitsecs`: how long `stop` waits after the TERM before that SIGKILL.
#
# The last one matters for anyone who restarts a busy instance: below.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## A killed master comes back
#
# The lab's instance-failure drill sends SIGKILL to web-1's Gunicorn master under light
# traffic (two clients asking `/` through DNS, TLS and nginx). Nothing asked supervisord to
# stop it, so the exit is "not expected", and `autorestart` applies.
#
# **Predict:** how many seconds after web-1 died does supervisord's log say it is `RUNNING`
# again? (You know `startsecs` from the section above.)

# %% slideshow={"slide_type": "fragment"}
prediction_running = None  # seconds

# %% slideshow={"slide_type": "fragment"}
exited = first(EVENTS, r"exited: web-1 .*SIGKILL")
spawned = first(EVENTS, r"spawned: 'web-1'", after=exited)
running = first(EVENTS, r"success: web-1 entered RUNNING", after=spawned)
course.ch10_back_after_kill(
    prediction_running, exited=exited, spawned=spawned, running=running, startsecs=STARTSECS
)

# %% [markdown]
# supervisord's own log of it, and what the drill printed:

# %%
for t, level, message in EVENTS:
    if exited - 1 <= t <= running + 0.5:
        print(f"{t - exited:+7.3f} s  {level:<5} {message}")
print()
print("\n".join((DATA / "kill-drill.txt").read_text().splitlines()[:7]))
print("\n".join((DATA / "servers-web-1.out.log").read_text().splitlines()[:2]))

# %% [markdown]
# `RUNNING` is supervisord's word for "it stayed up"; the drill waits for more: a new pid
# that answers `/healthz`, which takes Gunicorn's boot on top. The launcher's line is the
# other half of a SIGKILL: the old master's workers outlive it, still holding web-1's socket,
# so the new master ends them before it binds (`demo_app/stack/README.md`).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What the visitors saw
#
# Each dot is one request of the drill, at the moment nginx answered it, by the instance that
# answered (nginx's access log, fields 13, 7 and 11). A request that met web-1 dead was
# retried on web-2 (field 8 names both upstreams): the visitor never knew.

# %%
kill_lines = (DATA / "kill-access.log").read_text().splitlines()
kill_counts = accesslog.count(kill_lines)
fields = [line.split("\t") for line in kill_lines]
_, ax = plt.subplots(figsize=(11, 3.6), layout="constrained")
for instance, color in (("web-1", "#0072B2"), ("web-2", "#E69F00")):
    mine = [f for f in fields if f[10] == instance]
    ax.scatter([float(f[12]) - exited for f in mine], [float(f[6]) * 1000 for f in mine],
               s=14, color=color, label=f"answered by {instance}")  # fmt: skip
retried = [f for f in fields if ", " in f[7]]
ax.scatter([float(f[12]) - exited for f in retried], [float(f[6]) * 1000 for f in retried],
           s=120, facecolors="none", edgecolors="#d62728", lw=2,
           label="retried on the other instance")  # fmt: skip
for t, what, style in ((0.0, "SIGKILL: web-1's master exits", "-"),
                       (spawned - exited, "supervisord spawns it again", "--"),
                       (running - exited, "RUNNING: up for startsecs", ":")):  # fmt: skip
    ax.axvline(t, color="black", ls=style, lw=1, label=what)
ax.set_xlabel("seconds since web-1's master was killed (supervisord's log)")
ax.set_ylabel("request time (ms)")
ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
ax.set_title("The kill drill through nginx: retried, not failed", loc="left")
plt.show()
last_web1 = max(float(f[12]) for f in fields if f[10] == "web-1") - exited
log_end = max(float(f[12]) for f in fields) - exited
print(f"nginx log: {accesslog.summary(kill_counts)}")
print(f"web-1's last answer: {last_web1:+.2f} s; the log ends at {log_end:+.1f} s. After "
      f"{nginx.MAX_FAILS} failed tries nginx leaves a server alone for "
      f"{nginx.FAIL_TIMEOUT_S} s")  # fmt: skip

# %% [markdown]
# Nobody saw an error. Right after the kill web-1 still answered: its workers outlive their
# master until they notice it is gone. Then its port refused, a GET that met it was sent on
# to web-2 (`proxy_next_upstream`, chapter 4), and after those failures nginx stopped trying
# web-1 for a while (passive health checks): web-1 was back before nginx asked it again.
# A POST would not have been retried, and with one instance there is nowhere to retry: the
# talk's "why 2".

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Stopping: `stopwaitsecs` against Gunicorn's graceful timeout
#
# `supervisorctl restart web-1` is a stop, then a start. The stop sends TERM to web-1's
# process group. Gunicorn's master takes TERM as "finish what you hold, then exit", and waits
# up to its `graceful_timeout` for the workers; supervisord meanwhile waits `stopwaitsecs`,
# then sends SIGKILL to the group, request or not. Both numbers were printed above.
#
# The recording: a request that needs 15 s (`/calibrate/?sleep_ms=15000`, asked of web-1
# itself, not through nginx, so nothing can retry it), and 2 s into it, `supervisorctl
# restart web-1`.
#
# **Predict:** how many seconds after it was sent did that request end, one way or another?

# %% slideshow={"slide_type": "fragment"}
prediction_cut = None  # seconds

# %% slideshow={"slide_type": "fragment"}
stop_text = (DATA / "stop-drill.txt").read_text()
print(stop_text)
day = datetime.fromtimestamp(EVENTS[0][0], UTC).date()


def clock(name):
    """The time on the recording's line ``name``, as unix seconds on the session's day."""
    hms = re.search(rf"^{name}\s+(\d\d:\d\d:\d\d\.\d+)", stop_text, re.M).group(1)
    return datetime.combine(day, datetime.strptime(hms, "%H:%M:%S.%f").time(), UTC).timestamp()


started, asked, ended = clock("start"), clock("restart"), clock("end")
term = first(EVENTS, r"waiting for web-1 to stop", after=asked)  # logged once TERM is sent
killed = first(EVENTS, r"killing 'web-1' .* SIGKILL", after=term)
request_s = float(re.search(r"sleep_ms=(\d+)", stop_text).group(1)) / 1000
course.ch10_cut_request(
    prediction_cut, started=started, term=term, killed=killed, ended=ended,
    request_s=request_s, graceful_timeout=GRACEFUL,
)  # fmt: skip

# %% [markdown]
# The timeline, from supervisord's log and the recording's clock:

# %%
back = first(EVENTS, r"success: web-1 entered RUNNING", after=killed)
for t, level, message in EVENTS:
    if asked <= t <= back:
        print(f"{t - started:6.2f} s  {level:<5} {message}")
_, ax = plt.subplots(figsize=(11, 2.8), layout="constrained")
ax.barh(2, request_s, left=0, color="#cccccc", label=f"the request would need {request_s:g} s")
ax.barh(2, ended - started, left=0, color="#0072B2", label="what it got")
ax.barh(1, killed - term, left=term - started, color="#E69F00",
        label=f"supervisord: stopwaitsecs ({killed - term:.1f} s), then SIGKILL")  # fmt: skip
ax.barh(0, GRACEFUL, left=term - started, color="none", edgecolor="#555555", ls="--",
        label=f"Gunicorn: graceful_timeout ({GRACEFUL:g} s), never reached")  # fmt: skip
ax.axvline(term - started, color="black", lw=1)
ax.set_yticks([0, 1, 2], ["Gunicorn", "supervisord", "request"])
ax.set_xlabel("seconds since the request was sent; the black line is the restart's TERM")
ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
ax.set_title("A restart cuts what runs longer than stopwaitsecs", loc="left")
plt.show()

# %% [markdown]
# The worker that held the request did as TERM asked, and kept going; supervisord did not wait
# for it. Two ways out, and production uses both: give supervisord a `stopwaitsecs` above
# Gunicorn's graceful timeout, and never restart an instance that still has requests: take
# it out of the load balancer first and let them finish (draining). The lab's deploy does
# the second, chapter 12 counts what skipping it costs.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Ansible's inventory: the servers, by name
#
# Ansible acts on *hosts* listed in an *inventory*. The lab's is a script
# (`demo_app/stack/deploy/inventory.py`) that reads the running lab's plan, so a `scale` is
# seen at the next deploy. Its answer to `--list`:

# %%
if LAB:
    print(json.dumps(inventory.inventory(lab_now.cfg.state_dir), indent=2))
    hosts = inventory.inventory(lab_now.cfg.state_dir)["instances"]["hosts"]
else:
    recorded = (DATA / "servers-inventory.json").read_text()
    print(recorded)
    hosts = json.loads(recorded)["instances"]["hosts"]

# %% [markdown]
# `ansible_connection: local` says: run each task right here, as a local process. The lab's
# "servers" are programs on this machine, so Ansible needs no SSH: a host is only a name,
# with its own variables (`instance_port`). In production each host is a machine: the
# inventory names it by address (from EC2 itself, with the `amazon.aws.aws_ec2` inventory
# plugin and a tag such as `role=web`), and Ansible connects by SSH as a deploy user, through
# the SSH bastion from the talk's "Servers" slide, then runs each task's module with that
# machine's Python. A sketch, not a real file:
#
# ```yaml
# instances:
#   hosts:
#     web-1: {ansible_host: 10.0.1.12}
#     web-2: {ansible_host: 10.0.2.17}
#   vars:
#     ansible_user: deploy
#     ansible_ssh_common_args: -o ProxyJump=deploy@bastion.example.com
# ```
#
# The tasks do not change between the two: what changes is how Ansible reaches the host.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## The playbook, read as a recipe
#
# `demo_app/stack/deploy/deploy.yml` has three plays; the second runs the role `roll`, whose
# tasks live in `roles/roll/tasks/`. Below, every task in the order Ansible meets it, with the
# files it imports opened in place (the structure is the YAML's own, read here, not retyped).


# %%
def recipe(tasks, folder, indent="  "):
    """Print ``tasks`` as a numbered list, opening imported task files and blocks in place."""
    for task in tasks:
        if "block" in task:
            print(f"{indent}{task['name']}:")
            for part in ("block", "rescue", "always"):
                if part in task:
                    print(f"{indent}  {part}:")
                    recipe(task[part], folder, indent + "    ")
        elif "ansible.builtin.import_tasks" in task:
            name = task["ansible.builtin.import_tasks"]
            print(f"{indent}{task['name']} ({name}):")
            recipe(yaml.safe_load((folder / name).read_text()), folder, indent + "  ")
        else:
            module = next(k for k in task if k.startswith("ansible.builtin."))
            when = f"   when: {task['when']}" if "when" in task else ""
            print(f"{indent}- {task['name']}  [{module.rsplit('.', 1)[1]}]{when}")


PLAYS = yaml.safe_load((DEPLOY / "deploy.yml").read_text())
KEYWORDS = ("run_once", "serial", "max_fail_percentage", "any_errors_fatal")
for number, play in enumerate(PLAYS, 1):
    keys = ", ".join(f"{k}: {json.dumps(play[k])}" for k in KEYWORDS if k in play)
    print(f"PLAY {number}: {play['name']}\n  hosts: {play['hosts']}; {keys}")
    recipe(play.get("tasks", []), DEPLOY)
    for role in play.get("roles", []):
        folder = DEPLOY / "roles" / role / "tasks"
        print(f"  role {role}:")
        recipe(yaml.safe_load((folder / "main.yml").read_text()), folder, "    ")

# %% [markdown]
# Read it as the talk's deploy slide: out of the load balancer, drain, switch the `current`
# link, restart under supervisord, wait for `/readyz`, back in; a `rescue` that restores the
# old release if the new one is not ready, and an `always` that puts the instance back only
# if it answered. `run_once` runs a play's tasks once, on the first host; `serial: 1` runs the
# whole roll on one host before the next starts; `max_fail_percentage: 0` and
# `any_errors_fatal` stop everything at the first failure.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## `serial: 1` in a real run
#
# The deploy drill of chapter 12 streamed Ansible's output (`deploy-drill.txt`). Each `PLAY`
# header opens a play, or with `serial` a batch of one; each task prints one line per host it
# ran on: `ok`, `changed` or `skipping`.

# %%
drill = (DATA / "deploy-drill.txt").read_text().splitlines()
plays = []  # (play header, {host: tasks ok or changed})
recap = {}
for line in drill:
    if line.startswith("PLAY RECAP"):
        plays.append(("recap", {}))
    elif line.startswith("PLAY ["):
        plays.append((line[6:].split("]")[0], {}))
    elif found := re.match(r"(ok|changed): \[(web-\d+)\]", line):
        ran = plays[-1][1]
        ran[found.group(2)] = ran.get(found.group(2), 0) + 1
    elif found := re.match(r"(web-\d+)\s+: ok=(\d+)", line):
        recap[found.group(1)] = int(found.group(2))
for header, ran in plays[:-1]:
    print(f"PLAY [{header[:60]}...]  ran on: {', '.join(ran)}")
print(f"\nhosts in the inventory's order: {', '.join(hosts)}")
print(f"the recap's line for {hosts[-1]}: ok={recap[hosts[-1]]}")

# %% [markdown]
# The roll's header comes once per instance, in the inventory's order, and the first
# instance's batch is over before the second's starts. The recap at the end counts per host
# the tasks that ran (`ok=`, changed or not; skipped ones apart); web-2's is printed above.
#
# **Predict:** what does it say for web-1?

# %% slideshow={"slide_type": "fragment"}
prediction_ok = None  # a whole number

# %% slideshow={"slide_type": "fragment"}
first_host = hosts[0]
steps = {}
for header, ran in plays[:-1]:
    play = next(p for p in PLAYS if p["name"].split()[0] == header.split()[0])
    label = f"the {header.split()[0].lower()} play" + (
        ", run_once on the first host" if play.get("run_once") else f", {first_host}'s batch"
    )
    if first_host in ran:
        steps[label] = ran[first_host]
course.ch10_recap_ok(prediction_ok, host=first_host, steps=steps)

# %%
print("\n".join(line for line in drill if re.match(r"(PLAY RECAP|web-\d+\s+:)", line)))
print(f"counted from the task lines: {first_host} {sum(steps.values())}, recap {recap}")

# %% [markdown] slideshow={"slide_type": "slide"}
# **Take-aways**
# - An instance is nginx, a Gunicorn master and its workers; supervisord starts them,
#   restarts what dies (`autorestart`), and calls a start good after `startsecs`.
# - A SIGKILLed master is back within seconds; behind a load balancer that retries, nobody
#   notices. With one instance, everybody does.
# - `stopwaitsecs` caps a stop: keep it above Gunicorn's graceful timeout, and drain before
#   restarting.
# - Ansible's inventory names the hosts and how to reach them (local here, SSH through the
#   bastion in production); the playbook is the recipe, `serial: 1` the order of the visit.
# - Lab: `make lab-up`, `make lab-status`, `python -m demo_app.stack kill web-1 --wait`,
#   `make lab-drill DRILL=instance-failure`, then `make lab-down`.
