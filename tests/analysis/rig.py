"""A canary-analysis rig on real things: demo service processes, a real Prometheus, real traffic.

- :class:`DemoProcess`: ``examples/demo-service/app.py`` in a subprocess on ``127.0.0.1`` (a free
  port it picks itself), its behaviour changed live (:meth:`DemoProcess.configure`), stopped by
  PID (SIGTERM, then SIGKILL).
- :class:`PrometheusServer`: the machine's ``prometheus`` (Debian 2.42) scraping given targets
  every 250 ms, with the labels a Kubernetes scrape job gives pods (:func:`track_labels`);
  instant queries and bounded waits for samples and values. Stopped by PID.
- :class:`TrafficDriver`: the data plane. A thread sends GETs at a bounded rate to the tracks'
  URLs, split by ``weights()`` (re-read every 100 ms) with a smooth weighted round robin, so the
  split is exact rather than random; counts per track and per weights "segment".
- :func:`replicas_router_weights`: the split the ``replicas`` router gives in the sandbox
  cluster (traffic follows the Ready pods of the app's Deployments), as ``weights()`` wants it.

Everything binds or talks to loopback only and is bounded in time and count
(ENVIRONMENT.md §0, §9). The first sample of a fresh Prometheus lands ~5 s after its start,
whatever the scrape interval: start one per module, not per test.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import queue
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import yaml
from prometheus_client.parser import text_string_to_metric_families

from ci_deploy.kube.client import DEPLOYMENT, KubeClient

REPO = Path(__file__).resolve().parents[2]
DEMO_APP = REPO / "examples" / "demo-service" / "app.py"
LOOPBACK = "127.0.0.1"

# The labels the documented Kubernetes scrape job gives a pod's series (examples/demo-service
# /README.md): the namespace, the pod's app.kubernetes.io/name and its ci-deploy.dev/track.
NAMESPACE = "web-app-prod"
APP = "web-app"
TRACKS = ("stable", "canary", "baseline")

PROMETHEUS_INSTALL = (
    "apt-get install -y --no-install-recommends prometheus (scripts/setup.d/40-prometheus.sh)"
)

T = TypeVar("T")


# -- small helpers ---------------------------------------------------------------------------
def free_port() -> int:
    """A port free on loopback now. Another program may take it before it is bound: callers
    that bind it in another process retry with a new one (PrometheusServer does)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def wait_until(
    check: Callable[[], T | None], *, timeout: float, interval: float = 0.05, what: str = ""
) -> T:
    """Poll ``check`` until it returns something truthy, and return that; AssertionError
    (naming ``what`` and the last value) when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what or 'condition'} not met in {timeout}s (last: {last!r})")
        time.sleep(interval)


def http_request(
    method: str, url: str, body: Any = None, *, timeout: float = 5.0
) -> tuple[int, bytes]:
    """One request; the status and the body, whatever the status (no exception for a 500)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), bytes(exc.read())


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _stop_process(proc: subprocess.Popen[Any], grace: float) -> int | None:
    """SIGTERM the process by its PID, SIGKILL it after ``grace`` seconds; its exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
    return proc.returncode


# -- the demo service ------------------------------------------------------------------------
class DemoProcess:
    """One demo service process (``examples/demo-service/app.py``) on a loopback port.

    ``with DemoProcess("1.1.0", log_dir=tmp) as canary: ...``, or ``.start()`` / ``.stop()``.
    Its stderr (and anything after the ``listening on PORT`` line) goes to ``.log``.
    """

    def __init__(
        self,
        version: str,
        *,
        error_rate: float = 0.0,
        latency_ms: float = 0.0,
        log_dir: Path,
        python: str = sys.executable,
        start_timeout: float = 10.0,
    ) -> None:
        self.version = version
        self.log = log_dir / f"demo-{version}-{id(self):x}.log"
        self._argv = [
            python,
            str(DEMO_APP),
            "--host",
            LOOPBACK,
            "--port",
            "0",
            "--version",
            version,
            "--error-rate",
            repr(float(error_rate)),
            "--latency-ms",
            repr(float(latency_ms)),
        ]
        self._start_timeout = start_timeout
        self._proc: subprocess.Popen[str] | None = None
        self._log_file: IO[str] | None = None
        self.port = 0

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> DemoProcess:
        if self._proc is not None:
            raise RuntimeError("already started")
        self._log_file = self.log.open("a")
        self._proc = subprocess.Popen(
            self._argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            text=True,
            cwd=DEMO_APP.parent,
        )
        try:
            self.port = self._read_port(self._proc)
        except BaseException:
            self.stop()
            raise
        return self

    def _read_port(self, proc: subprocess.Popen[str]) -> int:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], self._start_timeout)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("listening on "):
            proc.poll()
            raise RuntimeError(
                f"demo service {self.version} did not start (exit {proc.returncode}, first line"
                f" {line!r}); log:\n{_log_tail(self.log)}"
            )
        # Nothing else is printed on stdout, but should it be, it must never fill the pipe.
        threading.Thread(target=self._drain, args=(proc.stdout,), daemon=True).start()
        return int(line.split()[-1])

    def _drain(self, stream: IO[str]) -> None:
        with contextlib.suppress(ValueError, OSError):
            for line in stream:
                if self._log_file is not None and not self._log_file.closed:
                    self._log_file.write(line)

    def stop(self, grace: float = 5.0) -> int | None:
        """Stop by PID (SIGTERM, SIGKILL after ``grace`` s); the exit code (0 on a clean stop).
        Idempotent."""
        code = None
        if self._proc is not None:
            code = _stop_process(self._proc, grace)
            if self._proc.stdout is not None:
                self._proc.stdout.close()
        if self._log_file is not None:
            self._log_file.close()
        return code

    def __enter__(self) -> DemoProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses --------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        assert self._proc is not None, "not started"
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``, as a scrape target."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    # -- talking to it ----------------------------------------------------------------------
    def configure(
        self, *, error_rate: float | None = None, latency_ms: float | None = None
    ) -> dict[str, Any]:
        """Change the behaviour live (``POST /admin/config``); the new configuration. The
        deterministic error sequence restarts: at 0.1 the 10th request from now fails."""
        changes: dict[str, float] = {}
        if error_rate is not None:
            changes["error_rate"] = error_rate
        if latency_ms is not None:
            changes["latency_ms"] = latency_ms
        status, body = http_request("POST", f"{self.url}/admin/config", changes)
        if status != 200:
            raise RuntimeError(f"configure {changes}: HTTP {status}: {body.decode()!r}")
        config: dict[str, Any] = json.loads(body)
        return config

    def config(self) -> dict[str, Any]:
        status, body = http_request("GET", f"{self.url}/admin/config")
        assert status == 200, body
        config: dict[str, Any] = json.loads(body)
        return config

    def get(self, path: str = "/") -> int:
        """One counted request; its status."""
        return http_request("GET", self.url + path)[0]

    def metrics(self) -> str:
        status, body = http_request("GET", f"{self.url}/metrics")
        assert status == 200, body
        return body.decode()

    def samples(self, name: str) -> list[tuple[dict[str, str], float]]:
        """The samples called ``name`` (``http_requests_total``,
        ``http_request_duration_seconds_bucket``…) in /metrics, with their labels."""
        return [
            (dict(sample.labels), float(sample.value))
            for family in text_string_to_metric_families(self.metrics())
            for sample in family.samples
            if sample.name == name
        ]

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples called ``name`` whose labels include ``labels``."""
        return sum(
            value
            for have, value in self.samples(name)
            if all(have.get(k) == v for k, v in labels.items())
        )


# -- Prometheus ------------------------------------------------------------------------------
def track_labels(track: str, *, namespace: str = NAMESPACE, app: str = APP) -> dict[str, str]:
    """The target labels the Kubernetes scrape job of the README gives a pod of ``track``."""
    return {"namespace": namespace, "app": app, "track": track}


@dataclass(frozen=True)
class ScrapeTarget:
    """One ``host:port`` Prometheus scrapes, and the labels its series get."""

    address: str
    labels: Mapping[str, str] = field(default_factory=dict)


def prometheus_binary() -> str:
    """``$CI_DEPLOY_PROMETHEUS`` (set by scripts/setup.d/40-prometheus.sh), else ``prometheus``
    on PATH; AssertionError with the install command when there is none (a test needing it
    fails, it is never skipped)."""
    configured = os.environ.get("CI_DEPLOY_PROMETHEUS")
    found = configured or shutil.which("prometheus")
    if not found or not os.access(found, os.X_OK):
        where = f"CI_DEPLOY_PROMETHEUS={configured}" if configured else "no prometheus on PATH"
        raise AssertionError(f"{where}: install it with {PROMETHEUS_INSTALL}")
    return found


class PrometheusError(RuntimeError):
    """A query Prometheus refused (bad PromQL) or could not answer."""


class PrometheusServer:
    """A real Prometheus on a free loopback port scraping ``targets`` (job ``job``).

    ``start()`` returns once ``/-/ready`` answers (0.1 s); samples come ~5 s later
    (:meth:`wait_for_samples`). ``timings`` records what was observed (seconds since start).
    """

    def __init__(
        self,
        targets: Sequence[ScrapeTarget],
        *,
        workdir: Path,
        scrape_interval: str = "250ms",
        job: str = "demo",
        binary: str | None = None,
        ready_timeout: float = 15.0,
    ) -> None:
        self.workdir = workdir
        self.config_file = workdir / "prom.yml"
        self.log = workdir / "prometheus.log"
        self.scrape_interval = scrape_interval
        self.job = job
        self.targets: tuple[ScrapeTarget, ...] = tuple(targets)
        self.binary = binary or prometheus_binary()
        self.ready_timeout = ready_timeout
        self.port = 0
        self.timings: dict[str, float] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._started = 0.0

    # -- configuration ----------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The configuration written to ``prom.yml``."""
        interval = self.scrape_interval
        return {
            "global": {
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "evaluation_interval": interval,
            },
            "scrape_configs": [
                {
                    "job_name": self.job,
                    "static_configs": [
                        {"targets": [t.address], "labels": dict(t.labels)} for t in self.targets
                    ],
                }
            ],
        }

    def _write_config(self) -> None:
        tmp = self.config_file.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        tmp.replace(self.config_file)

    # -- life cycle -------------------------------------------------------------------------
    def start(self, attempts: int = 3) -> PrometheusServer:
        """Start on a free port (another one when that port was taken meanwhile)."""
        if self._proc is not None:
            raise RuntimeError("already started")
        self._write_config()
        problem = ""
        for _ in range(attempts):
            problem = self._start_once(free_port())
            if not problem:
                return self
        raise RuntimeError(f"prometheus did not start: {problem}")

    def _start_once(self, port: int) -> str:
        tsdb = self.workdir / f"tsdb-{port}"
        tsdb.mkdir(parents=True, exist_ok=True)
        argv = [
            self.binary,
            f"--config.file={self.config_file}",
            f"--web.listen-address={LOOPBACK}:{port}",
            f"--storage.tsdb.path={tsdb}",
            "--log.level=warn",
        ]
        with self.log.open("ab") as log:
            self._started = time.monotonic()
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.workdir
            )
        self._proc, self.port = proc, port
        deadline = self._started + self.ready_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self._proc = None
                return f"exit {proc.returncode}; log:\n{_log_tail(self.log)}"
            with contextlib.suppress(OSError, http.client.HTTPException):
                if http_request("GET", f"{self.url}/-/ready", timeout=1)[0] == 200:
                    self.timings["ready"] = time.monotonic() - self._started
                    return ""
            time.sleep(0.02)
        _stop_process(proc, 5)
        self._proc = None
        return f"/-/ready not 200 within {self.ready_timeout}s; log:\n{_log_tail(self.log)}"

    def stop(self, grace: float = 10.0) -> int | None:
        """Stop by PID (SIGTERM, SIGKILL after ``grace`` s). Idempotent."""
        if self._proc is None:
            return None
        return _stop_process(self._proc, grace)

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self._proc is not None, "not started"
        return self._proc.pid

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def elapsed(self) -> float:
        """Seconds since the process started."""
        return time.monotonic() - self._started

    def set_targets(self, targets: Sequence[ScrapeTarget], timeout: float = 15.0) -> None:
        """Scrape ``targets`` instead: rewrite prom.yml, reload (SIGHUP to the PID) and wait
        until Prometheus lists exactly them as active targets. Their first samples come later
        (up to the 5 s tick again): :meth:`wait_for_samples`."""
        self.targets = tuple(targets)
        self._write_config()
        os.kill(self.pid, signal.SIGHUP)
        wanted = sorted(t.address for t in self.targets)

        def listed() -> bool:
            doc = self._api("/api/v1/targets", {"state": "active"})
            have = sorted(
                t["labels"].get("instance", "")
                for t in doc["activeTargets"]
                if t["labels"].get("job") == self.job
            )
            return have == wanted

        wait_until(listed, timeout=timeout, interval=0.05, what=f"targets {wanted} active")

    # -- queries ----------------------------------------------------------------------------
    def _api(self, path: str, params: Mapping[str, str]) -> Any:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            status, body = http_request("GET", url, timeout=5)
        except OSError as exc:
            raise PrometheusError(f"GET {path}: {exc}") from exc
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise PrometheusError(f"GET {path}: HTTP {status}, not JSON: {body[:200]!r}") from exc
        if status != 200 or doc.get("status") != "success":
            raise PrometheusError(f"GET {path} {dict(params)}: HTTP {status}: {doc.get('error')}")
        return doc["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query: the vector's elements (``{"metric": {...}, "value": [t, "v"]}``);
        a scalar result comes as one element without labels."""
        data = self._api("/api/v1/query", {"query": expr})
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def value(self, expr: str) -> float | None:
        """The value of a query whose result has at most one element (None when empty; it may
        be NaN, e.g. a ratio of two zero rates). PrometheusError for several elements."""
        result = self.query(expr)
        if not result:
            return None
        if len(result) > 1:
            raise PrometheusError(f"{expr}: {len(result)} series, expected one")
        return float(result[0]["value"][1])

    def values_by(self, expr: str, label: str) -> dict[str, float]:
        """The elements' values keyed by ``label`` (``sum by (track) (...)``)."""
        return {r["metric"].get(label, ""): float(r["value"][1]) for r in self.query(expr)}

    def wait_for_samples(self, expr: str = "up", timeout: float = 20.0) -> list[dict[str, Any]]:
        """Poll ``expr`` until its result is non-empty (ENVIRONMENT.md §9: ~5.1 s after start
        for a first ``up``, ~5.4 s for a ``rate(…[2s])``); the result."""
        result = wait_until(
            lambda: self.query(expr), timeout=timeout, interval=0.05, what=f"samples of {expr}"
        )
        self.timings.setdefault(f"samples: {expr}", self.elapsed())
        return result

    def scrapes(self) -> int:
        """Scrapes so far of the least-scraped target of the job (0 before the first)."""
        counted = self.value(f'min(count_over_time(up{{job="{self.job}"}}[1h]))')
        return 0 if counted is None or math.isnan(counted) else int(counted)

    def wait_for_scrapes(self, n: int = 2, timeout: float = 20.0) -> int:
        """Wait until every target has been scraped ``n`` more times; the count reached."""
        target = self.scrapes() + n
        return wait_until(
            lambda: (lambda have: have if have >= target else None)(self.scrapes()),
            timeout=timeout,
            what=f"{n} more scrapes",
        )

    def wait_for_value(
        self,
        expr: str,
        predicate: Callable[[float], bool],
        *,
        timeout: float = 15.0,
        what: str = "",
    ) -> float:
        """Poll ``expr`` (one element) until ``predicate(value)`` holds; that value. The
        AssertionError names the last value seen (None: no data)."""
        seen: list[float | None] = []

        def check() -> float | None:
            value = self.value(expr)
            seen.append(value)
            return value if value is not None and predicate(value) else None

        deadline = time.monotonic() + timeout
        while True:
            found = check()
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{what or expr}: not met within {timeout}s; last values {seen[-5:]}"
                )
            time.sleep(0.05)


# -- traffic ---------------------------------------------------------------------------------
Weights = Mapping[str, float]


@dataclass
class Segment:
    """A stretch of traffic under one set of weights: what was asked and what was sent."""

    weights: dict[str, float]
    started: float  # time.monotonic()
    ended: float | None = None
    sent: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.sent.values())

    def shares(self) -> dict[str, float]:
        """Percent of this segment's requests per track (the weights' tracks included)."""
        total = self.total
        return {t: 100 * self.sent[t] / total if total else 0.0 for t in self.weights}


def _same_weights(a: Weights, b: Weights) -> bool:
    """The same tracks with the same weights, to rounding (400 / 6 and 100 * 4 / 6)."""
    return a.keys() == b.keys() and all(math.isclose(a[t], b[t], rel_tol=1e-9) for t in a)


class WeightedRoundRobin:
    """Smooth weighted round robin (nginx's): deterministic, and over any prefix of the picks
    each track's count is within one pick of its exact share."""

    def __init__(self, weights: Weights) -> None:
        self.weights = {t: float(w) for t, w in weights.items() if w > 0}
        self._current = dict.fromkeys(self.weights, 0.0)
        self._total = sum(self.weights.values())

    def pick(self) -> str | None:
        if not self.weights:
            return None
        for track, weight in self.weights.items():
            self._current[track] += weight
        chosen = max(self._current, key=lambda t: self._current[t])
        self._current[chosen] -= self._total
        return chosen


class TrafficDriver:
    """Bounded load on the tracks' URLs, split by ``weights()``.

    ``rate`` requests per second are dispatched (at most ``concurrency`` in flight: a slow
    track lowers the rate rather than piling requests up) until ``stop()``, ``max_seconds`` or
    ``max_requests``. ``weights()`` is re-read every ``weights_every`` seconds; each change
    starts a new :class:`Segment` and restarts the round robin, so each segment's split is exact
    to one request. Weights of 0 everywhere (or no data yet) send nothing. A track in the
    weights but not in ``urls`` stops the driver, and ``stop()`` raises it; so do
    ``max_weight_errors`` failures of ``weights()`` in a row (fewer keep the last weights).
    """

    def __init__(
        self,
        urls: Mapping[str, str],
        weights: Callable[[], Weights],
        *,
        rate: float = 100.0,
        max_seconds: float = 30.0,
        max_requests: int | None = None,
        concurrency: int = 32,
        path: str = "/",
        weights_every: float = 0.1,
        timeout: float = 5.0,
        max_weight_errors: int = 20,
    ) -> None:
        if not 0 < rate <= 1000:
            raise ValueError("rate must be in (0, 1000] requests per second")
        if not 0 < max_seconds <= 300:
            raise ValueError("max_seconds must be in (0, 300]")
        self.urls = {t: u.rstrip("/") for t, u in urls.items()}
        for url in self.urls.values():
            host = urllib.parse.urlsplit(url).hostname
            if host not in (LOOPBACK, "localhost", "::1"):
                raise ValueError(f"traffic goes to loopback only, not {url}")
        self._weights_fn = weights
        self.rate = rate
        self.max_seconds = max_seconds
        self.max_requests = max_requests if max_requests is not None else int(rate * max_seconds)
        self.concurrency = concurrency
        self.path = path
        self.weights_every = weights_every
        self.timeout = timeout
        self.max_weight_errors = max_weight_errors

        self.segments: list[Segment] = []
        self.statuses: dict[str, Counter[int]] = {t: Counter() for t in self.urls}
        self.failures: Counter[str] = Counter()  # requests without an HTTP answer, per track
        self.weight_errors = 0
        self.last_weight_error: BaseException | None = None
        self.fatal: BaseException | None = None

        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._slots = threading.BoundedSemaphore(concurrency)
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="traffic-driver", daemon=True)
        self._workers = [
            threading.Thread(target=self._work, name=f"traffic-{i}", daemon=True)
            for i in range(concurrency)
        ]

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> TrafficDriver:
        for worker in self._workers:
            worker.start()
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0, *, check: bool = True) -> dict[str, int]:
        """Stop dispatching, wait for the requests in flight, close the connections; the
        requests sent per track. Raises what stopped the driver early, if anything (unless
        ``check`` is false). Idempotent."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        if self._thread.is_alive():
            self._thread.join(timeout)
        for _ in self._workers:
            self._queue.put(None)  # after the requests queued: those are still sent
        for worker in self._workers:
            if worker.is_alive():
                worker.join(max(0.0, deadline - time.monotonic()))
        stuck = sum(w.is_alive() for w in self._workers)
        if stuck and check:
            raise RuntimeError(f"{stuck} traffic workers still busy after {timeout}s")
        if check and self.fatal is not None:
            raise RuntimeError(f"traffic driver stopped: {self.fatal}") from self.fatal
        return self.sent()

    def __enter__(self) -> TrafficDriver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    # -- what happened ----------------------------------------------------------------------
    def sent(self) -> dict[str, int]:
        """Requests dispatched per track, over all segments."""
        with self._lock:
            total: Counter[str] = Counter()
            for segment in self.segments:
                total.update(segment.sent)
            return {t: total[t] for t in self.urls}

    def answered(self) -> dict[str, Counter[int]]:
        """HTTP statuses received per track."""
        with self._lock:
            return {t: Counter(c) for t, c in self.statuses.items()}

    def current(self) -> Segment | None:
        with self._lock:
            return self.segments[-1] if self.segments else None

    def wait_for_segment(self, weights: Weights, requests: int, timeout: float = 15.0) -> Segment:
        """Wait until the current segment has ``weights`` (the non-zero ones) and at least
        ``requests`` requests; that segment."""
        wanted = {t: float(w) for t, w in weights.items() if w > 0}

        def check() -> Segment | None:
            with self._lock:
                seg = self.segments[-1] if self.segments else None
                ok = (
                    seg is not None and _same_weights(seg.weights, wanted) and seg.total >= requests
                )
            if self.fatal is not None:
                raise RuntimeError(f"traffic driver stopped: {self.fatal}")
            return seg if ok else None

        return wait_until(check, timeout=timeout, what=f"{requests} requests at {wanted}")

    # -- the dispatcher ---------------------------------------------------------------------
    def _read_weights(self, previous: dict[str, float] | None) -> dict[str, float] | None:
        try:
            raw = self._weights_fn()
        except Exception as exc:  # a transient failure keeps the last weights
            self.weight_errors += 1
            self.last_weight_error = exc
            if self.weight_errors >= self.max_weight_errors:
                raise RuntimeError(f"weights() failed {self.weight_errors} times: {exc}") from exc
            return previous
        self.weight_errors = 0
        weights = {str(t): float(w) for t, w in raw.items() if float(w) > 0}
        unknown = sorted(set(weights) - set(self.urls))
        if unknown:
            raise ValueError(f"weights for tracks without a URL: {unknown} (urls: {self.urls})")
        return weights

    def _run(self) -> None:
        try:
            self._dispatch()
        except BaseException as exc:
            self.fatal = exc
        finally:
            with self._lock:
                if self.segments and self.segments[-1].ended is None:
                    self.segments[-1].ended = time.monotonic()

    def _dispatch(self) -> None:
        started = time.monotonic()
        deadline = started + self.max_seconds
        interval = 1.0 / self.rate
        weights: dict[str, float] | None = None
        robin = WeightedRoundRobin({})
        next_read = next_send = started
        dispatched = 0
        while not self._stop.is_set() and dispatched < self.max_requests:
            now = time.monotonic()
            if now >= deadline:
                return
            if now >= next_read:
                new = self._read_weights(weights)
                next_read = time.monotonic() + self.weights_every
                if new is not None and new != weights:
                    weights, robin = new, WeightedRoundRobin(new)
                    with self._lock:
                        if self.segments:
                            self.segments[-1].ended = now
                        self.segments.append(Segment(dict(new), now))
            if not robin.weights or now < next_send:
                wake = min(next_read, next_send) if robin.weights else next_read
                self._stop.wait(max(0.0, min(wake, deadline) - time.monotonic()))
                continue
            # Never more than `concurrency` in flight: a slow track lowers the rate.
            while not self._slots.acquire(timeout=0.05):
                if self._stop.is_set() or time.monotonic() >= deadline:
                    return
            track = robin.pick()
            assert track is not None
            with self._lock:
                self.segments[-1].sent[track] += 1
            dispatched += 1
            self._queue.put(track)
            next_send += interval
            if next_send < time.monotonic() - interval:  # fell behind: no burst to catch up
                next_send = time.monotonic()

    def _work(self) -> None:
        conns: dict[str, http.client.HTTPConnection] = {}
        try:
            while True:
                track = self._queue.get()
                if track is None:
                    return
                try:
                    status = self._get(conns, track)
                except (OSError, http.client.HTTPException):
                    with self._lock:
                        self.failures[track] += 1
                else:
                    with self._lock:
                        self.statuses[track][status] += 1
                finally:
                    self._slots.release()
        finally:
            for conn in conns.values():
                conn.close()

    def _get(self, conns: dict[str, http.client.HTTPConnection], track: str) -> int:
        """One GET on this worker's keep-alive connection to ``track``, reconnecting once (the
        server may have closed an idle one)."""
        parts = urllib.parse.urlsplit(self.urls[track])
        for attempt in (1, 2):
            conn = conns.get(track)
            if conn is None:
                conn = http.client.HTTPConnection(
                    parts.hostname or LOOPBACK, parts.port, timeout=self.timeout
                )
                conns[track] = conn
            try:
                conn.request("GET", parts.path + self.path)
                response = conn.getresponse()
                response.read()
                return int(response.status)
            except (OSError, http.client.HTTPException):
                conn.close()
                del conns[track]
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


# -- the replicas router, read from the sandbox cluster --------------------------------------
def _ready_replicas(deployment: Mapping[str, Any] | None) -> int:
    if deployment is None or deployment.get("metadata", {}).get("deletionTimestamp"):
        return 0  # a Deployment being deleted: its pods are leaving the Service's endpoints
    return int((deployment.get("status") or {}).get("readyReplicas") or 0)


def replicas_router_weights(client: KubeClient, namespace: str, app: str) -> dict[str, float]:
    """What a Service in front of the ``replicas`` router sends to each track, in percent:
    each track's share of the Ready replicas of Deployments ``<app>`` (stable),
    ``<app>-canary`` and ``<app>-baseline`` (the key only when that Deployment exists). All
    zero when nothing is Ready. ``client``: a KubeClient for the sandbox (``connect(kubeconfig)``,
    as tests/commands/conftest.py makes it; TLS and token come with the kubeconfig)."""
    names = {"stable": app, "canary": f"{app}-canary", "baseline": f"{app}-baseline"}
    ready: dict[str, int] = {}
    for track, name in names.items():
        deployment = client.get_or_none(DEPLOYMENT.path(namespace, name))
        if deployment is None and track == "baseline":
            continue
        ready[track] = _ready_replicas(deployment)
    total = sum(ready.values())
    return {t: 100 * n / total if total else 0.0 for t, n in ready.items()}


def run_ci_deploy(
    config: Path, kubeconfig: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """``python -m ci_deploy -c CONFIG ARGS`` the way a user's shell runs it: the CI
    platforms' variables of this test process left out, the sandbox's kubeconfig, ``env``
    added; never a traceback."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "GITLAB_", "CI_", "RUNNER_")) and k != "CI"
    }
    result = subprocess.run(
        [sys.executable, "-m", "ci_deploy", "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=config.parent,
        env={**clean, "KUBECONFIG": str(kubeconfig), **env},
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def canary_config(
    stages: list[dict[str, Any]],
    triggers: list[dict[str, str]],
    analysis: dict[str, Any],
    *,
    image: str = "registry.example.com/acme/web-app",
) -> dict[str, Any]:
    """A ci-deploy.yml (as data) for the rig's app: 4 stable pods in NAMESPACE, a canary with
    the ``replicas`` router (the split :func:`replicas_router_weights` reads), these stages,
    rollback triggers and ``analysis`` block."""
    return {
        "app": APP,
        "image": {"repository": image},
        "environments": {
            "production": {
                "namespace": NAMESPACE,
                "create_namespace": True,
                "replicas": 4,
                "strategy": "canary",
            }
        },
        "canary": {"traffic_router": "replicas", "stages": stages, "rollback_triggers": triggers},
        "analysis": analysis,
    }


# -- a stable and a canary -------------------------------------------------------------------
@dataclass
class DemoPair:
    """A stable and a canary demo process (versions ``1.0.0`` and ``1.1.0`` by default)."""

    stable: DemoProcess
    canary: DemoProcess

    @property
    def tracks(self) -> dict[str, DemoProcess]:
        return {"stable": self.stable, "canary": self.canary}

    @property
    def urls(self) -> dict[str, str]:
        return {t: p.url for t, p in self.tracks.items()}

    def targets(self, *, namespace: str = NAMESPACE, app: str = APP) -> list[ScrapeTarget]:
        """Scrape targets with the labels the Kubernetes job gives each track's pods."""
        return [
            ScrapeTarget(p.address, track_labels(t, namespace=namespace, app=app))
            for t, p in self.tracks.items()
        ]

    def heal(self) -> None:
        """Both healthy again: no injected errors, no added latency."""
        for process in self.tracks.values():
            process.configure(error_rate=0.0, latency_ms=0.0)


@contextlib.contextmanager
def running_pair(log_dir: Path, stable: str = "1.0.0", canary: str = "1.1.0") -> Iterator[DemoPair]:
    """Start a stable and a canary; both stopped by PID on exit, whatever happens."""
    with DemoProcess(stable, log_dir=log_dir) as s, DemoProcess(canary, log_dir=log_dir) as c:
        yield DemoPair(s, c)
