"""running_lab: this checkout's lab is recognised by its id, never by its port.

Every other server here is a real one on a real port: a plain ``http.server``, an HTTPS server
with another lab's certificate, and HTTPS servers with this lab's certificate that send no id
or another id. Only the real lab (tests/stack/test_lab.py) is recognised.
"""

from __future__ import annotations

import http.server
import ssl
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from demo_app.stack.certs import ensure_certificates
from demo_app.stack.client import LAB_HEADER, LabInfo, NoLab, running_lab
from demo_app.stack.config import LabConfig, LabError, free_ports

LAB_ID = "0123456789abcdef"


def plan(folder: Path, lab_id: str = LAB_ID) -> LabConfig:
    folder.mkdir(parents=True, exist_ok=True)
    dns, http_port, https, base = free_ports(4)
    cfg = LabConfig(
        state_dir=folder, dns_port=dns, http_port=http_port, https_port=https, base_port=base,
        lab_id=lab_id,
    )  # fmt: skip
    cfg.save()
    ensure_certificates(cfg.path("tls"))
    return cfg


@contextmanager
def server_on(port: int, header: str | None = None, tls_folder: Path | None = None):
    """A real HTTP server on 127.0.0.1:``port``: plain, or HTTPS with the certificate in
    ``tls_folder``, answering every GET with 200 (and ``X-Quorum-Lab: header`` if given)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            if header is not None:
                self.send_header(LAB_HEADER, header)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):  # keep the test output clean
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    if tls_folder is not None:
        files, _ = ensure_certificates(tls_folder)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(files.cert, files.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def no_lab(folder: Path) -> str:
    found = running_lab(folder, timeout=2)
    assert isinstance(found, NoLab) and not found, found
    assert "\n" not in found.reason
    return found.reason


def test_no_plan_is_no_lab(tmp_path):
    assert "no lab plan in" in no_lab(tmp_path)


def test_a_broken_plan_is_no_lab_with_its_reason(tmp_path):
    (tmp_path / "lab.json").write_text("{broken")
    assert "is not a lab plan" in no_lab(tmp_path)


def test_a_plan_from_before_lab_ids_is_no_lab(tmp_path):
    plan(tmp_path, lab_id="")
    assert "has no lab_id" in no_lab(tmp_path)


def test_nothing_on_the_port_is_a_lab_that_is_down(tmp_path):
    cfg = plan(tmp_path)
    assert f"nothing listens on 127.0.0.1:{cfg.https_port}" in no_lab(tmp_path)


def test_an_unrelated_plain_http_server_on_the_port_is_no_lab(tmp_path):
    cfg = plan(tmp_path)
    with server_on(cfg.https_port):
        reason = no_lab(tmp_path)
    assert f"the server on 127.0.0.1:{cfg.https_port} does not speak TLS" in reason


def test_a_server_with_another_labs_certificate_is_no_lab(tmp_path):
    cfg = plan(tmp_path / "this")
    with server_on(cfg.https_port, header=LAB_ID, tls_folder=tmp_path / "other" / "tls"):
        reason = no_lab(tmp_path / "this")
    assert "has a certificate this lab's CA did not sign" in reason


@pytest.mark.parametrize(
    ("header", "message"),
    [(None, "sent no X-Quorum-Lab header"), ("fedcba9876543210", "is lab fedcba9876543210")],
)
def test_a_server_without_this_labs_id_is_no_lab(tmp_path, header, message):
    cfg = plan(tmp_path)
    with server_on(cfg.https_port, header=header, tls_folder=cfg.path("tls")):
        reason = no_lab(tmp_path)
    assert message in reason


def test_the_same_id_over_this_labs_tls_is_the_lab(tmp_path):
    # The check itself, against a stand-in; the real lab passes it in test_lab.py.
    cfg = plan(tmp_path)
    with server_on(cfg.https_port, header=LAB_ID, tls_folder=cfg.path("tls")):
        found = running_lab(tmp_path, timeout=2)
    assert isinstance(found, LabInfo) and found
    assert (found.lab_id, found.healthy, found.dns) == (LAB_ID, True, False)  # no DNS server


@pytest.mark.parametrize("bad", ["LAB", "12 34", "x" * 3, "a" * 65])
def test_a_lab_id_is_hex_digits(tmp_path, bad):
    with pytest.raises(LabError, match=r"lab_id .* is not an id: up to 64 hex digits"):
        LabConfig(state_dir=tmp_path, lab_id=bad)
