"""analysis.smoke checks as verdicts: a real HTTP server, a real test command."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ci_deploy.analysis.smoke import smoke_from_dict, smoke_to_dict, smoke_verdicts
from ci_deploy.config.load import load_config_text
from ci_deploy.config.model import SmokeCheck


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        ok = self.path == "/health" and self.headers.get("X-Token") == "t0ken"
        body = b"ok" if ok else b"nope"
        self.send_response(200 if ok else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def checks(text: str) -> tuple[SmokeCheck, ...]:
    cfg = load_config_text(
        "app: web\nimage: {repository: registry.example.com/web}\nenvironments: {prod: {}}\n"
        "analysis:\n  smoke:\n" + text
    )
    return cfg.analysis.smoke


def test_http_checks_render_the_url_send_headers_from_the_environment_and_explain(
    server: str,
) -> None:
    found = checks(
        "    - name: health\n"
        "      http: {url: '{{ url }}/health', body: ok, retries: 0, headers_env: {X-Token: TOK}}\n"
        "    - name: wrong\n"
        "      http: {url: '{{ url }}/missing', retries: 1, retry_delay: 10ms}\n"
    )
    verdicts = smoke_verdicts(found, {"url": server}, Path("."), {"TOK": "t0ken"})
    assert [(v.check, v.result) for v in verdicts] == [
        ("http health", "pass"),
        ("http wrong", "fail"),
    ]
    assert verdicts[0].query == f"GET {server}/health"
    assert verdicts[0].rule == "status 200, body /ok/"
    assert verdicts[1].reason == "status 503, expected 200"
    assert verdicts[1].samples == 2  # the first try and one retry
    assert all("t0ken" not in repr(v) for v in verdicts)


def test_a_missing_header_variable_fails_the_check_without_sending_it(server: str) -> None:
    found = checks(
        "    - {name: health, http: {url: '{{ url }}/health', headers_env: {X-Token: TOK}}}\n"
    )
    (verdict,) = smoke_verdicts(found, {"url": server}, Path("."), {})
    assert (verdict.result, verdict.observed) == ("fail", "not run")
    assert verdict.reason == "the environment variable TOK (a header value) is not set"


def test_a_failing_test_command_names_the_failed_test(tmp_path: Path) -> None:
    (tmp_path / "test_smoke.py").write_text(
        "def test_ok():\n    pass\n\ndef test_checkout():\n    assert 1 == 2, 'cart empty'\n"
    )
    run = f"{sys.executable} -m pytest -q -p no:cacheprovider --junitxml=out.xml test_smoke.py"
    found = checks(f"    - name: tests\n      command: {{run: '{run}', junit: out.xml}}\n")
    (verdict,) = smoke_verdicts(found, {}, tmp_path, {})
    assert verdict.result == "fail"
    assert verdict.observed == "exit 1, 2 tests"
    assert verdict.rule == "exit 0, no failed test in the JUnit XML"
    assert any("test_checkout" in d and "cart empty" in d for d in verdict.detail)
    assert not any("test_ok" in d for d in verdict.detail[:1])


def test_checks_survive_the_round_trip_through_a_recorded_plan() -> None:
    found = checks(
        "    - {name: h, http: {url: 'http://x/', status: [200, 204], max_latency: 500ms}}\n"
        "    - {name: c, command: {run: 'pytest -q', junit: r.xml, timeout: 2m, env: {A: b}}}\n"
    )
    assert tuple(smoke_from_dict(smoke_to_dict(c)) for c in found) == found
