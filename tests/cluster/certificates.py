"""Self-signed certificates for tests (openssl): a CA and a server certificate it signs."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServerCertificate:
    ca: Path  # the CA certificate (PEM) that signs `certificate`
    certificate: Path
    key: Path


def _openssl(*arguments: str) -> None:
    subprocess.run(["openssl", *arguments], check=True, capture_output=True)


def issue(directory: Path, name: str = "server", ip: str = "127.0.0.1") -> ServerCertificate:
    """A new CA and a server certificate for `ip` signed by it, under `directory/name`."""
    out = directory / name
    out.mkdir(parents=True, exist_ok=True)
    ca, ca_key = out / "ca.crt", out / "ca.key"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             f"/CN={name} test CA", "-keyout", str(ca_key), "-out", str(ca),
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    key, request, certificate = out / "tls.key", out / "tls.csr", out / "tls.crt"
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={ip}",
             "-keyout", str(key), "-out", str(request))
    extensions = out / "san.cnf"
    extensions.write_text(f"subjectAltName=IP:{ip}\nextendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key),
             "-CAcreateserial", "-days", "2", "-extfile", str(extensions), "-out",
             str(certificate))
    return ServerCertificate(ca, certificate, key)
