"""The lab's own certificate authority and the quorum.us certificate nginx presents.

Like a company badge office: it prints one master stamp (the lab CA, ``tls/ca.pem``) and uses
it to stamp a badge for quorum.us (``tls/quorum.us.pem`` + key). Clients that trust the stamp
(``curl --cacert``, Python's ``ssl`` with ``cafile``) accept the badge; nobody else does, which
is right for a lab. Made once, at the first ``up``, without any network.

Flow: nothing -> CA key + CA cert -> site key + site cert (SAN quorum.us, www.quorum.us,
localhost, 127.0.0.1) -> PEM files in ``<state>/tls/``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from demo_app.stack.config import ZONE, write_new

VALID_DAYS = 825  # the longest lifetime browsers accept for a site certificate


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path

    def exist(self) -> bool:
        return self.ca.exists() and self.cert.exists() and self.key.exists()


def tls_files(folder: Path) -> TlsFiles:
    return TlsFiles(folder / "ca.pem", folder / f"{ZONE}.pem", folder / f"{ZONE}.key")


def ensure_certificates(folder: Path, now: dt.datetime | None = None) -> tuple[TlsFiles, bool]:
    """The CA and site certificate in ``folder``; made only if missing. Returns (files, made)."""
    files = tls_files(folder)
    if files.exist():
        return files, False
    folder.mkdir(parents=True, exist_ok=True)
    now = now or dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "quorum.us stack lab CA")])
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    site_key = ec.generate_private_key(ec.SECP256R1())
    site_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ZONE)])
    names = [
        x509.DNSName(ZONE),
        x509.DNSName(f"www.{ZONE}"),
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    site_cert = (
        _builder(site_name, ca_name, site_key.public_key(), now)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_bytes = site_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Write to temporary names first: an interrupted `up` never leaves half a key pair.
    for path, data in (
        (files.key, key_bytes),
        (files.cert, site_cert.public_bytes(pem) + ca_cert.public_bytes(pem)),
        (files.ca, ca_cert.public_bytes(pem)),
    ):
        write_new(path, data, mode=0o600 if path == files.key else 0o644)
    return files, True


def _builder(subject, issuer, public_key, now: dt.datetime) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
    )
