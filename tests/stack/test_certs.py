"""The lab's CA signs a quorum.us certificate once; later calls keep it."""

from __future__ import annotations

from cryptography import x509

from demo_app.stack.certs import ensure_certificates


def test_site_certificate_is_signed_by_the_lab_ca_for_the_zone(tmp_path):
    files, made = ensure_certificates(tmp_path / "tls")
    assert made
    chain = x509.load_pem_x509_certificates(files.cert.read_bytes())
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    site = chain[0]
    site.verify_directly_issued_by(ca)  # raises if the CA did not sign it
    names = site.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"quorum.us", "www.quorum.us"} <= set(names.get_values_for_type(x509.DNSName))
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert oct(files.key.stat().st_mode & 0o777) == "0o600"


def test_second_call_keeps_the_existing_files(tmp_path):
    first, _ = ensure_certificates(tmp_path)
    before = first.cert.read_bytes()
    again, made = ensure_certificates(tmp_path)
    assert not made
    assert again.cert.read_bytes() == before
