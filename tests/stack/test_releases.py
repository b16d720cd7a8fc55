"""Releases and the deploy's parts that need no running lab: names, builds, the inventory, the
playbook's syntax, the log's release field and the commands' refusals."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from demo_app.stack import accesslog, releases
from demo_app.stack.config import LabConfig, LabError

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("good", ["20260102-101500-abc1234", "v2.1", "a", "x+local_2.3"])
def test_release_names_people_can_read_are_accepted(good):
    assert releases.check_version(good) == good


@pytest.mark.parametrize("bad", ["", "../x", "-rf", ".hidden", "a/b", "a b", "x" * 65, "é"])
def test_other_release_names_are_refused_naming_the_rule(bad):
    with pytest.raises(LabError, match=r"is not a release name: 1-64 letters, digits"):
        releases.check_version(bad)


def test_the_nginx_log_format_and_accesslogs_fields_agree():
    template = (REPO / "demo_app/stack/templates/nginx.conf.j2").read_text()
    fmt = re.search(r'log_format lab "([^"]+)";', template).group(1)
    variables = fmt.split("\\t")
    assert len(variables) == len(accesslog.FIELDS) == 15
    assert variables[-1] == "$upstream_http_x_release" and accesslog.FIELDS[-1] == "release"
    readme = (REPO / "demo_app/stack/README.md").read_text()
    assert "15 release" in readme  # the README's field table names it


def line(end: float, release: str) -> str:
    fields = ["t", "127.0.0.1", "GET", "/", "200", "10", "0.01", "127.0.0.1:8101", "200",
              "0.01", "web-1", "id", f"{end:.3f}", "10", release]  # fmt: skip
    return "\t".join(fields)


def test_releases_over_time_counts_each_release_per_window():
    lines = [line(100.0, "old"), line(101.0, "old"), line(106.0, "old"), line(107.0, "new")]
    lines += [line(113.0, "new"), line(113.5, "-"), "not a line", line(119.9, "new")]
    windows = accesslog.releases_over_time(lines, step=5)
    assert [start for start, _ in windows] == [0, 5, 10, 15]
    assert [dict(c) for _, c in windows] == [
        {"old": 2},
        {"old": 1, "new": 1},
        {"new": 1},
        {"new": 1},
    ]
    assert accesslog.releases_over_time(["x"]) == []


# -- building -------------------------------------------------------------------------------


@pytest.fixture
def git_repo(tmp_path, monkeypatch, need_git):
    """A small repository shaped like this one, as releases.REPO_DIR."""
    repo = tmp_path / "repo"
    for name in ("demo_app/__init__.py", "demo_app/old.py", "sim/__init__.py"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(f"# {name}\n")
    (repo / ".gitignore").write_text("*.log\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "before releases")
    monkeypatch.setattr(releases, "REPO_DIR", repo)
    return repo, git


def test_a_commit_that_cannot_name_its_release_is_refused(git_repo):
    repo, git = git_repo
    commit = git("rev-parse", "HEAD")
    with pytest.raises(LabError, match=rf"ref 'HEAD' \({commit[:7]}\) predates .*release\.py"):
        releases.source_of("HEAD")
    with pytest.raises(LabError, match=r"ref 'no-such-ref' is not a commit"):
        releases.source_of("no-such-ref")
    with pytest.raises(LabError, match=r"ref '--help' is not a git ref"):
        releases.source_of("--help")
    (repo / releases.NAMES_ITS_RELEASE).parent.mkdir()
    (repo / releases.NAMES_ITS_RELEASE).write_text("# names its release\n")
    git("add", "-A")
    git("commit", "-qm", "X-Release")
    later = git("rev-parse", "HEAD")
    assert releases.source_of("HEAD") == (later, f"HEAD ({later[:7]})", "")


def test_the_working_tree_is_copied_as_it_is_on_disk(git_repo, tmp_path):
    repo, git = git_repo
    commit = git("rev-parse", "HEAD")
    assert releases.source_of(None) == (commit, f"the working tree at {commit[:7]}", "")
    (repo / "demo_app/old.py").unlink()  # deleted, not committed
    (repo / "demo_app/new.py").write_text("NEW = 1\n")  # new, not added
    (repo / "demo_app/debug.log").write_text("ignored\n")
    (repo / "elsewhere.py").write_text("not shipped\n")
    assert releases.source_of(None)[1:] == ("the working tree with local changes", "-local")
    dest = tmp_path / "copy"
    dest.mkdir()
    releases._copy_working_tree(dest)
    copied = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert copied == ["demo_app/__init__.py", "demo_app/new.py", "sim/__init__.py"]
    # Nothing was staged: the repository's index is as it was.
    assert git("diff", "--cached", "--name-only") == ""


@pytest.mark.slow
def test_a_built_release_holds_its_code_its_name_and_its_static_files(tmp_path, need_git):
    cfg = LabConfig(state_dir=tmp_path)
    release = releases.build(cfg, say=lambda _: None)
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{7}(-local)?", release.version), release.version
    assert (release.path / "RELEASE").read_text() == release.version + "\n"
    assert (release.path / "demo_app/settings/base.py").is_file()
    assert (release.path / "sim/layers.py").is_file()
    manifest = json.loads((release.path / "static/staticfiles.json").read_text())
    assert "demo_app/site.css" in manifest["paths"]
    assert releases.get(cfg, release.version).commit == releases.git("rev-parse", "HEAD").strip()
    # The drill's fault: the same code without collectstatic.
    broken = releases.build(cfg, collect_static=False, say=lambda _: None)
    assert broken.version.endswith("-nostatic") and not broken.static
    assert list((broken.path / "static").iterdir()) == []
    assert [r.version for r in releases.list_releases(cfg)] == [release.version, broken.version]
    assert not [p for p in releases.releases_dir(cfg).iterdir() if p.name.startswith(".")]
    with pytest.raises(LabError, match=r"release 'nope' is unknown in .*: there are "):
        releases.get(cfg, "nope")


# -- the inventory and the playbook ---------------------------------------------------------


def test_the_inventory_lists_the_labs_instances_from_its_plan(tmp_path):
    cfg = LabConfig(state_dir=tmp_path, instances=3, base_port=9101, https_port=9443)
    cfg.save()
    done = subprocess.run(  # as Ansible runs it: an executable, with --list
        [str(REPO / "demo_app/stack/deploy/inventory.py"), "--list"],
        env={**os.environ, "LAB_STATE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["instances"]["hosts"] == ["web-1", "web-2", "web-3"]
    ports = {h: v["instance_port"] for h, v in found["_meta"]["hostvars"].items()}
    assert ports == {"web-1": 9101, "web-2": 9102, "web-3": 9103}
    shared = found["all"]["vars"]
    assert shared["ansible_connection"] == "local"
    assert (shared["lab_state_dir"], shared["https_port"]) == (str(cfg.state_dir), 9443)


def test_the_inventory_without_a_lab_says_so(tmp_path):
    done = subprocess.run(
        [sys.executable, str(REPO / "demo_app/stack/deploy/inventory.py"), "--list"],
        env={**os.environ, "LAB_STATE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert done.stderr.strip().endswith("run up first") and len(done.stderr.splitlines()) == 1


def test_the_playbook_passes_ansibles_syntax_check(tmp_path, need_ansible):
    from demo_app.stack import deploy

    LabConfig(state_dir=tmp_path).save()  # the inventory reads a plan
    checked = deploy.syntax_check(LabConfig(state_dir=tmp_path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "playbook: " in checked.stdout


# -- refusals: one line, exit 2, nothing changed --------------------------------------------


def stack(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAB_")}
    return subprocess.run(
        [sys.executable, "-m", "demo_app.stack", "--state-dir", str(tmp_path), *args],
        capture_output=True,
        text=True,
        env=env,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["deploy"], "is not running: start it with `up`"),
        (["deploy", "--ref", "HEAD"], "is not running: start it with `up`"),
        (["rollback"], "is not running: start it with `up`"),
        (["deploy", "--version", "../etc"], "version '../etc' is not a release name"),
    ],
)
def test_deploy_and_rollback_refuse_in_one_line_and_change_nothing(tmp_path, args, message):
    LabConfig(state_dir=tmp_path).save()
    before = sorted(p.name for p in tmp_path.iterdir())
    done = stack(tmp_path, *args)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and message in done.stderr, done.stderr
    assert len(done.stderr.splitlines()) == 1 and done.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no release, no state


def test_releases_of_a_lab_without_any_says_so(tmp_path):
    done = stack(tmp_path, "releases")
    assert done.returncode == 0
    assert done.stdout.startswith("no releases in ") and "`up` builds the first" in done.stdout
