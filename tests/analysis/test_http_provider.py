"""analysis.providers.http against a real local HTTP server (and a real TLS proxy in front of it).

The server answers by path: /ok 200, /down 503, /flaky 503 until it has failed ``flaky`` times,
/degraded 200 with a body that is not the healthy one, /slow 200 after ``slow_seconds``; it
counts requests per path, so the tests see how many went over the wire.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tests.kube import tls

from ci_deploy.analysis.providers.http import HttpProbe, HttpProvider
from ci_deploy.httpclient import HttpClient, HttpError, HttpOptions

SECRET = "Bearer s3cr3t-token-value"
DEGRADED = "\x1b[31m::warning::status: degraded\n" + "x" * 100


@dataclass
class Server:
    url: str
    flaky: int = 0  # /flaky answers 503 this many times first
    slow_seconds: float = 0.3
    counts: Counter[str] = field(default_factory=Counter)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(state: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:  # quiet
            pass

        def _answer(self) -> None:
            path = self.path.split("?")[0]
            with state.lock:
                state.counts[path] += 1
                state.requests.append((self.command, path, dict(self.headers.items())))
                count = state.counts[path]
            status, body = 200, "status: ok"
            if path == "/down" or (path == "/flaky" and count <= state.flaky):
                status, body = 503, "unavailable"
            elif path == "/degraded":
                body = DEGRADED
            elif path == "/slow":
                time.sleep(state.slow_seconds)
            elif path != "/ok" and path != "/flaky":
                status, body = 404, "not found"
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

    return Handler


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    state = Server(f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.RequestHandlerClass = _handler(state)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def provider(sleeps: list[float]) -> HttpProvider:
    return HttpProvider(sleep=sleeps.append)  # delays recorded, not waited


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------- answers


def test_a_healthy_endpoint_passes_with_its_latency_and_the_secret_header_stays_secret(
    server: Server, provider: HttpProvider
) -> None:
    probe = HttpProbe(
        f"{server.url}/ok", body=r"status: ok", max_latency_ms=5000, headers={"X-Token": SECRET}
    )
    m = provider.measure(probe)
    assert m.passed is True
    assert m.error == "" and m.detail == ()
    assert m.samples == 1 and server.counts["/ok"] == 1
    assert m.value is not None and 0 < m.value < 5000
    assert server.requests[0][2]["X-Token"] == SECRET  # sent …
    assert SECRET not in repr(probe) and SECRET not in repr(m)  # … never shown


def test_a_503_is_a_failed_attempt_retried_by_the_check_not_by_the_transport(
    server: Server, provider: HttpProvider, sleeps: list[float]
) -> None:
    m = provider.measure(HttpProbe(f"{server.url}/down", retries=2, retry_delay=0.25))
    assert m.passed is False
    assert m.error == ""  # there were answers: a failed check, not a failed observation
    assert m.samples == 3
    assert server.counts["/down"] == 3  # no transport retry hidden behind each attempt
    assert sleeps == [0.25, 0.25]  # the probe's delay between attempts, none after the last
    assert m.detail == (
        "status 503, expected 200",
        "all 3 attempts failed; before: status 503, expected 200 (×2)",
    )
    assert m.value is not None  # the latency of the last answer


def test_an_endpoint_that_comes_up_passes_on_a_later_attempt_and_says_so(
    server: Server, provider: HttpProvider, sleeps: list[float]
) -> None:
    server.flaky = 2
    m = provider.measure(HttpProbe(f"{server.url}/flaky", retries=3, retry_delay=1))
    assert m.passed is True
    assert m.samples == 3 and server.counts["/flaky"] == 3  # stopped once it passed
    assert sleeps == [1, 1]
    assert m.detail == ("passed on attempt 3 of 4; before: status 503, expected 200 (×2)",)


def test_other_allowed_statuses_and_the_method(server: Server, provider: HttpProvider) -> None:
    m = provider.measure(HttpProbe(f"{server.url}/down", method="post", expect_status=(200, 503)))
    assert m.passed is True
    assert server.requests[-1][:2] == ("POST", "/down")
    m = provider.measure(HttpProbe(f"{server.url}/nowhere", expect_status=(200, 204)))
    assert m.detail == ("status 404, expected 200 or 204",)


def test_a_body_that_does_not_match_is_shown_inert_and_short(
    server: Server, provider: HttpProvider
) -> None:
    m = provider.measure(HttpProbe(f"{server.url}/degraded", body=r"status: ok\b"))
    assert m.passed is False
    excerpt = "␛[31m::warning::status: degraded␊" + "x" * 47 + "…"  # 80 characters, then …
    assert m.detail == (rf"body did not match /status: ok\b/ (first 80 chars: {excerpt})",)
    assert not any(ch in line for line in m.detail for ch in "\n\x1b")


def test_too_slow_is_a_failure_with_the_latency(server: Server, provider: HttpProvider) -> None:
    m = provider.measure(HttpProbe(f"{server.url}/slow", max_latency_ms=100))
    assert m.passed is False
    assert m.value is not None and m.value >= 300
    assert m.detail == (f"latency {m.value:.0f} ms over 100 ms",)


# ---------------------------------------------------------------------------- no answer


def test_connection_refused_is_an_error_retried_by_the_check(
    provider: HttpProvider, sleeps: list[float]
) -> None:
    port = closed_port()
    url = f"http://user:pa55word@127.0.0.1:{port}/health?token=abcdef"
    m = provider.measure(HttpProbe(url, retries=1, retry_delay=0.5))
    assert m.error == f"http://127.0.0.1:{port}/health: cannot connect: connection refused"
    assert m.value is None and m.passed is False and m.samples == 2
    assert sleeps == [0.5]
    assert m.detail == ("all 2 attempts failed; before: cannot connect: connection refused",)
    assert "pa55word" not in repr(m) and "abcdef" not in repr(m)


def test_no_answer_within_the_timeout(provider: HttpProvider) -> None:
    with tls.silent_listener() as https_url:
        url = https_url.replace("https:", "http:") + "/health"
        started = time.monotonic()
        m = provider.measure(HttpProbe(url, timeout=0.3))
    assert time.monotonic() - started < 3
    assert m.error == f"{url}: no response within 0.3s"
    assert m.value is None and m.passed is False and m.samples == 1


# ---------------------------------------------------------------------------- TLS


@pytest.fixture
def https(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Path]]:
    """An https URL in front of ``server`` and the CA file that trusts it; the environment's
    CA bundle (which requests prefers to a session's own verify) is another CA's."""
    ca = tls.make_ca()
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.pem)
    other = tmp_path / "other-ca.pem"
    other.write_bytes(tls.make_ca("some other CA").pem)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(other))
    with tls.tls_proxy(server.url, tls.issue(ca), tmp_path) as url:
        yield url, ca_file


def test_tls_verified_against_the_given_ca(https: tuple[str, Path], provider: HttpProvider) -> None:
    url, ca_file = https
    m = provider.measure(HttpProbe(f"{url}/ok", verify=str(ca_file)))
    assert m.passed is True and m.error == ""


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_not_verified_when_told_so(https: tuple[str, Path], provider: HttpProvider) -> None:
    url, _ = https
    assert provider.measure(HttpProbe(f"{url}/ok", verify=False)).passed is True


def test_an_untrusted_certificate_fails_at_once_without_retries(
    https: tuple[str, Path], server: Server, provider: HttpProvider, sleeps: list[float]
) -> None:
    url, _ = https
    m = provider.measure(HttpProbe(f"{url}/ok", retries=3))
    assert m.error.startswith(f"{url}/ok: TLS failed: ")
    assert "certificate verify failed" in m.error
    assert m.samples == 1 and sleeps == []  # another try would meet the same certificate
    assert m.passed is False and m.value is None
    assert server.counts["/ok"] == 0


def test_a_missing_ca_bundle_is_an_error_not_an_exception(
    provider: HttpProvider, tmp_path: Path, sleeps: list[float]
) -> None:
    missing = tmp_path / "no-ca.pem"
    m = provider.measure(HttpProbe("https://127.0.0.1:1/", verify=str(missing), retries=2))
    assert m.error == (
        "https://127.0.0.1:1/: Could not find a suitable TLS CA certificate bundle, "
        f"invalid path: {missing}"
    )
    assert m.passed is False and m.samples == 1 and sleeps == []


# ---------------------------------------------------------------------------- the client


def test_a_given_client_is_used_and_must_not_retry_itself(server: Server) -> None:
    with pytest.raises(ValueError, match="retries=0"):
        HttpProvider(HttpClient(HttpOptions(retries=2)))
    with HttpClient(HttpOptions(retries=0)) as client:
        m = HttpProvider(client, sleep=lambda _: None).measure(
            HttpProbe(f"{server.url}/down", retries=1, retry_delay=0, headers={"X-Token": SECRET})
        )
        assert client.attempts == 2 == server.counts["/down"] == m.samples
        assert server.requests[-1][2]["X-Token"] == SECRET
        with pytest.raises(ValueError, match="TLS verification differs"):
            HttpProvider(client).measure(HttpProbe(f"{server.url}/ok", verify=False))


# ---------------------------------------------------------------------------- the probe


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("Bearer s3cr3t\r\nX-Injected: 1", "line break"),
        (" s3cr3t-leading-space", "leading"),
        ("s3cr3t-€uro", "Latin-1"),
    ],
)
def test_a_header_value_requests_would_quote_in_its_error_is_refused_unquoted(
    value: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem) as caught:
        HttpProbe("http://127.0.0.1/", headers={"Authorization": value})
    assert "s3cr3t" not in str(caught.value)
    assert "Authorization" in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"url": "ftp://example.com/"}, "expected http"),
        ({"url": "http:///nohost"}, "expected http"),
        ({"method": "GET /"}, "not an HTTP method"),
        ({"expect_status": ()}, "expect_status"),
        ({"expect_status": (200, 999)}, "expect_status"),
        ({"body": "("}, "not a regular expression"),
        ({"max_latency_ms": 0}, "max_latency_ms"),
        ({"retries": -1}, "retries"),
        ({"retry_delay": -1}, "retry_delay"),
        ({"timeout": 0}, "timeout"),
        ({"headers": {"Bad Name": "x"}}, "not a header name"),
    ],
)
def test_a_probe_that_cannot_be_checked_is_refused(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"url": "http://127.0.0.1/health", **kwargs}
    with pytest.raises(ValueError, match=message):
        HttpProbe(**arguments)  # type: ignore[arg-type]


def test_the_probe_names_its_target_without_secrets() -> None:
    probe = HttpProbe("https://u:p4ss@example.com:8443/health?key=k3y", method="head")
    assert probe.target == "HEAD https://example.com:8443/health"
    assert probe.method == "HEAD"
    assert hash(HttpProbe("http://a/", headers={"X": "1"})) == hash(HttpProbe("http://a/"))


def test_the_client_never_quotes_a_header_value_it_refuses(server: Server) -> None:
    """requests' InvalidHeader message quotes the value (a token read with its newline)."""
    with HttpClient(HttpOptions(retries=0)) as client, pytest.raises(HttpError) as caught:
        client.request("GET", f"{server.url}/ok", headers={"Authorization": "s3cr3t-tok\n"})
    assert caught.value.message == (
        f"{server.url}/ok: a header name or value is not valid (values are not shown)"
    )
    assert "s3cr3t" not in str(caught.value) and not caught.value.transient
    assert server.counts["/ok"] == 0
