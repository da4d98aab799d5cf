"""kube.kubeconfig: which files and context, and one line for each way a kubeconfig is unusable.

Through the CLI in tests/commands/test_kubeconfig_errors.py; here the rules themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ci_deploy.errors import UserInputError
from ci_deploy.kube.kubeconfig import choose, kubeconfig_paths


def kubeconfig(path: Path, *contexts: str, current: str | None = None) -> Path:
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": f"{c}-cluster", "cluster": {"server": "https://x"}} for c in contexts
        ],
        "users": [{"name": "me", "user": {"token": "t0ken"}}],
        "contexts": [
            {"name": c, "context": {"cluster": f"{c}-cluster", "user": "me"}} for c in contexts
        ],
    }
    if current:
        doc["current-context"] = current
    path.write_text(yaml.safe_dump(doc))
    return path


def message(kubeconfig: str | None, context: str | None = None) -> str:
    with pytest.raises(UserInputError) as caught:
        choose(kubeconfig, context)
    return caught.value.message


def test_several_files_merge_with_the_first_one_winning(tmp_path: Path) -> None:
    first = kubeconfig(tmp_path / "a", "staging", current="staging")
    second = kubeconfig(tmp_path / "b", "production", current="production")
    chosen = choose(f"{first}:{tmp_path / 'missing'}:{second}", None)
    assert chosen.paths == (str(first), str(second))
    assert chosen.missing == (str(tmp_path / "missing"),)
    assert (chosen.context, chosen.cluster) == ("staging", "staging-cluster")
    assert choose(f"{first}:{second}", "production").cluster == "production-cluster"


def test_an_empty_kubeconfig_variable_means_the_default_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", "")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert kubeconfig_paths(None) == ([str(tmp_path / ".kube" / "config")], True)
    assert kubeconfig_paths("") == ([str(tmp_path / ".kube" / "config")], True)


def test_no_current_context_and_no_context_given(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "kc", "a", "b")
    assert message(str(path)) == (
        f"kubeconfig {path} sets no current-context; pass --context NAME (it has: a, b)"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is empty"),
        ("- just\n- a list\n", "is not a kubeconfig (a mapping with clusters, contexts and users)"),
    ],
)
def test_a_file_that_is_no_kubeconfig(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "kc"
    path.write_text(text)
    assert message(str(path)) == (
        f"kubeconfig {path} {problem}; pass --kubeconfig PATH (or set KUBECONFIG) to the "
        "kubeconfig of the cluster"
    )


def test_a_yaml_error_quotes_no_line_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "kc"
    path.write_text("users:\n- name: me\n  user: {token: t0ken: x}\n")
    text = message(str(path))
    assert text.startswith(f"kubeconfig {path}:3:")
    assert "t0ken" not in text
