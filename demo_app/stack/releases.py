"""Releases of the demo app: built once from git, one folder each, switched by a symlink.

Like a boxed product rather than the workshop it came from: a release is a copy of the app's
code at one commit (or of the working tree, for a local change), with its static files
already collected, in ``<state>/releases/<version>/``, and it never changes after it is built.
An instance runs the release its ``instances/web-N/current`` symlink points at (the launcher,
``instance.py``, resolves the link once, at start), so two releases really differ while they
run side by side; the lab's own ``current`` and ``previous`` links name what the last deploy
shipped and what it replaced, which is where ``rollback`` goes.

Layout of the state folder::

    releases/20260102-101500-abc1234/   RELEASE, release.json, demo_app/, sim/, static/
    instances/web-1/current -> releases/<version>    (and previous: what web-1 ran before)
    current -> releases/<version>                    (the last deploy; previous: the one before)

A version is ``<UTC date>-<time>-<short commit>``, with ``-local`` when the working tree had
changes under ``demo_app/`` or ``sim/`` (the app imports ``sim.layers``), so a person can read
when and from what it was built. ``RELEASE`` holds just the version: the app reads it for its
``X-Release`` header and its footer.

Flow: git (a commit, or the working tree) -> files in ``releases/.build-<version>`` ->
collectstatic into its ``static/`` -> rename into place (never half a release) -> the
playbook switches each instance's link, one instance at a time.

``python -m demo_app.stack.releases --state-dir S manage VERSION ARGS...`` runs ``manage.py``
from a release with the environment the lab's instances have (the playbook's migrations).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from demo_app.stack.config import LabConfig, LabError

#: The repository the releases are built from (this checkout).
REPO_DIR = Path(__file__).resolve().parents[2]
#: What a release holds: the app, and the model's layer names it imports (sim/layers.py).
SHIPPED = ("demo_app", "sim")
#: Only in releases: a commit without it cannot say which release answered (no X-Release).
NAMES_ITS_RELEASE = "demo_app/ops/release.py"
VERSION_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+-]{0,63}")
VERSION_RULE = "1-64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit"


def check_version(version: str) -> str:
    if not VERSION_RE.fullmatch(version):
        raise LabError(f"version {version!r} is not a release name: {VERSION_RULE}")
    return version


# -- where things are -----------------------------------------------------------------------


def releases_dir(cfg: LabConfig) -> Path:
    return cfg.path("releases")


def instance_link(cfg: LabConfig, name: str, which: str = "current") -> Path:
    return cfg.path("instances", name, which)


def lab_link(cfg: LabConfig, which: str = "current") -> Path:
    return cfg.path(which)


def linked_version(link: Path) -> str | None:
    """The version a ``current``/``previous`` link points at, or None without a link."""
    try:
        return Path(os.readlink(link)).name
    except OSError:
        return None


def point(link: Path, release: Path) -> None:
    """Make ``link`` point at ``release`` in one step (a new link renamed over the old one),
    so a reader sees the old target or the new one, never none."""
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(link.name + ".new")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(release)
    tmp.replace(link)


def instance_releases(cfg: LabConfig) -> dict[str, str | None]:
    """Instance name -> the version its ``current`` link names (None: no release yet)."""
    return {name: linked_version(instance_link(cfg, name)) for name in cfg.instance_names}


@dataclass(frozen=True)
class Release:
    version: str
    path: Path
    commit: str = ""
    source: str = ""
    built: str = ""
    static: bool = True

    @classmethod
    def load(cls, path: Path) -> Release:
        try:
            data = json.loads((path / "release.json").read_text())
        except (OSError, ValueError):
            data = {}
        return cls(
            version=path.name,
            path=path,
            commit=str(data.get("commit", "")),
            source=str(data.get("source", "")),
            built=str(data.get("built", "")),
            static=bool(data.get("static", True)),
        )


def list_releases(cfg: LabConfig) -> list[Release]:
    """Every complete release, oldest first (a build in progress is a dot-folder: skipped)."""
    root = releases_dir(cfg)
    if not root.is_dir():
        return []
    found = [
        Release.load(p)
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / "RELEASE").is_file()
    ]
    return sorted(found, key=lambda r: (r.built, r.version))


def get(cfg: LabConfig, version: str) -> Release:
    """The release ``version``, or one line naming the ones there are."""
    check_version(version)
    path = releases_dir(cfg) / version
    if not (path / "RELEASE").is_file() or not (path / "demo_app").is_dir():
        known = [r.version for r in list_releases(cfg)]
        listed = ", ".join(known[-5:]) if known else "none yet (`deploy` builds one)"
        raise LabError(f"release {version!r} is unknown in {releases_dir(cfg)}: there are {listed}")
    return Release.load(path)


# -- building -------------------------------------------------------------------------------


def git(*args: str) -> str:
    # safe.directory: a checkout owned by another user (a CI container) is still this one.
    command = ["git", "-c", f"safe.directory={REPO_DIR}", *args]
    try:
        done = subprocess.run(command, cwd=REPO_DIR, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise LabError(
            "git is not installed: releases are built from git (apt-get install git)"
        ) from None
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["no output"])[0]
        raise LabError(f"git {' '.join(args)} failed in {REPO_DIR}: {first}")
    return done.stdout


def resolve(ref: str) -> str:
    """The full commit id of ``ref``, or one line saying it is not a commit here."""
    if ref.startswith("-") or not ref.strip():
        raise LabError(f"ref {ref!r} is not a git ref: use a commit, branch or tag (e.g. HEAD)")
    try:
        return git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
    except LabError:
        raise LabError(
            f"ref {ref!r} is not a commit in {REPO_DIR}: use a commit, branch or tag (git log)"
        ) from None


def in_git() -> bool:
    """Whether the repository is a git checkout with git installed (a source archive is not)."""
    try:
        return git("rev-parse", "--is-inside-work-tree").strip() == "true"
    except LabError:
        return False


def source_of(ref: str | None) -> tuple[str, str, str]:
    """(commit, where from in words, version suffix) of a build of ``ref``, or of the
    working tree when None; one line when ``ref`` cannot be built."""
    if ref is None:
        if not in_git():
            return "", "the files of a folder that is not a git checkout", "-nogit"
        commit = git("rev-parse", "HEAD").strip()
        changed = bool(git("status", "--porcelain", "--", *SHIPPED).strip())
        source = "the working tree" + (" with local changes" if changed else f" at {commit[:7]}")
        return commit, source, "-local" if changed else ""
    commit = resolve(ref)
    if not git("ls-tree", "--name-only", commit, "--", NAMES_ITS_RELEASE).strip():
        raise LabError(
            f"ref {ref!r} ({commit[:7]}) predates {NAMES_ITS_RELEASE}: its instances could"
            " not say which release they run (X-Release); deploy a later commit"
        )
    return commit, f"{ref} ({commit[:7]})", ""


def build(
    cfg: LabConfig, ref: str | None = None, collect_static: bool = True, say=print
) -> Release:
    """Build a release of ``ref`` (a commit, branch or tag), or of the working tree when None.

    ``collect_static=False`` is the bad-deploy drill's fault: a release built without its
    static files, whose instances answer /readyz 503 (and every page 500)."""
    root = releases_dir(cfg)
    commit, source, suffix = source_of(ref)
    now = datetime.now(UTC)
    stamp = f"{now:%Y%m%d-%H%M%S}" + (f"-{commit[:7]}" if commit else "")
    version = f"{stamp}{suffix}" + ("" if collect_static else "-nostatic")
    base, n = version, 1
    while (root / version).exists():  # two builds in one second
        n += 1
        version = f"{base}.{n}"
    check_version(version)
    root.mkdir(parents=True, exist_ok=True)
    cfg.logs.mkdir(parents=True, exist_ok=True)
    tmp = root / f".build-{version}"
    shutil.rmtree(tmp, ignore_errors=True)
    say(f"build     release {version} from {source}")
    try:
        tmp.mkdir()
        if ref is None:
            _copy_working_tree(tmp)
        else:
            _extract(commit, tmp)
        (tmp / "RELEASE").write_text(version + "\n")
        meta = {
            "version": version,
            "commit": commit,
            "source": source,
            "built": now.strftime("%Y-%m-%d %H:%M:%S"),
            "static": collect_static,
        }
        (tmp / "release.json").write_text(json.dumps(meta, indent=2) + "\n")
        (tmp / "static").mkdir()
        if collect_static:
            manage(cfg, tmp, ["collectstatic", "--noinput", "-v", "0"], _build_environment(cfg))
        else:
            say("build     FAULT: no collectstatic (the bad-deploy drill): /readyz will fail")
        tmp.rename(root / version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Release.load(root / version)


def _copy_working_tree(dest: Path) -> None:
    """Tracked and new (not ignored) files under SHIPPED, as they are on disk now; the index
    and the repository are left as they were. Outside git: every file but Python's caches."""
    if not in_git():
        for folder in SHIPPED:
            shutil.copytree(
                REPO_DIR / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__")
            )
        return
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *SHIPPED)
    for name in sorted(set(filter(None, listed.split("\0")))):
        source = REPO_DIR / name
        if not source.is_file():  # deleted in the working tree, not yet in a commit
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)


def _extract(commit: str, dest: Path) -> None:
    """``git archive`` of SHIPPED at ``commit``, unpacked into ``dest``."""
    command = ["archive", "--format=tar", commit, "--", *SHIPPED]
    done = subprocess.run(
        ["git", "-c", f"safe.directory={REPO_DIR}", *command],
        cwd=REPO_DIR,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        first = (done.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[0]
        raise LabError(f"git archive {commit[:7]} failed: {first}")
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        # The "data" filter refuses absolute paths, links out of dest and device files.
        if hasattr(tarfile, "data_filter"):
            archive.extractall(dest, filter="data")
        else:  # Python 3.11.0-3.11.3; the archive is git's own, of this repository
            archive.extractall(dest)


def publish_static(cfg: LabConfig, release: Path) -> None:
    """Copy a release's collected static files into the folder nginx serves, beside those of
    earlier releases (hashed names never collide; pages of an older release still find
    theirs). The playbook does the same with Ansible's copy module."""
    shutil.copytree(release / "static", cfg.path("static"), dirs_exist_ok=True)


# -- running manage.py from a release ---------------------------------------------------------


def release_environment(base: dict[str, str], release: Path) -> dict[str, str]:
    """``base`` with the release first on the path and its own collected static files: the
    manifest names the hashed files of *its* CSS and JS, whatever another release collected."""
    env = dict(base)
    env["PYTHONPATH"] = str(release)
    env["STATIC_ROOT"] = str(release / "static")
    return env


def _build_environment(cfg: LabConfig) -> dict[str, str]:
    from demo_app.stack.instance import shared_environment  # instance imports this module

    return shared_environment(cfg, dict(os.environ))


def lab_environment(cfg: LabConfig) -> dict[str, str]:
    """The environment supervisord gave the lab's programs (read from /proc): migrations must
    meet the database the instances use, whatever the deploying shell exports."""
    from demo_app.stack import supervisor

    process_id = supervisor.pid(cfg)
    if process_id is None:
        raise LabError(f"the lab in {cfg.state_dir} is not running: start it with `up`")
    raw = Path(f"/proc/{process_id}/environ").read_bytes()
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def manage(cfg: LabConfig, release: Path, args: list[str], env: dict[str, str]) -> None:
    """``manage.py ARGS`` from ``release``; its output goes to ``logs/releases.log``."""
    with open(cfg.logs / "releases.log", "a") as log:
        log.write(f"$ {release.name}: manage.py {' '.join(args)}\n")
        log.flush()
        done = subprocess.run(
            [sys.executable, str(release / "demo_app" / "manage.py"), *args],
            env=release_environment(env, release),
            cwd=release,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    if done.returncode != 0:
        raise LabError(
            f"manage.py {args[0]} failed for release {release.name}: see {cfg.logs}/releases.log"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo_app.stack.releases",
        description="run manage.py from a release, as the lab's instances would",
    )
    parser.add_argument("--state-dir", type=Path, required=True)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("manage", help="manage.py ARGS from release VERSION")
    run.add_argument("version")
    run.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        cfg = LabConfig.load(args.state_dir)
        if cfg is None:
            raise LabError(f"no lab plan in {args.state_dir}: run up first")
        release = get(cfg, args.version)
        if not args.args:
            raise LabError("manage needs a manage.py command (e.g. migrate --noinput)")
        manage(cfg, release.path, args.args, lab_environment(cfg))
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"{release.version}: manage.py {' '.join(args.args)}: done (log: logs/releases.log)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
