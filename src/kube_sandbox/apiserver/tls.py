"""The sandbox's TLS: a CA made at start, a serving certificate for loopback, an SSLContext.

Everything is generated in memory with ``cryptography`` (the ``ci-deploy[sandbox]`` extra) when
a sandbox starts and lives as long as it does: the CA's certificate goes into the kubeconfig
(``certificate-authority-data``), its key never leaves the process. ``ssl`` loads a key only
from a file, so the serving key is written to a private temporary directory (0700, the file
0600), loaded and deleted at once.

The serving certificate names 127.0.0.1, ::1 and localhost (plus the bound address), so
kubectl, client-go and the Python client verify it whichever loopback name the kubeconfig uses.
Client certificates signed by the CA are accepted too (``CN`` the user, ``O`` its groups), as
upstream does with ``--client-ca-file``: :meth:`SandboxCA.client_certificate` mints them.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

LOOPBACK_NAMES = ("127.0.0.1", "::1", "localhost")
_VALID = datetime.timedelta(days=30)  # a sandbox lives hours; a month covers a long soak
_SKEW = datetime.timedelta(minutes=5)  # a client clock a little behind still accepts it

MISSING = (
    "TLS needs the cryptography package: install ci-deploy[sandbox] "
    "(pip install 'ci-deploy[sandbox]'), or pass --insecure-http for plain HTTP without "
    "authentication"
)


class TlsUnavailable(RuntimeError):
    """``cryptography`` is not installed (the ``sandbox`` extra)."""

    def __init__(self) -> None:
        super().__init__(MISSING)


def available() -> bool:
    """True when ``cryptography`` can be imported."""
    try:
        import cryptography.x509  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, as PEM."""

    cert_pem: bytes
    key_pem: bytes


class SandboxCA:
    """A self-signed CA made for one sandbox; it signs the serving and client certificates."""

    def __init__(self, name: str = "ci-deploy sandbox CA") -> None:
        try:
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import ec
            from cryptography.x509.oid import NameOID
        except ImportError as exc:
            raise TlsUnavailable() from exc
        self._x509, self._hashes, self._ser, self._ec, self._oid = (
            x509,
            hashes,
            serialization,
            ec,
            NameOID,
        )
        self._key: ec.EllipticCurvePrivateKey = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        public = self._key.public_key()
        self.cert = (
            self._builder(subject, public)
            .issuer_name(subject)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(x509, ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_pem: bytes = self.cert.public_bytes(serialization.Encoding.PEM)

    def _builder(self, subject: Any, public: Any) -> Any:
        now = datetime.datetime.now(datetime.timezone.utc)
        return (
            self._x509.CertificateBuilder()
            .subject_name(subject)
            .public_key(public)
            .serial_number(self._x509.random_serial_number())
            .not_valid_before(now - _SKEW)
            .not_valid_after(now + _VALID)
        )

    def _issue(self, subject: Any, extensions: list[tuple[Any, bool]]) -> Issued:
        x509 = self._x509
        key = self._ec.generate_private_key(self._ec.SECP256R1())
        builder = self._builder(subject, key.public_key()).issuer_name(self.cert.subject)
        builder = builder.add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        ).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
            critical=False,
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        cert = builder.sign(self._key, self._hashes.SHA256())
        key_pem = key.private_bytes(
            self._ser.Encoding.PEM,
            self._ser.PrivateFormat.PKCS8,
            self._ser.NoEncryption(),
        )
        return Issued(cert.public_bytes(self._ser.Encoding.PEM), key_pem)

    def serving_certificate(self, hosts: tuple[str, ...] = LOOPBACK_NAMES) -> Issued:
        """A server certificate whose subjectAltNames are ``hosts`` (IPs or DNS names)."""
        x509, oid = self._x509, self._oid
        names: list[Any] = []
        for host in dict.fromkeys(h.removeprefix("[").removesuffix("]") for h in hosts):
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        subject = x509.Name([x509.NameAttribute(oid.COMMON_NAME, "ci-deploy-sandbox")])
        return self._issue(
            subject,
            [
                (x509.SubjectAlternativeName(names), False),
                (_key_usage(x509, ca=False), True),
                (x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False),
            ],
        )

    def client_certificate(self, user: str, groups: tuple[str, ...] = ()) -> Issued:
        """A client certificate for ``user`` (CN) in ``groups`` (O), as kube-apiserver reads it."""
        x509, oid = self._x509, self._oid
        attributes = [x509.NameAttribute(oid.ORGANIZATION_NAME, g) for g in groups]
        subject = x509.Name([*attributes, x509.NameAttribute(oid.COMMON_NAME, user)])
        return self._issue(
            subject,
            [
                (_key_usage(x509, ca=False), True),
                (x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), False),
            ],
        )

    def server_context(self, hosts: tuple[str, ...] = LOOPBACK_NAMES) -> ssl.SSLContext:
        """An SSLContext serving a fresh certificate for ``hosts``; client certificates by this
        CA are asked for (optional: a bearer token is the other way in)."""
        issued = self.serving_certificate(hosts)
        # Not create_default_context(): it would also trust the system's CAs for client
        # certificates (and reading them costs start-up time); only this CA may sign them.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.verify_mode = ssl.CERT_OPTIONAL
        context.load_verify_locations(cadata=self.cert_pem.decode("ascii"))
        with tempfile.TemporaryDirectory(prefix="ci-deploy-sandbox-tls-") as private:
            key_file = Path(private) / "serving.pem"  # the directory is 0700 (mkdtemp)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(issued.cert_pem + issued.key_pem)
            context.load_cert_chain(key_file)
        return context


def _key_usage(x509: Any, *, ca: bool) -> Any:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def peer_identity(cert: dict[str, Any] | None) -> tuple[str, tuple[str, ...]] | None:
    """(user, groups) from a verified client certificate (``SSLSocket.getpeercert()``)."""
    if not cert:
        return None
    user = ""
    groups: list[str] = []
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                user = value
            elif key == "organizationName":
                groups.append(value)
    return (user, tuple(groups)) if user else None
