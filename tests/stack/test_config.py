"""The lab's plan: validation, the port check and the rendered configs."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from demo_app.stack import nginx, supervisor
from demo_app.stack.__main__ import main
from demo_app.stack.config import LabConfig, LabError, check_ports, free_ports


def test_defaults_and_environment_then_overrides(tmp_path):
    env = {"LAB_HTTP_PORT": "9080", "LAB_INSTANCES": "3", "LAB_STATE_DIR": str(tmp_path)}
    cfg = LabConfig.from_env(env, instances=4)
    assert (cfg.http_port, cfg.instances, cfg.state_dir) == (9080, 4, tmp_path.resolve())
    assert cfg.instance_names == ["web-1", "web-2", "web-3", "web-4"]
    assert [cfg.instance_port(i) for i in (1, 4)] == [cfg.base_port, cfg.base_port + 3]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"http_port": 70000}, "http-port 70000 is not a port"),
        ({"instances": 0}, "instances 0 is out of range"),
        ({"balance": "random"}, "balance 'random' is unknown: use one of round_robin, least_conn"),
        ({"workers": 99}, "workers 99 is out of range"),
        ({"http_port": 8443}, "https-port 8443 is also the http-port"),
        ({"base_port": 8079, "instances": 3}, "web-2's port 8080 is also the http-port"),
        ({"dns_port": 8102}, "web-2's port 8102 is also the dns-port"),
    ],
)
def test_bad_values_name_themselves_and_what_is_allowed(tmp_path, overrides, message):
    with pytest.raises(LabError, match=message):
        LabConfig(state_dir=tmp_path, **overrides)


def test_the_default_lab_folder_is_the_repositorys_wherever_the_command_runs(monkeypatch):
    monkeypatch.chdir("/")
    repo = Path(__file__).resolve().parents[2]
    assert LabConfig.from_env({}).state_dir == repo / "var" / "lab"
    assert LabConfig.from_env({}).dns_port == 8053  # not 5353, which mDNS (avahi) holds


def test_the_lab_is_production_shaped_whatever_the_shell_exports(tmp_path):
    from demo_app.stack.instance import shared_environment

    cfg = LabConfig(state_dir=tmp_path)
    env = shared_environment(cfg, {"DEBUG": "1", "ALLOWED_HOSTS": "evil.example"})
    assert env["DEBUG"] == "0"
    assert env["DJANGO_SETTINGS_MODULE"] == "demo_app.settings.production"
    assert env["ALLOWED_HOSTS"].split(",")[:2] == ["quorum.us", "www.quorum.us"]
    assert env["CALIBRATION_ENDPOINT"] == "1"
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_bad_environment_value_is_named(tmp_path):
    with pytest.raises(LabError, match="LAB_DNS_PORT='fifty' is not a whole number"):
        LabConfig.from_env({"LAB_DNS_PORT": "fifty", "LAB_STATE_DIR": str(tmp_path)})


def test_plan_round_trips_through_lab_json(tmp_path):
    cfg = LabConfig(state_dir=tmp_path, instances=3, https_port=9443)
    cfg.save()
    assert LabConfig.load(tmp_path) == cfg
    (tmp_path / "lab.json").write_text("{broken")
    with pytest.raises(LabError, match="is not a lab plan"):
        LabConfig.load(tmp_path)


def test_a_taken_port_is_one_clear_error():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(LabError, match=f"port {port}/tcp on 127.0.0.1 is already in use"):
            check_ports([(port, "tcp", "nginx HTTP (--http-port or LAB_HTTP_PORT)")])


def test_up_on_a_taken_port_exits_2_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(nginx, "find_nginx", lambda: "/usr/sbin/nginx")
    dns, https, base = free_ports(3)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        args = ["--state-dir", str(tmp_path), "up", "--http-port", str(taken)]
        args += ["--dns-port", str(dns), "--https-port", str(https), "--base-port", str(base)]
        assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert f"port {taken}/tcp" in err[0] and "--http-port" in err[0]
    assert not (tmp_path / "lab.json").exists()  # nothing half-made


def test_status_of_a_stopped_lab_says_so(tmp_path, capsys):
    LabConfig(state_dir=tmp_path).save()
    assert main(["--state-dir", str(tmp_path), "status"]) == 1
    assert "is down" in capsys.readouterr().out


def test_cli_rejects_an_unknown_instance(tmp_path, capsys):
    LabConfig(state_dir=tmp_path, instances=2).save()
    assert main(["--state-dir", str(tmp_path), "kill", "web-9"]) == 2
    assert "instance 'web-9' is not in this lab: use one of web-1, web-2" in capsys.readouterr().err


def test_supervisord_config_lists_every_program_and_escapes_percent(tmp_path):
    cfg = LabConfig(state_dir=tmp_path, instances=3)
    text = supervisor.render_conf(cfg, {"web-2": "--database-url postgres://x:a%b@h/db"})
    programs = [line for line in text.splitlines() if line.startswith("[program:")]
    assert programs == [f"[program:{n}]" for n in ("dns", "web-1", "web-2", "web-3", "nginx")]
    assert "a%%b" in text
    assert "{{" not in text


def test_nginx_upstream_has_one_server_per_instance_with_passive_checks(tmp_path):
    cfg = LabConfig(state_dir=tmp_path, instances=3, balance="least_conn")
    lines = nginx.upstream_servers(cfg).splitlines()
    assert lines[0].strip() == "least_conn;"
    assert [line.split()[1] for line in lines[1:]] == [
        f"127.0.0.1:{cfg.instance_port(i)}" for i in (1, 2, 3)
    ]
    assert all("max_fails=" in line and "fail_timeout=" in line for line in lines[1:])


def test_supervisord_starts_the_dns_server_with_the_labs_id(tmp_path):
    text = supervisor.render_conf(LabConfig(state_dir=tmp_path, lab_id="beef"))
    dns = next(line for line in text.splitlines() if "-m demo_app.stack.dns" in line)
    assert dns.endswith(" --lab-id beef")
    plain = supervisor.render_conf(LabConfig(state_dir=tmp_path))
    assert "--lab-id" not in plain


def test_nginx_accepts_the_generated_config(tmp_path, need_nginx):
    from demo_app.stack.certs import ensure_certificates

    cfg = LabConfig(state_dir=tmp_path, instances=2, lab_id="0123456789abcdef")
    tls, made = ensure_certificates(cfg.path("tls"))
    assert made
    assert nginx.write_conf(cfg, tls, Path(tmp_path / "static"))  # runs `nginx -t`
    text = nginx.conf_path(cfg).read_text()
    assert f"return 301 https://$host:{cfg.https_port}$request_uri;" in text
    assert 'proxy_set_header X-Request-Start "t=${msec}";' in text
    assert "proxy_next_upstream error timeout http_502;" in text
    assert "listen 0.0.0.0" not in text and "listen 127.0.0.1:" in text
    # Both the redirect and the HTTPS server name the lab, on every answer (always).
    assert text.count("add_header X-Quorum-Lab 0123456789abcdef always;") == 2


def test_threads_conn_max_age_and_postgres_are_checked(tmp_path):
    from demo_app.stack.config import LabConfig, LabError

    for bad, message in (
        ({"threads": 0}, "threads 0 is out of range: use 1-64"),
        ({"conn_max_age": -1}, "conn-max-age -1 is out of range: use 0-86400 seconds"),
        ({"postgres": "Lab-DB"}, "postgres 'Lab-DB' is not a database name"),
    ):
        with pytest.raises(LabError, match=message):
            LabConfig(state_dir=tmp_path, **bad)


def test_the_connections_experiment_names_what_the_lab_lacks(tmp_path):
    from demo_app.stack import connections
    from demo_app.stack.config import LabConfig, LabError

    with pytest.raises(LabError) as caught:
        connections.check_plan(LabConfig(state_dir=tmp_path))
    said = str(caught.value)
    assert "PostgreSQL (--postgres NAME)" in said and "gthread workers" in said
    assert "persistent connections" in said and "\n" not in said
    ready = LabConfig(state_dir=tmp_path, threads=4, conn_max_age=600, postgres="quorum_lab")
    connections.check_plan(ready)  # nothing missing


def test_the_instances_get_threads_conn_max_age_and_the_labs_database(tmp_path):
    from demo_app.stack.config import LabConfig
    from demo_app.stack.instance import shared_environment

    cfg = LabConfig(state_dir=tmp_path, threads=4, conn_max_age=600, postgres="quorum_lab")
    env = shared_environment(cfg, {"LAB_PG_ADMIN_URL": "postgresql://postgres@db.local:6543/x"})
    assert env["CONN_MAX_AGE"] == "600"
    assert env["DATABASE_URL"] == "postgresql://quorum_lab@db.local:6543/quorum_lab"
