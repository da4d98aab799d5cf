"""The sandbox HTTP server: stdlib ThreadingHTTPServer, HTTP/1.1 keep-alive, no Nagle.

:class:`SandboxServer` owns everything one sandbox runs: the store (optionally loaded from a
state file), the API dispatcher, fault injection, the garbage collector, the controllers
(``kube_sandbox.controllers.ControllerManager``) and the
kubeconfig entries (``kube_sandbox.apiserver.kubeconfig``) with the admin token file beside them
(``access.py``; loopback only). With ``tls`` (what ``sandbox serve`` does unless
``--insecure-http``) it serves HTTPS with a CA and certificate made at start (``tls.py``) and
authenticates every request (``auth.py``): the kubeconfig carries the CA and the default user's
token (cluster-admin), plus one user and context per ``users`` entry. ``start()`` serves on a
background thread; ``stop()`` ends watches, stops the threads, saves the state file and takes
the kubeconfig entries and the token file out again. With ``synthetic_prometheus`` it also
serves the SYNTHETIC Prometheus query API (``synthetic_prometheus.py``: made-up numbers for
rehearsals, never real metrics) on a port and thread of its own, stopped with it.
"""

from __future__ import annotations

import logging
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kube_sandbox.apiserver.access import Access, require_loopback, token_file_for, write_token
from kube_sandbox.apiserver.auth import ADMIN_USER, Authenticator, User
from kube_sandbox.apiserver.kubeconfig import KubeconfigError, SandboxKubeconfig
from kube_sandbox.apiserver.routing import Api
from kube_sandbox.apiserver.synthetic_prometheus import SyntheticPrometheus
from kube_sandbox.apiserver.tls import SandboxCA, peer_identity
from kube_sandbox.controllers import ControllerManager
from kube_sandbox.faults import Faults
from kube_sandbox.objects import bundled, defaults, resources
from kube_sandbox.objects.gc import GarbageCollector
from kube_sandbox.protocol.messages import Request, Response, error_response
from kube_sandbox.storage.state import load_state, save_state
from kube_sandbox.storage.store import Store, StoreError

log = logging.getLogger("kube_sandbox")

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# Watchable changes kept; older resourceVersions get 410 Gone (clients relist). Each entry
# holds one object version: 10,000 keeps a busy sandbox under 100 MB.
DEFAULT_HISTORY = 10_000
_HANDSHAKE_SECONDS = 10.0


class SyntheticPrometheusPortError(OSError):
    """The synthetic Prometheus cannot bind its port (the API server's port was fine)."""

    def __init__(self, port: int, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.port = port


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # open keep-alive connections and watches must not block exit
    api: Api

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client closing a keep-alive or watch connection is normal, not a server error:
        # socketserver would print a traceback for it on stderr. So is a TLS client that does
        # not trust the certificate (it hangs up in the handshake) or never finishes it.
        error = sys.exc_info()[1]
        if isinstance(error, (BrokenPipeError, ConnectionResetError, ssl.SSLError, TimeoutError)):
            log.debug("sandbox: connection from %s ended: %s", client_address, error)
            return
        super().handle_error(request, client_address)


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6  # --host ::1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one connection serves many requests
    disable_nagle_algorithm = True  # without it each small response waits ~40 ms for an ACK
    server: _HTTPServer
    peer: tuple[str, tuple[str, ...]] | None = None

    def setup(self) -> None:
        connection = self.request
        if isinstance(connection, ssl.SSLSocket):
            # The handshake runs here, on the connection's own thread (accept() does not wait
            # for it), bounded so that a client that never finishes it only costs its thread.
            connection.settimeout(_HANDSHAKE_SECONDS)
            connection.do_handshake()
            connection.settimeout(None)
            self.peer = peer_identity(connection.getpeercert())
        super().setup()

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError:
            self.send_error(400, "bad chunked request body")
            self.close_connection = True
            return
        req = Request.parse(self.command, self.path, self.headers, body)  # type: ignore[arg-type]
        req.peer = self.peer
        try:
            resp = self.server.api.handle(req)
        except Exception:  # a bug must answer 500 (as upstream), not drop the connection
            log.exception("sandbox: %s %s failed", self.command, self.path)

            resp = error_response(StoreError(500, "InternalError", "internal error in the sandbox"))
        if resp.stream is not None:
            self._send_stream(resp)
        else:
            self._send(resp)

    def _read_body(self) -> bytes:
        """The request body: ``Content-Length`` bytes, or a chunked body (RFC 9112 7.1).

        client-go streams a body it reads from a file (``kubectl create --raw -f``) with
        ``Transfer-Encoding: chunked`` and no length; unread, its chunks would be parsed as
        the next request on the connection.
        """
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(1024)
                size = int(size_line.split(b";")[0].strip() or b"x", 16)
                if size == 0:
                    while self.rfile.readline(1024).strip():  # trailer fields, then CRLF
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)  # the CRLF after the chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _headers(self, resp: Response) -> None:
        self.send_response(resp.code)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Cache-Control", "no-cache, private")
        for name, value in resp.headers.items():
            self.send_header(name, value)

    def _send(self, resp: Response) -> None:
        # One write for status line, headers and body: two small writes cost a scheduler
        # round trip each on a busy machine.
        payload = resp.payload()
        self.log_request(resp.code)
        phrase = self.responses.get(resp.code, ("",))[0]
        head = [
            f"{self.protocol_version} {resp.code} {phrase}",
            f"Date: {self.date_time_string()}",
            f"Content-Type: {resp.content_type}",
            "Cache-Control: no-cache, private",
            f"Content-Length: {len(payload)}",
            *(f"{name}: {value}" for name, value in resp.headers.items()),
        ]
        if self.close_connection:
            head.append("Connection: close")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1", "replace")
        self.wfile.write(data if self.command == "HEAD" else data + payload)

    def _send_stream(self, resp: Response) -> None:
        self._headers(resp)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        assert resp.stream is not None
        try:
            for chunk in resp.stream:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Request lines go to the debug log (``-v``), not to stderr."""
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s - %s", self.address_string(), format % args)


class SandboxServer:
    """One sandbox: store, HTTP API, garbage collector and controllers."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        kubeconfig: Path | None = None,
        merge_kubeconfig: bool = False,
        use_context: bool = False,
        state_file: Path | None = None,
        pod_ready_delay: float = 0.5,
        faults: Faults | None = None,
        controllers: bool = True,
        history: int = DEFAULT_HISTORY,
        gateway_api: bool = True,
        tls: bool = False,
        users: tuple[User, ...] = (),
        synthetic_prometheus: int | None = None,
    ) -> None:
        """``tls``: HTTPS with a fresh CA, and tokens (``users`` besides the cluster-admin
        default); without it, plain HTTP and no authentication (``users`` must be empty).
        ``synthetic_prometheus``: also serve the SYNTHETIC Prometheus query API (made-up
        numbers from the pods' image tags, ``synthetic_prometheus.py``) on plain HTTP at
        127.0.0.1 on this port (0: a free one); its URL is ``synthetic_prometheus_url``."""
        require_loopback(host)  # a local test cluster: nothing but this machine may reach it
        if users and not tls:
            raise ValueError("users need TLS (tokens are not sent over plain HTTP)")
        # The CA first: without cryptography, nothing else is done (TlsUnavailable).
        self.ca = SandboxCA() if tls else None
        self.auth = Authenticator((User(ADMIN_USER, "cluster-admin"), *users)) if tls else None
        # An existing kubeconfig is refused (or checked for merging) before anything starts.
        self._kubeconfig = (
            SandboxKubeconfig(kubeconfig, merge=merge_kubeconfig, use_context=use_context)
            if kubeconfig is not None
            else None
        )
        self.kubeconfig_removed: str | None = None  # what stop() did with it, for messages
        self.store = Store(history=history)
        self.state_file = state_file
        if state_file is not None:
            load_state(self.store, state_file)
        ensure_namespaces(self.store)
        if gateway_api:  # HTTPRoute comes from its CRD, as on a real cluster
            bundled.install_gateway_api(self.store)
        resources.registry_of(self.store)  # the kinds of the CRDs it has are served from now
        self.faults = faults if faults is not None else Faults()
        self.access = Access()
        self.admin_token = self.access.admin_token  # for /_sandbox/: "Authorization: Bearer …"
        self.api = Api(self.store, self.faults, self.access, self.auth)
        server_class = _HTTPServer6 if ":" in host else _HTTPServer
        self.httpd = server_class((host, port), _Handler)
        self.httpd.api = self.api
        bound_host, bound_port = self.httpd.server_address[:2]
        host_text = f"{bound_host!s}"
        if self.ca is not None:
            try:
                context = self.ca.server_context(("127.0.0.1", "::1", "localhost", host_text))
                self.httpd.socket = context.wrap_socket(
                    self.httpd.socket, server_side=True, do_handshake_on_connect=False
                )
            except BaseException:
                self.httpd.server_close()
                raise
        shown = f"[{host_text}]" if ":" in host_text else host_text
        self.url = f"{'https' if self.ca else 'http'}://{shown}:{bound_port}"
        self.synthetic_prometheus: SyntheticPrometheus | None = None
        if synthetic_prometheus is not None:
            try:
                self.synthetic_prometheus = SyntheticPrometheus(self.store, synthetic_prometheus)
            except OSError as exc:
                self.httpd.server_close()
                raise SyntheticPrometheusPortError(synthetic_prometheus, exc) from exc
        self.kubeconfig = kubeconfig
        self.admin_token_file = token_file_for(kubeconfig) if kubeconfig is not None else None
        try:
            self._write_files()
        except BaseException:
            self.httpd.server_close()
            if self.synthetic_prometheus is not None:
                self.synthetic_prometheus.stop()
            raise
        self.gc = GarbageCollector(self.store)
        self.pod_ready_delay = pod_ready_delay
        self.controllers: ControllerManager | None = None
        self._want_controllers = controllers
        self._thread: threading.Thread | None = None

    @property
    def synthetic_prometheus_url(self) -> str | None:
        """``http://127.0.0.1:PORT`` of the synthetic Prometheus, None when not serving one."""
        return self.synthetic_prometheus.url if self.synthetic_prometheus is not None else None

    @property
    def token(self) -> str | None:
        """The default user's bearer token (cluster-admin); None over plain HTTP."""
        return self.auth.admin.token if self.auth is not None else None

    @property
    def users(self) -> tuple[User, ...]:
        """Every user with a token: the default (cluster-admin) first, then ``users``."""
        return self.auth.users if self.auth is not None else ()

    def start(self) -> None:
        """Start the collector, the controllers and the HTTP thread."""
        self.gc.start()
        if self._want_controllers:
            self.controllers = ControllerManager(self.store, pod_ready_delay=self.pod_ready_delay)
            self.controllers.start()
        self._thread = threading.Thread(target=self._serve, name="sandbox-http", daemon=True)
        self._thread.start()
        if self.synthetic_prometheus is not None:
            self.synthetic_prometheus.start()

    def _serve(self) -> None:
        self.httpd.serve_forever(poll_interval=0.05)  # shutdown() waits for one poll

    def stop(self) -> None:
        """End watches, stop serving, stop controllers and collector, save the state file, take
        the sandbox out of the kubeconfig (a created one is removed), delete the token file."""
        self.api.stopping = True
        with self.store.changed:
            self.store.changed.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()
        if self.synthetic_prometheus is not None:
            self.synthetic_prometheus.stop()
        if self.controllers is not None:
            self.controllers.stop()
        self.gc.stop()
        try:
            if self.state_file is not None:
                save_state(self.store, self.state_file)
        finally:  # a failed save must not leave a context pointing at this dead port
            self._remove_token_file()  # never raises: a warning when it cannot
            if self._kubeconfig is not None:
                self.kubeconfig_removed = self._kubeconfig.remove()

    def _write_files(self) -> None:
        """The kubeconfig entries and the admin token file beside them."""
        if self._kubeconfig is None or self.admin_token_file is None:
            return
        if self.ca is not None and self.auth is not None:
            certificates = {}
            for user in self.auth.users:
                if user.certificate:
                    issued = self.ca.client_certificate(user.name, user.groups)
                    certificates[user.name] = (issued.cert_pem, issued.key_pem)
            self._kubeconfig.write(
                self.url, ca_pem=self.ca.cert_pem, users=self.auth.users, certificates=certificates
            )
        else:
            self._kubeconfig.write(self.url)
        try:
            write_token(self.admin_token_file, self.admin_token)
        except OSError as exc:
            self._kubeconfig.remove()
            raise KubeconfigError(
                f"cannot write the admin token {self.admin_token_file}: {exc.strerror or exc}",
                hint="choose another --kubeconfig (the token is written beside it)",
            ) from exc

    def _remove_token_file(self) -> None:
        """Delete the admin token file, unless another sandbox has written its own there."""
        if self.admin_token_file is None:
            return
        try:
            if self.admin_token_file.read_text(encoding="utf-8").strip() == self.admin_token:
                self.admin_token_file.unlink()
        except FileNotFoundError:
            pass
        except (OSError, UnicodeDecodeError) as exc:  # stopping must not fail for it
            log.warning("sandbox: cannot remove the admin token %s: %s", self.admin_token_file, exc)


def ensure_namespaces(store: Store) -> None:
    """Create the namespaces every cluster has (default, kube-system, …) when missing."""
    for name in INITIAL_NAMESPACES:
        try:
            store.get("/namespaces", "", name)
        except StoreError:
            obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            store.create("/namespaces", defaults.apply_defaults("Namespace", obj))
