"""A kubeconfig that cannot be used, through the real CLI: one line naming the path and what
to do, exit 2 (bad input), no traceback and none of the file's credentials.

Paths are kubectl's: --kubeconfig or $KUBECONFIG (several files joined by ':', missing ones
skipped), else ~/.kube/config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.commands.access import (
    CLUSTER,
    IMAGE,
    assert_no_secret,
    kubeconfig_with_secrets,
    only_line,
)


@pytest.mark.parametrize("verb", ["plan", "status", "rollback", "deploy"])
def test_a_context_missing_from_the_kubeconfig_is_bad_input(engine: Any, verb: str) -> None:
    image = ["--image", f"{IMAGE}:1.0.0"] if verb in ("plan", "deploy") else []
    result = engine.run(verb, "--env", "staging", *image, "--context", "no-such-context")
    assert result.returncode == 2, result.stderr
    assert only_line(result) == (
        f"error: kubeconfig {engine.sb.kubeconfig} has no context 'no-such-context' (it has:"
        f" {CLUSTER}); pass --context NAME of one of them"
    )


def test_a_kubeconfig_option_naming_a_missing_file_is_one_line(engine: Any, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-kubeconfig"
    result = engine.run("status", "--env", "staging", "--kubeconfig", str(missing))
    assert result.returncode == 2, result.stderr
    assert only_line(result) == (
        f"error: kubeconfig {missing} does not exist; pass --kubeconfig PATH (or set KUBECONFIG)"
        " to the kubeconfig of the cluster"
    )


def test_kubeconfig_variable_paths_that_all_miss_are_each_named(
    engine: Any, tmp_path: Path
) -> None:
    first, second = tmp_path / "a" / "config", tmp_path / "b" / "config"
    result = engine.run("status", "--env", "staging", KUBECONFIG=f"{first}:{second}")
    assert result.returncode == 2, result.stderr
    assert only_line(result) == (
        f"error: no kubeconfig found: {first} and {second} do not exist; pass --kubeconfig PATH"
        " (or set KUBECONFIG) to the kubeconfig of the cluster"
    )


def test_kubeconfig_variable_with_one_missing_path_uses_the_others(
    engine: Any, tmp_path: Path
) -> None:
    missing = tmp_path / "missing" / "config"
    result = engine.run(
        "status", "--env", "staging", KUBECONFIG=f"{missing}:{engine.sb.kubeconfig}"
    )
    assert result.returncode == 0, result.stderr  # as kubectl does: missing entries are skipped


def test_a_missing_context_names_the_paths_that_were_missing(engine: Any, tmp_path: Path) -> None:
    missing = tmp_path / "missing" / "config"
    result = engine.run(
        "status",
        "--env",
        "staging",
        "--context",
        "production",
        KUBECONFIG=f"{missing}:{engine.sb.kubeconfig}",
    )
    assert result.returncode == 2, result.stderr
    assert only_line(result) == (
        f"error: kubeconfig {engine.sb.kubeconfig} has no context 'production' (it has:"
        f" {CLUSTER}); pass --context NAME of one of them ({missing} does not exist)"
    )


def test_no_kubeconfig_at_all_names_the_default_path(engine: Any, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    result = engine.run("status", "--env", "staging", KUBECONFIG="", HOME=str(home))
    assert result.returncode == 2, result.stderr
    assert only_line(result) == (
        f"error: no kubeconfig: {home}/.kube/config does not exist and KUBECONFIG is not set;"
        " pass --kubeconfig PATH (or set KUBECONFIG) to the kubeconfig of the cluster"
    )


def test_an_unreadable_kubeconfig_is_one_line(engine: Any, tmp_path: Path) -> None:
    directory = tmp_path / "kubeconfig.d"  # tests run as root: a directory cannot be read
    directory.mkdir()
    result = engine.run("status", "--env", "staging", KUBECONFIG=str(directory))
    assert result.returncode == 2, result.stderr
    assert only_line(result) == (
        f"error: cannot read kubeconfig {directory}: Is a directory; pass --kubeconfig PATH"
        " (or set KUBECONFIG) to the kubeconfig of the cluster"
    )


def test_a_kubeconfig_that_is_not_yaml_is_one_line_without_its_secrets(
    engine: Any, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    lines = kubeconfig_with_secrets(engine.sb.kubeconfig, broken).read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if "token:" in line)
    lines[at] += ": [unclosed"  # the line holding the token is the broken one
    broken.write_text("\n".join(lines) + "\n")
    result = engine.run("status", "--env", "staging", KUBECONFIG=str(broken))
    assert result.returncode == 2, result.stderr
    line = only_line(result)
    assert line.startswith(f"error: kubeconfig {broken}:{at + 1}:")
    assert line.endswith(": not valid YAML (mapping values are not allowed here); fix the file")
    assert_no_secret(result.stdout, result.stderr)
    debug = engine.run("status", "--env", "staging", KUBECONFIG=str(broken), CI_DEPLOY_DEBUG="1")
    assert debug.returncode == 2
    assert debug.stderr.splitlines()[0] == line
    assert "Traceback (most recent call last):" in debug.stderr
    assert "yaml.scanner.ScannerError" in debug.stderr
    assert_no_secret(debug.stdout, debug.stderr)


def test_a_kubeconfig_without_contexts_is_one_line(engine: Any, tmp_path: Path) -> None:
    doc = yaml.safe_load(engine.sb.kubeconfig.read_text())
    doc["contexts"], doc["current-context"] = [], ""
    empty = tmp_path / "no-contexts"
    empty.write_text(yaml.safe_dump(doc))
    result = engine.run("status", "--env", "staging", KUBECONFIG=str(empty))
    assert result.returncode == 2, result.stderr
    assert only_line(result) == (
        f"error: kubeconfig {empty} has no contexts; add one (kubectl config set-context), or"
        " pass --kubeconfig PATH of another file"
    )


PLUGIN_SECRET = "plugin-env-secret-31337"
EXEC_TOKEN = "exec-issued-token-55ab"


def exec_kubeconfig(source: Path, target: Path, script: str) -> Path:
    """``source`` whose user gets its credential from an exec plugin running ``script``."""
    plugin = target.with_suffix(".sh")
    plugin.write_text("#!/bin/sh\n" + script)
    plugin.chmod(0o755)
    doc = yaml.safe_load(source.read_text())
    doc["users"][0]["user"] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": str(plugin),
            "env": [{"name": "PLUGIN_SECRET", "value": PLUGIN_SECRET}],
            "interactiveMode": "Never",
        }
    }
    target.write_text(yaml.safe_dump(doc))
    return target


def test_a_failing_exec_plugin_is_one_line_and_its_secrets_stay_hidden(
    engine: Any, tmp_path: Path
) -> None:
    kubeconfig = exec_kubeconfig(
        engine.sb.kubeconfig,
        tmp_path / "exec-fails",
        'echo "login failed for key $PLUGIN_SECRET" >&2\nexit 1\n',
    )
    result = engine.run(
        "status", "--env", "staging", KUBECONFIG=str(kubeconfig), GITHUB_ACTIONS="true"
    )
    assert result.returncode == 2, result.stderr
    assert "its credentials could not be obtained: exec: process returned 1" in result.stderr
    assert "login failed for key ***" in result.stderr
    assert PLUGIN_SECRET not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_the_token_an_exec_plugin_returns_is_masked(engine: Any, tmp_path: Path) -> None:
    credential = (
        '{"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",'
        f' "status": {{"token": "{EXEC_TOKEN}"}}}}'
    )
    kubeconfig = exec_kubeconfig(
        engine.sb.kubeconfig, tmp_path / "exec-ok", f"echo '{credential}'\n"
    )
    # What ci-deploy prints can quote the cluster (a hostile pod could echo the token it was
    # sent). Here the token is made to appear in the image tag, which every line quotes: the
    # deploy works (the plugin's token authenticates it) and no line shows the token.
    result = engine.run(
        "deploy",
        "--env",
        "staging",
        "--image",
        f"{IMAGE}:{EXEC_TOKEN}",
        KUBECONFIG=str(kubeconfig),
    )
    assert result.returncode == 0, result.stderr
    assert EXEC_TOKEN not in result.stdout + result.stderr
    assert "***" in result.stderr
