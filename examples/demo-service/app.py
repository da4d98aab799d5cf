"""A small HTTP service to judge canaries on: errors and latency on demand, Prometheus metrics.

Run ``python3 app.py --port 0 --version 1.1.0 --error-rate 0.1 --latency-ms 800``; the first
line on stdout is ``listening on PORT``. Endpoints:

- ``GET /`` and ``GET /health``: 200 ``ok`` (or 500 ``injected error``); both counted;
- ``GET /metrics``: the Prometheus exposition (not counted);
- ``GET|POST /admin/config``: the behaviour, as JSON; a POST of ``{"error_rate": 0.1,
  "latency_ms": 800}`` changes it live. Loopback clients only (403 otherwise); not counted.

Errors are deterministic, not random: with ``error_rate`` r the n-th served request fails when
``floor(n*r)`` grows, so at 0.1 exactly requests 10, 20, 30… fail, and any 100 requests in a
row hold exactly 10 failures. A configuration change restarts the count (n = 1 again).
``latency_ms`` is slept in each served request, inside the measured duration.

Metrics: ``http_requests_total{code,method,path}`` and ``http_request_duration_seconds``
(histogram, ``method``/``path``), plus ``demo_build_info{version}`` and the client's process
metrics. Paths other than ``/`` and ``/health`` are 404, counted as ``path="other"`` (a POST
to them is 405); neither advances the error sequence. The 200 and
500 series of ``GET /`` and ``GET /health`` exist from the start (at 0), so an error-rate query
of a healthy version gives 0, not "no data".

Stdlib ``http.server`` plus ``prometheus_client``; SIGTERM or SIGINT stop it cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

# No *_created series: they would only double the series Prometheus stores.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Fine enough to tell 100 ms from 800 ms (and 5 ms from 50 ms).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0)
SERVED_PATHS = ("/", "/health")
MAX_LATENCY_MS = 60_000.0
MAX_BODY = 64 * 1024

REQUESTS = Counter(
    "http_requests", "HTTP requests served, by status code", ["code", "method", "path"]
)
DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to serve an HTTP request, injected latency included",
    ["method", "path"],
    buckets=BUCKETS,
)
BUILD_INFO = Gauge("demo_build_info", "The demo service's version (always 1)", ["version"])


@dataclass(frozen=True)
class Behaviour:
    """What the service does to each served request."""

    error_rate: float = 0.0  # fraction 0..1 of requests answered 500, deterministically
    latency_ms: float = 0.0  # added to each served request

    def __post_init__(self) -> None:
        if not (isinstance(self.error_rate, (int, float)) and 0 <= self.error_rate <= 1):
            raise ValueError(f"error_rate must be a number from 0 to 1, not {self.error_rate!r}")
        if not (
            isinstance(self.latency_ms, (int, float)) and 0 <= self.latency_ms <= MAX_LATENCY_MS
        ):
            raise ValueError(
                f"latency_ms must be a number from 0 to {MAX_LATENCY_MS:g}, not {self.latency_ms!r}"
            )


class State:
    """The live behaviour and the served-request count that the error sequence follows."""

    def __init__(self, version: str, behaviour: Behaviour) -> None:
        self.version = version
        self._lock = threading.Lock()
        self._behaviour = behaviour
        self._rate = _fraction(behaviour.error_rate)
        self._served = 0  # since the last configuration change

    @property
    def behaviour(self) -> Behaviour:
        with self._lock:
            return self._behaviour

    def configure(self, **changes: Any) -> Behaviour:
        """Change some fields of the behaviour (ValueError when invalid); restarts the count."""
        unknown = set(changes) - {"error_rate", "latency_ms"}
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        with self._lock:
            new = Behaviour(**{**asdict(self._behaviour), **changes})
            self._behaviour, self._rate, self._served = new, _fraction(new.error_rate), 0
            return new

    def next_request(self) -> tuple[bool, float]:
        """Whether the next served request fails, and its added latency in seconds."""
        with self._lock:
            self._served += 1
            n, rate = self._served, self._rate
            fail = math.floor(n * rate) > math.floor((n - 1) * rate)
            return fail, self._behaviour.latency_ms / 1000


def _fraction(rate: float) -> Fraction:
    # 0.1 as 1/10, not as the binary float just above it: every 10th request exactly.
    return Fraction(rate).limit_denominator(1_000_000)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class Handler(BaseHTTPRequestHandler):
    server: DemoServer
    protocol_version = "HTTP/1.1"  # keep-alive: a load generator reuses its connections
    disable_nagle_algorithm = True  # else each small answer waits ~40 ms for a delayed ACK
    timeout = 30  # an idle keep-alive connection is closed after this many seconds

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: at hundreds of requests per second it would only be noise."""

    # -- routing ----------------------------------------------------------------------------
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(HTTPStatus.OK, generate_latest(), CONTENT_TYPE_LATEST)
        elif path == "/admin/config":
            self._admin(change=False)
        else:
            self._serve("GET", path)

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/admin/config":
            self._admin(change=True)
        else:
            self._serve("POST", path)

    # -- the counted requests ---------------------------------------------------------------
    def _serve(self, method: str, path: str) -> None:
        started = time.perf_counter()
        self._drain_body()
        if method == "GET" and path in SERVED_PATHS:
            fail, delay = self.server.state.next_request()
            if delay:
                time.sleep(delay)
            status = HTTPStatus.INTERNAL_SERVER_ERROR if fail else HTTPStatus.OK
            body = b"injected error\n" if fail else b"ok\n"
            label = path
        elif path in SERVED_PATHS:
            status, body, label = HTTPStatus.METHOD_NOT_ALLOWED, b"method not allowed\n", path
        else:
            status, body, label = HTTPStatus.NOT_FOUND, b"not found\n", "other"
        # Counted before the answer is written: a client that has its answer and then reads
        # /metrics (another connection, another handler thread) must find it counted.
        DURATION.labels(method, label).observe(time.perf_counter() - started)
        REQUESTS.labels(str(int(status)), method, label).inc()
        self._send(status, body, "text/plain; charset=utf-8")

    # -- admin ------------------------------------------------------------------------------
    def _admin(self, change: bool) -> None:
        if not _is_loopback(self.client_address[0]):
            self._drain_body()
            self._json(HTTPStatus.FORBIDDEN, {"error": "the admin endpoint is for loopback only"})
            return
        state = self.server.state
        if change:
            raw = self._drain_body()
            try:
                doc = json.loads(raw or b"{}")
                if not isinstance(doc, dict):
                    raise ValueError("expected a JSON object")
                state.configure(**doc)
            except (ValueError, TypeError) as exc:
                self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
                return
        self._json(HTTPStatus.OK, {"version": state.version, **asdict(state.behaviour)})

    # -- plumbing ---------------------------------------------------------------------------
    def _drain_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            self.close_connection = True
            return b""
        return self.rfile.read(length) if length > 0 else b""

    def _json(self, status: HTTPStatus, doc: dict[str, Any]) -> None:
        self._send(status, (json.dumps(doc) + "\n").encode(), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class DemoServer(ThreadingHTTPServer):
    daemon_threads = True  # open keep-alive connections never delay the exit

    def __init__(self, address: tuple[str, int], state: State) -> None:
        super().__init__(address, Handler)
        self.state = state


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--host", default=env("DEMO_HOST", "127.0.0.1"), help="address to bind [DEMO_HOST]"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(env("DEMO_PORT", "8080")),
        help="port; 0 picks a free one [DEMO_PORT]",
    )
    parser.add_argument(
        "--version", default=env("DEMO_VERSION", "0.0.0"), help="reported in demo_build_info"
    )
    parser.add_argument(
        "--error-rate",
        type=float,
        default=float(env("DEMO_ERROR_RATE", "0")),
        help="fraction 0..1 of requests answered 500, deterministically [DEMO_ERROR_RATE]",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=float(env("DEMO_LATENCY_MS", "0")),
        help="delay added to each request, in ms [DEMO_LATENCY_MS]",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        behaviour = Behaviour(error_rate=args.error_rate, latency_ms=args.latency_ms)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    state = State(args.version, behaviour)
    BUILD_INFO.labels(args.version).set(1)
    for path in SERVED_PATHS:  # the series an error-rate query divides exist from the start
        DURATION.labels("GET", path)
        for code in ("200", "500"):
            REQUESTS.labels(code, "GET", path)

    server = DemoServer((args.host, args.port), state)

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever() to return: call it from another thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
