"""A SYNTHETIC Prometheus query API beside the sandbox: made-up numbers, for rehearsals only.

``ci-deploy sandbox serve --synthetic-prometheus PORT`` (``running_sandbox(...,
synthetic_prometheus=True)`` in tests) serves it on plain HTTP at 127.0.0.1:PORT, so that a
machine without Prometheus can rehearse a canary judged, and rolled back, on metrics. **Nothing
it answers is measured**: no app is scraped, no PromQL is evaluated. Tests of real metrics use a
real Prometheus, never this.

Endpoints (GET, or POST with a form body, as Prometheus takes them):

- ``/api/v1/query`` (``query``, optional ``time``): ``{"status": "success", "data":
  {"resultType": "vector", "result": [{"metric": {...}, "value": [<time>, "<value>"]}]}}``
  with one sample, or an empty ``result`` when no pod matches (no data);
- ``/api/v1/query_range`` (``query``, ``start``, ``end``, ``step``): a ``matrix`` with the
  same value at every step from ``start`` to ``end``;
- ``/-/ready`` and ``/-/healthy``: 200.

A query it does not understand is HTTP 400 ``{"status": "error", "errorType": "bad_data",
"error": "..."}``. Every response carries the header ``X-Synthetic-Prometheus: not real
metrics``, and every sample the label ``synthetic="true"`` (besides the ``namespace``, ``app``,
``track`` and ``color`` it matched), so that nobody mistakes these numbers for measurements.

How a query is "understood" (by pattern, not by evaluating it):

1. **Which pods.** The label matchers ``namespace="…"``, ``app="…"`` (or ``label_app="…"``,
   ``label_app_kubernetes_io_name="…"``), ``track="…"`` (or
   ``label_ci_deploy_dev_track="…"``) and ``color="…"`` (or ``label_ci_deploy_dev_color``,
   blue-green's) are read from anywhere in the text; only equality matchers count, and one
   label given two different values is bad_data. ``app`` is required, ``namespace``,
   ``track`` and ``color`` narrow the pods when given. The pods are the sandbox's running,
   Ready, not terminating pods labelled ``app.kubernetes.io/name`` (what ci-deploy's templates
   put on pods) or ``app`` = the app, ``ci-deploy.dev/track`` = the track and
   ``ci-deploy.dev/color`` = the colour.
2. **Which metric**, by what the query mentions, first match wins:
   ``histogram_quantile`` → the p95 in seconds (whatever the quantile asked);
   ``http_requests_total`` with a ``code=~"5…"`` matcher → the error percentage (0-100);
   ``container_cpu_usage_seconds_total`` → CPU percent of the limit;
   ``container_memory_working_set_bytes`` → memory percent of the limit;
   ``increase(http_requests_total`` → the requests in its range (``[1m]``), and
   ``rate(`` / ``irate(http_requests_total`` → requests per second. Anything else is bad_data.
3. **Which value**, from the tag of the pods' image (after the last ``:``; the first container
   whose tag means something here): ``errors-<N>pct`` → N % errors, ``slow-<N>ms`` → p95
   N/1000 s, ``cpu-<N>pct``, ``mem-<N>pct``, ``no-traffic`` → no data (an empty result for
   every metric). Any other tag is healthy: 0 % errors, p95 0.05 s, CPU 20 %, memory 30 %,
   1000 requests a minute. One behaviour per tag. Pods of one image give that image's value;
   pods of several (no ``track`` matcher) give the mean over those with traffic.

(``slow`` is also a kubelet word: an image tagged ``slow-800ms`` becomes Ready after 10× the
pod-ready delay, as ``:slow`` does.)
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kube_sandbox.apiserver.access import loopback_host_header
from kube_sandbox.controllers.replicaset import pod_ready
from kube_sandbox.storage.store import Store

log = logging.getLogger("kube_sandbox")

Obj = dict[str, Any]

SYNTHETIC_HEADER = "X-Synthetic-Prometheus"
SYNTHETIC_HEADER_VALUE = "not real metrics"
MAX_POINTS = 11_000  # Prometheus' own limit per series of a range query
PODS = "/pods"
APP_LABELS = ("app.kubernetes.io/name", "app")
TRACK_LABEL = "ci-deploy.dev/track"
COLOR_LABEL = "ci-deploy.dev/color"
_MATCHER_NAMES = {
    "namespace": "namespace",
    "app": "app",
    "label_app": "app",
    "label_app_kubernetes_io_name": "app",
    "track": "track",
    "label_ci_deploy_dev_track": "track",
    "color": "color",
    "label_ci_deploy_dev_color": "color",
}
_MATCHER = re.compile(
    r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*"
    r"(?:\"(?P<dq>(?:[^\"\\]|\\.)*)\"|'(?P<sq>(?:[^'\\]|\\.)*)')"
)
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 604800,
    "y": 31536000,
}
_INCREASE = re.compile(r"\bincrease\s*\(\s*http_requests_total\b")
_RATE = re.compile(r"\bi?rate\s*\(\s*http_requests_total\b")
_REQUESTS_RANGE = re.compile(r"\bhttp_requests_total\s*(?:\{[^}]*\})?\s*\[\s*([0-9a-z]+)\s*\]")
_TAG_NUMBER = re.compile(r"^(errors|slow|cpu|mem)-(\d+(?:\.\d+)?)(pct|ms)$")
_UNDERSTOOD = (
    "it answers, by pattern, histogram_quantile(...) (p95), http_requests_total with "
    'code=~"5.." (error %), container_cpu_usage_seconds_total (CPU % of limit), '
    "container_memory_working_set_bytes (memory % of limit) and increase/rate("
    'http_requests_total...) (requests), with matchers app="..." (or label_app) and '
    'optionally namespace="...", track="..." (or label_ci_deploy_dev_track) and color="..."'
    " (or label_ci_deploy_dev_color)"
)


class QueryError(ValueError):
    """A query or parameter the synthetic Prometheus cannot answer (HTTP 400, bad_data)."""


@dataclass(frozen=True)
class Behaviour:
    """The synthetic numbers of one image."""

    error_percent: float = 0.0
    p95_seconds: float = 0.05
    cpu_percent: float = 20.0
    memory_percent: float = 30.0
    requests_per_minute: float = 1000.0


HEALTHY = Behaviour()


def image_tag(image: str) -> str:
    """The tag of an image reference: after the last ``:`` of its last path part ('' if none)."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else ""


def tag_behaviour(tag: str) -> Behaviour | None:
    """The numbers a tag asks for; None for ``no-traffic`` (no data), HEALTHY by default."""
    if tag == "no-traffic":
        return None
    found = _TAG_NUMBER.match(tag)
    if found is None:
        return HEALTHY
    kind, number, unit = found.group(1), float(found.group(2)), found.group(3)
    if kind == "errors" and unit == "pct":
        return Behaviour(error_percent=number)
    if kind == "slow" and unit == "ms":
        return Behaviour(p95_seconds=number / 1000)
    if kind == "cpu" and unit == "pct":
        return Behaviour(cpu_percent=number)
    if kind == "mem" and unit == "pct":
        return Behaviour(memory_percent=number)
    return HEALTHY


def pod_behaviour(pod: Obj) -> Behaviour | None:
    """The behaviour of the first container whose tag means something; else HEALTHY."""
    for container in (pod.get("spec") or {}).get("containers") or []:
        behaviour = tag_behaviour(image_tag(str(container.get("image") or "")))
        if behaviour is not HEALTHY:
            return behaviour
    return HEALTHY


@dataclass(frozen=True)
class Understood:
    """What a query asks, as far as the synthetic Prometheus reads it."""

    metric: str  # p95_seconds | error_percent | cpu_percent | memory_percent | requests | rate
    namespace: str | None
    app: str
    track: str | None
    window_seconds: float = 60.0
    color: str | None = None  # blue-green's ci-deploy.dev/color

    def labels(self) -> dict[str, str]:
        """The labels of the synthetic sample: what was matched, and ``synthetic="true"``."""
        shown = {
            "namespace": self.namespace,
            "app": self.app,
            "track": self.track,
            "color": self.color,
        }
        return {"synthetic": "true", **{k: v for k, v in shown.items() if v is not None}}


def parse_duration(text: str) -> float:
    """Seconds of a PromQL duration (``1m``, ``90s``, ``1m30s``) or a number of seconds."""
    try:
        seconds = float(text)
    except ValueError:
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise QueryError(f"cannot parse {text[:50]!r} to a valid duration") from None
        return sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)
    if not math.isfinite(seconds):
        raise QueryError(f"cannot parse {text[:50]!r} to a valid duration")
    return seconds


def parse_time(text: str, name: str) -> float:
    """A Prometheus timestamp parameter: Unix seconds or RFC 3339."""
    try:
        value = float(text)
        if math.isfinite(value):
            return value
    except ValueError:
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    raise QueryError(f'invalid parameter "{name}": cannot parse {text[:50]!r} to a valid timestamp')


def understand(query: str) -> Understood:
    """Read a query's pods and metric by pattern (the module docstring); QueryError if not."""
    if not query.strip():
        raise QueryError('invalid parameter "query": no expression found in input')
    wanted: dict[str, str] = {}
    for found in _MATCHER.finditer(query):
        key = _MATCHER_NAMES.get(found.group("name"))
        if key is None or found.group("op") != "=":
            continue
        value = found.group("dq") if found.group("dq") is not None else found.group("sq")
        if wanted.setdefault(key, value) != value:
            raise QueryError(
                f"synthetic Prometheus: the query names two {key}s ({wanted[key]!r} and "
                f"{value!r}); it answers for one set of pods"
            )
    metric = _metric_of(query)
    if metric is None:
        raise QueryError(f"synthetic Prometheus does not understand this query: {_UNDERSTOOD}")
    if "app" not in wanted:
        raise QueryError(
            'synthetic Prometheus: the query has no app="..." (or label_app="...") matcher, '
            f"so it matches no pods of an app: {_UNDERSTOOD}"
        )
    window = 60.0
    if metric in ("requests", "rate"):
        ranged = _REQUESTS_RANGE.search(query)
        if ranged is not None:
            window = parse_duration(ranged.group(1))
    return Understood(
        metric,
        wanted.get("namespace"),
        wanted["app"],
        wanted.get("track"),
        window,
        color=wanted.get("color"),
    )


def _metric_of(query: str) -> str | None:
    if "histogram_quantile" in query:
        return "p95_seconds"
    five_xx = any(
        m.group("name") == "code"
        and m.group("op") == "=~"
        and (m.group("dq") or m.group("sq") or "").startswith("5")
        for m in _MATCHER.finditer(query)
    )
    if five_xx and "http_requests_total" in query:
        return "error_percent"
    if "container_cpu_usage_seconds_total" in query:
        return "cpu_percent"
    if "container_memory_working_set_bytes" in query:
        return "memory_percent"
    if _INCREASE.search(query):
        return "requests"
    if _RATE.search(query):
        return "rate"
    return None


def matching_pods(store: Store, asked: Understood) -> list[Obj]:
    """The running, Ready, not terminating pods of the app (and namespace, track, colour)
    asked."""

    def matches(pod: Obj) -> bool:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        if meta.get("deletionTimestamp") or (pod.get("status") or {}).get("phase") != "Running":
            return False
        if not any(labels.get(key) == asked.app for key in APP_LABELS):
            return False
        if asked.track is not None and labels.get(TRACK_LABEL) != asked.track:
            return False
        if asked.color is not None and labels.get(COLOR_LABEL) != asked.color:
            return False
        return pod_ready(pod)

    pods, _ = store.list(PODS, asked.namespace, matches, shared=True)
    return pods


def synthetic_value(asked: Understood, pods: list[Obj]) -> float | None:
    """The made-up value of ``asked`` for these pods; None for no data."""
    behaviours = [b for b in (pod_behaviour(p) for p in pods) if b is not None]
    if not behaviours:
        return None

    def mean(read: Callable[[Behaviour], float]) -> float:
        return sum(read(b) for b in behaviours) / len(behaviours)

    per_minute = mean(lambda b: b.requests_per_minute)
    if asked.metric == "requests":
        return per_minute * asked.window_seconds / 60
    if asked.metric == "rate":
        return per_minute / 60
    reads: dict[str, Callable[[Behaviour], float]] = {
        "p95_seconds": lambda b: b.p95_seconds,
        "error_percent": lambda b: b.error_percent,
        "cpu_percent": lambda b: b.cpu_percent,
        "memory_percent": lambda b: b.memory_percent,
    }
    return mean(reads[asked.metric])


def sample_text(value: float) -> str:
    """A sample value as Prometheus writes it: ``10``, ``0.05``, ``16.666666666666668``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _timestamp(value: float) -> float:
    return round(value, 3)


def instant(store: Store, params: dict[str, str], now: float) -> Obj:
    """The ``data`` of ``/api/v1/query``; QueryError for what it cannot answer."""
    asked = understand(params.get("query", ""))
    at = parse_time(params["time"], "time") if params.get("time") else now
    value = synthetic_value(asked, matching_pods(store, asked))
    result = (
        []
        if value is None
        else [{"metric": asked.labels(), "value": [_timestamp(at), sample_text(value)]}]
    )
    return {"resultType": "vector", "result": result}


def ranged(store: Store, params: dict[str, str]) -> Obj:
    """The ``data`` of ``/api/v1/query_range``: the same value at every step."""
    for name in ("start", "end", "step"):
        if not params.get(name):
            raise QueryError(f'invalid parameter "{name}": missing')
    start = parse_time(params["start"], "start")
    end = parse_time(params["end"], "end")
    if end < start:
        raise QueryError('invalid parameter "end": end timestamp must not be before start time')
    try:
        step = parse_duration(params["step"])
    except QueryError as exc:
        raise QueryError(f'invalid parameter "step": {exc}') from None
    if step <= 0:
        raise QueryError(
            "zero or negative query resolution step widths are not accepted. Try a positive integer"
        )
    if (end - start) / step > MAX_POINTS:
        raise QueryError(
            "exceeded maximum resolution of 11,000 points per timeseries. "
            "Try decreasing the query resolution (?step=XX)"
        )
    asked = understand(params.get("query", ""))
    value = synthetic_value(asked, matching_pods(store, asked))
    if value is None:
        return {"resultType": "matrix", "result": []}
    count = int((end - start) // step) + 1
    text = sample_text(value)
    values = [[_timestamp(start + i * step), text] for i in range(count)]
    return {"resultType": "matrix", "result": [{"metric": asked.labels(), "values": values}]}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    store: Store

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (BrokenPipeError, ConnectionResetError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _HTTPServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        if not loopback_host_header(self.headers.get("Host") or ""):
            self._send(403, "text/plain; charset=utf-8", b"Host is not a loopback name\n")
            return
        if self.headers.get("Origin") is not None:
            self._send(403, "text/plain; charset=utf-8", b"requests from web pages are refused\n")
            return
        parts = urlsplit(self.path)
        params = _form(parts.query)
        ctype = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if self.command == "POST" and ctype == "application/x-www-form-urlencoded":
            for key, value in _form(body.decode("utf-8", "replace")).items():
                params.setdefault(key, value)
        if parts.path in ("/-/ready", "/-/healthy"):
            what = "Ready" if parts.path == "/-/ready" else "Healthy"
            text = f"Synthetic Prometheus (ci-deploy sandbox, not real metrics) is {what}.\n"
            self._send(200, "text/plain; charset=utf-8", text.encode())
        elif parts.path in ("/api/v1/query", "/api/v1/query_range"):
            self._answer(parts.path, params)
        else:
            self._send(404, "text/plain; charset=utf-8", b"404 page not found\n")

    def _answer(self, path: str, params: dict[str, str]) -> None:
        try:
            if path == "/api/v1/query":
                data = instant(self.server.store, params, time.time())
            else:
                data = ranged(self.server.store, params)
        except QueryError as exc:
            error = {"status": "error", "errorType": "bad_data", "error": str(exc)}
            self._json(400, error)
            return
        except Exception:  # a bug answers 500 in Prometheus' shape, never a dropped connection
            log.exception("synthetic Prometheus: %s failed", path)
            self._json(500, {"status": "error", "errorType": "internal", "error": "internal"})
            return
        self._json(200, {"status": "success", "data": data})

    def _json(self, code: int, doc: Obj) -> None:
        self._send(code, "application/json", json.dumps(doc, separators=(",", ":")).encode())

    def _send(self, code: int, ctype: str, payload: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header(SYNTHETIC_HEADER, SYNTHETIC_HEADER_VALUE)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("synthetic Prometheus: %s - %s", self.address_string(), format % args)


def _form(text: str) -> dict[str, str]:
    """The first value of each parameter (as Prometheus' FormValue reads them)."""
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


class SyntheticPrometheus:
    """The synthetic query API on 127.0.0.1:``port`` (0: a free one), over ``store``'s pods.

    Binds in the constructor (OSError when the port is taken); ``start()`` serves on a
    thread, ``stop()`` ends it.
    """

    HOST = "127.0.0.1"

    def __init__(self, store: Store, port: int = 0) -> None:
        self.httpd = _HTTPServer((self.HOST, port), _Handler)
        self.httpd.store = store
        self.port = int(self.httpd.server_address[1])
        self.url = f"http://{self.HOST}:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve on a background thread."""
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sandbox-synthetic-prometheus",
            daemon=True,
        )
        self._thread.start()
        log.info("sandbox: synthetic Prometheus (not real metrics) at %s", self.url)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.server_close()
