"""Real TLS for tests: a CA, server certificates, and a TLS-terminating proxy in front of a
plain-HTTP server (the sandbox), so the official client meets real handshakes and failures.

Also :func:`silent_listener`: a TCP server that accepts connections and never answers (to prove
request timeouts). Everything started here is stopped when its ``with`` block ends.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import ipaddress
import select
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class CertificateAuthority:
    """A self-signed CA that can issue server certificates."""

    name: str
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def make_ca(name: str = "ci-deploy test CA") -> CertificateAuthority:
    """A fresh CA, valid from yesterday for a year."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 365 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(name, key, cert)


@dataclass(frozen=True)
class ServerCertificate:
    """A server certificate and its key, as PEM."""

    cert_pem: bytes
    key_pem: bytes


def issue(
    ca: CertificateAuthority,
    hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
    *,
    expired: bool = False,
) -> ServerCertificate:
    """A server certificate for ``hosts`` (IP addresses or DNS names), signed by ``ca``."""
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    start, end = (NOW - 30 * DAY, NOW - DAY) if expired else (NOW - DAY, NOW + 30 * DAY)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return ServerCertificate(cert.public_bytes(serialization.Encoding.PEM), key_pem)


def _pump(source: socket.socket, target: socket.socket, stop: threading.Event) -> None:
    """Copy bytes from ``source`` to ``target`` until either side closes."""
    with contextlib.suppress(OSError):
        while not stop.is_set():
            ready, _, _ = select.select([source], [], [], 0.2)
            if not ready and not (isinstance(source, ssl.SSLSocket) and source.pending()):
                continue
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    for sock in (source, target):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


@dataclass
class TlsProxy:
    """A TLS server on 127.0.0.1 that forwards each connection to a plain TCP backend."""

    backend: tuple[str, int]
    certificate: ServerCertificate
    workdir: Path
    _listener: socket.socket = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _threads: list[threading.Thread] = field(default_factory=list, init=False)
    _sockets: list[socket.socket] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        cert_file, key_file = self.workdir / "server.crt", self.workdir / "server.key"
        cert_file.write_bytes(self.certificate.cert_pem)
        key_file.write_bytes(self.certificate.key_pem)
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(cert_file, key_file)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._listener.getsockname()[1]}"

    def start(self) -> None:
        self._spawn(self._accept_loop)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._serve, client)

    def _serve(self, client: socket.socket) -> None:
        self._sockets.append(client)
        client.settimeout(5)
        try:
            tls = self._context.wrap_socket(client, server_side=True)
        except (OSError, ssl.SSLError):
            client.close()  # the client refused our certificate: what the failing tests want
            return
        tls.settimeout(None)
        backend = socket.create_connection(self.backend)
        self._sockets += [tls, backend]
        self._spawn(_pump, backend, tls, self._stop)
        _pump(tls, backend, self._stop)

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
        for thread in self._threads:
            thread.join(timeout=2)


@contextlib.contextmanager
def tls_proxy(backend_url: str, certificate: ServerCertificate, workdir: Path) -> Iterator[str]:
    """Serve ``backend_url`` (http://HOST:PORT) over TLS; yields the https URL."""
    host, port = backend_url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    proxy = TlsProxy((host, int(port)), certificate, workdir)
    proxy.start()
    try:
        yield proxy.url
    finally:
        proxy.stop()


@contextlib.contextmanager
def silent_listener() -> Iterator[str]:
    """A TCP server that accepts connections and never answers; yields its https URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()
        for sock in accepted:
            sock.close()


def kubeconfig_for(source: Path, target: Path, server: str, ca: CertificateAuthority) -> Path:
    """``source`` (a sandbox kubeconfig) pointed at ``server``, trusting ``ca``."""
    doc = yaml.safe_load(source.read_text())
    cluster = doc["clusters"][0]["cluster"]
    cluster["server"] = server
    cluster["certificate-authority-data"] = base64.b64encode(ca.pem).decode()
    target.write_text(yaml.safe_dump(doc))
    return target
