"""Sandbox over TLS with tokens vs plain HTTP: creates per second, and start-up time.

Runs ``ci-deploy sandbox serve`` in its own process (client and server do not share a GIL),
once with ``--insecure-http`` and once as by default (HTTPS, a CA and certificate made at
start, bearer token), and prints for each:
  - N ConfigMap creates over one keep-alive stdlib ``http.client`` connection (same objects,
    same client; the TLS one verifies the certificate against the kubeconfig's CA and sends
    the token), N/4 with a new connection (a TLS handshake) per create, and N over one
    keep-alive ``requests.Session`` (more client overhead per TLS read);
  - start-up: from ``Popen`` to the ready line (process start, imports, and for TLS the key
    and certificate generation), the median of a few runs.

    .venv/bin/python bench/bench_sandbox_tls.py [--creates 1000] [--starts 5]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import re
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
import yaml

PATH = "/api/v1/namespaces/default/configmaps"
READY = re.compile(r"serving (https?://\S+) \(kubeconfig: (.+), context")


@contextmanager
def server(tls: bool) -> Iterator[tuple[str, dict[str, str], str | bool, float]]:
    """(url, headers, verify, seconds to the ready line) of a fresh ``sandbox serve``."""
    tmp = Path(tempfile.mkdtemp())
    args = [sys.executable, "-m", "ci_deploy", "sandbox", "serve", "--port", "0"]
    args += ["--kubeconfig", str(tmp / "kc"), "--no-controllers"]
    if not tls:
        args.append("--insecure-http")
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        match = READY.search(proc.stdout.readline())
        ready = time.perf_counter() - started
        assert match, "sandbox did not start"
        headers: dict[str, str] = {}
        verify: str | bool = True
        if tls:
            doc = yaml.safe_load(Path(match.group(2)).read_text())
            ca = tmp / "ca.pem"
            cluster = doc["clusters"][0]["cluster"]
            ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
            headers = {"Authorization": f"Bearer {doc['users'][0]['user']['token']}"}
            verify = str(ca)
        yield match.group(1), headers, verify, ready
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def _body(label: str, i: int) -> str:
    return json.dumps({"metadata": {"name": f"cm-{label}-{i}"}, "data": {"key": "value" * 20}})


def _connection(url: str, verify: str | bool) -> http.client.HTTPConnection:
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    if url.startswith("https://"):
        assert isinstance(verify, str)
        context = ssl.create_default_context(cafile=verify)
        return http.client.HTTPSConnection(host, int(port), context=context, timeout=10)
    return http.client.HTTPConnection(host, int(port), timeout=10)


def creates_http_client(
    url: str, headers: dict[str, str], verify: str | bool, n: int, fresh: bool
) -> float:
    """Creates per second of ``n`` ConfigMaps over stdlib http.client (``fresh``: a new
    connection, so a TLS handshake, for each)."""
    label = "fresh" if fresh else "kept"
    sent = {**headers, "Content-Type": "application/json"}
    conn = _connection(url, verify)
    started = time.perf_counter()
    for i in range(n):
        if fresh and i:
            conn.close()
            conn = _connection(url, verify)
        conn.request("POST", PATH, _body(label, i), sent)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 201:
            raise SystemExit(f"create failed: {resp.status}")
    seconds = time.perf_counter() - started
    conn.close()
    return n / seconds


def creates_requests(url: str, headers: dict[str, str], verify: str | bool, n: int) -> float:
    """Creates per second of ``n`` ConfigMaps over one keep-alive ``requests.Session``."""
    session = requests.Session()
    session.headers.update({**headers, "Content-Type": "application/json"})
    session.verify = verify
    session.trust_env = False  # else $REQUESTS_CA_BUNDLE overrides session.verify
    started = time.perf_counter()
    for i in range(n):
        resp = session.post(url + PATH, data=_body("requests", i), timeout=10)
        if resp.status_code != 201:
            raise SystemExit(f"create failed: {resp.status_code} {resp.text[:200]}")
    seconds = time.perf_counter() - started
    session.close()
    return n / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=1000)
    parser.add_argument("--starts", type=int, default=5)
    args = parser.parse_args()
    print(f"sandbox TLS benchmark: {args.creates} ConfigMap creates, {args.starts} start-ups")
    for tls in (False, True):
        label = "TLS + token" if tls else "plain HTTP "
        starts = []
        for _ in range(args.starts):
            with server(tls) as (_url, _h, _v, ready):
                starts.append(ready)
        with server(tls) as (url, headers, verify, _ready):
            kept = creates_http_client(url, headers, verify, args.creates, fresh=False)
            fresh = creates_http_client(url, headers, verify, args.creates // 4, fresh=True)
            session = creates_requests(url, headers, verify, args.creates)
        print(
            f"  {label}: http.client {kept:5.0f} creates/s on one connection, {fresh:5.0f}/s "
            f"with a new connection each; requests.Session {session:5.0f}/s; start-up median "
            f"{statistics.median(starts) * 1000:.0f} ms (min {min(starts) * 1000:.0f} ms)"
        )


if __name__ == "__main__":
    main()
