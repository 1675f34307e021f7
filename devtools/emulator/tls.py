"""A self-signed certificate for the emulator's HTTPS port (the Azure SDK speaks only HTTPS)."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed_certificate(directory: str | Path, *, hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1"),
                            days: int = 30) -> tuple[Path, Path]:
    """Write ``cert.pem`` and ``key.pem`` for ``hosts`` into ``directory``; returns their paths.

    The certificate is its own authority: point a client's CA bundle at ``cert.pem``
    (``connection_verify`` for the Azure SDK, ``PROVIDER_CA_BUNDLE`` for the hub).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "messaging-hub provider emulator")])
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def certificate_in(directory: str | Path) -> tuple[Path, Path]:
    """The emulator's self-signed certificate in ``directory`` (``cert.pem``, ``key.pem``), made on first use."""
    directory = Path(directory)
    cert, key = directory / "cert.pem", directory / "key.pem"
    if cert.exists() and key.exists():
        return cert, key
    return self_signed_certificate(directory, days=3650)
