"""The action entrypoint: INPUT_* variables → a ci-deploy command line, run in process."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from ci_deploy.errors import UserInputError
from ci_deploy.platforms import BUILD_OUTPUT_KEYS, OUTPUT_KEYS, SCAN_OUTPUT_KEYS, Redactor
from ci_deploy.platforms.action import invocation_from_inputs, run
from ci_deploy.platforms.github import GitHubPlatform

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "web-app" / "ci-deploy.yml"
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "http://127.0.0.1:9", certificate-authority-data: UFVCTElD}
users:
- name: u
  user: {token: tok-0123456789abcdef}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
"""


def github(inputs: dict[str, str], tmp_path: Path) -> tuple[GitHubPlatform, io.StringIO]:
    env = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(tmp_path / "out")}
    env.update({f"INPUT_{k.upper()}": v for k, v in inputs.items()})
    out = io.StringIO()
    return GitHubPlatform(env, stream=out, redactor=Redactor()), out


def test_inputs_become_options_of_the_verb(tmp_path: Path) -> None:
    platform, _ = github(
        {
            "command": "render manifests",
            "config": str(EXAMPLE),
            "environment": "staging",
            "image": "registry.example.com/acme/web-app:1.2.3",
            "strategy": "",
            "dry-run": "false",
            "args": "--kube-version '1.31'",
        },
        tmp_path,
    )
    inv = invocation_from_inputs(platform)
    assert inv.argv == [
        "--config",
        str(EXAMPLE),
        "render",
        "manifests",
        "--env",
        "staging",
        "--image",
        "registry.example.com/acme/web-app:1.2.3",
        "--kube-version",
        "1.31",
    ]


def test_an_input_the_verb_does_not_take_is_bad_input(tmp_path: Path) -> None:
    platform, _ = github({"command": "config validate", "image": "x:1"}, tmp_path)
    with pytest.raises(
        UserInputError, match="input 'image' is not an option of `ci-deploy config validate`"
    ):
        invocation_from_inputs(platform)


def test_unknown_verb_and_bad_flag_are_bad_input(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="unknown verb 'deplyo'"):
        invocation_from_inputs(github({"command": "deplyo"}, tmp_path)[0])
    platform, _ = github({"command": "config validate", "dry-run": "maybe"}, tmp_path)
    with pytest.raises(UserInputError, match="expected true or false"):
        invocation_from_inputs(platform)


def test_promote_and_abort_take_the_environment_and_the_gate_inputs(tmp_path: Path) -> None:
    def argv(**inputs: str) -> str:
        # As action.yml passes them: every true/false input set, false unless the workflow
        # says true.
        flags = {"dry-run": "false", "no-pause": "false", "full": "false"}
        platform = github({**flags, "environment": "production", **inputs}, tmp_path)[0]
        return " ".join(invocation_from_inputs(platform).argv)

    assert argv(command="promote", full="true") == "promote --env production --full"
    assert argv(command="abort", timeout="5m") == "abort --env production --timeout 5m"
    gates = {"no-pause": "true", "time-scale": "60"}
    rehearsal = "deploy --env production --image web-app:2.0.0 --time-scale 60 --no-pause"
    assert argv(command="deploy", image="web-app:2.0.0", **gates) == rehearsal


def test_a_gate_input_the_verb_does_not_take_is_bad_input(tmp_path: Path) -> None:
    cases = [
        ("deploy", "full", "true"),
        ("promote", "no-pause", "yes"),
        ("abort", "time-scale", "60"),
        ("promote", "image", "x:1"),
    ]
    for verb, name, value in cases:
        inputs = {"command": verb, "environment": "production", name: value}
        expected = f"input '{name}' is not an option of `ci-deploy {verb}`"
        with pytest.raises(UserInputError, match=expected):
            invocation_from_inputs(github(inputs, tmp_path)[0])
    with pytest.raises(UserInputError, match="input 'full': expected true or false"):
        invocation_from_inputs(github({"command": "promote", "full": "always"}, tmp_path)[0])


def test_kubeconfig_content_goes_to_a_private_file_and_its_token_is_masked(tmp_path: Path) -> None:
    platform, out = github(
        {"command": "config validate", "kubeconfig": KUBECONFIG, "github-token": "ghs_secret_1234"},
        tmp_path,
    )
    inv = invocation_from_inputs(platform)
    path = Path(inv.env["KUBECONFIG"])
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text() == KUBECONFIG.strip()  # inputs are trimmed, as by the toolkit
        assert inv.env["GITHUB_TOKEN"] == "ghs_secret_1234"
        assert "ghs_secret_1234" not in inv.argv
        lines = out.getvalue().splitlines()
        assert "::add-mask::tok-0123456789abcdef" in lines
        assert "::add-mask::ghs_secret_1234" in lines
        assert not any("users:" in line for line in lines)  # only credentials are masked
    finally:
        path.unlink()


def test_a_token_yaml_reads_as_a_number_is_masked_as_written(tmp_path: Path) -> None:
    numeric = KUBECONFIG.replace("token: tok-0123456789abcdef", "token: 1234567890123456")
    p, out = github({"kubeconfig": numeric, "environment": "staging"}, tmp_path)
    inv = invocation_from_inputs(p)
    try:
        assert "::add-mask::1234567890123456" in out.getvalue().splitlines()
    finally:
        for path in inv.temp_files:
            os.unlink(path)


def test_a_password_too_short_to_mask_is_warned_about_not_masked(tmp_path: Path) -> None:
    short = KUBECONFIG.replace("{token: tok-0123456789abcdef}", "{username: ci, password: acme}")
    p, out = github({"kubeconfig": short, "environment": "staging"}, tmp_path)
    inv = invocation_from_inputs(p)
    try:
        text = out.getvalue()
        assert "::add-mask::acme" not in text.splitlines()
        assert "too short to hide from logs" in text
        assert "acme" not in text, "the warning does not show it either"
        assert p.redact("registry.example.com/acme/web-app:v3") == (
            "registry.example.com/acme/web-app:v3"
        ), "ordinary text is not corrupted"
    finally:
        for path in inv.temp_files:
            os.unlink(path)


def test_run_executes_the_command_and_reports_its_exit_code(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    env = {
        "GITHUB_ACTIONS": "true",
        "INPUT_COMMAND": "config validate",
        "INPUT_CONFIG": str(EXAMPLE),
        "INPUT_KUBECONFIG": KUBECONFIG,
    }
    before = set(os.listdir(os.environ.get("TMPDIR", "/tmp")))
    kube_before = os.environ.get("KUBECONFIG")
    assert run([], env) == 0
    bad = {**env, "INPUT_CONFIG": str(tmp_path / "missing.yml")}
    assert run([], bad) == 2
    captured = capfd.readouterr()
    assert f"ci-deploy --config {EXAMPLE} config validate" in captured.out
    shown = [line for line in (captured.out + captured.err).splitlines() if "tok-0123" in line]
    assert shown == ["::add-mask::tok-0123456789abcdef"]  # the runner's mask command, nothing else
    assert os.environ.get("KUBECONFIG") == kube_before  # the process environment is restored
    after = set(os.listdir(os.environ.get("TMPDIR", "/tmp")))
    assert not [n for n in after - before if n.startswith("ci-deploy-kubeconfig-")]


def test_arguments_are_the_command_line_without_action_inputs(
    capfd: pytest.CaptureFixture[str],
) -> None:
    assert run(["-c", str(EXAMPLE), "config", "validate"], {"GITHUB_ACTIONS": "true"}) == 0
    assert "ok: " in capfd.readouterr().out


def test_as_the_action_the_args_input_passed_as_arguments_is_not_run_twice(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # The runner hands `with: args` to the container as its arguments too.
    env = {
        "GITHUB_ACTIONS": "true",
        "INPUT_COMMAND": "render manifests",
        "INPUT_CONFIG": str(EXAMPLE),
        "INPUT_ENVIRONMENT": "staging",
        "INPUT_ARGS": "--image registry.example.com/acme/web-app:9.9.9",
    }
    assert run(["--image", "registry.example.com/acme/web-app:9.9.9"], env) == 0
    out = capfd.readouterr().out
    assert "image: registry.example.com/acme/web-app:9.9.9" in out
    assert "--image registry.example.com/acme/web-app:9.9.9" in out.splitlines()[0]


def test_error_messages_of_the_cli_are_redacted(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from ci_deploy.cli import main
    from ci_deploy.platforms import PROCESS_REDACTOR

    secret = "s3cr3t-in-a-path-" + os.urandom(4).hex()
    PROCESS_REDACTOR.add(secret)
    with pytest.raises(SystemExit) as exited:
        main(["-c", str(tmp_path / f"{secret}.yml"), "config", "validate"])
    assert exited.value.code == 2
    err = capfd.readouterr().err
    assert "file not found" in err
    assert secret not in err and "***.yml" in err


def test_action_declares_exactly_the_contract_output_keys() -> None:
    # Machine-readable repository file, not user input: plain yaml is enough here.
    import yaml

    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    assert tuple(action["outputs"]) == OUTPUT_KEYS + BUILD_OUTPUT_KEYS + SCAN_OUTPUT_KEYS


@pytest.mark.parametrize(
    "args", ["--kubeconfig ./evil.yaml", "--kubeconfig=./evil.yaml", "--timeout 1m --context x"]
)
def test_args_cannot_redirect_the_kubeconfig_input(tmp_path: Path, args: str) -> None:
    p, _ = github({"kubeconfig": KUBECONFIG, "environment": "staging", "args": args}, tmp_path)
    with pytest.raises(UserInputError, match="the cluster comes from the inputs only"):
        invocation_from_inputs(p)
    without = {"environment": "staging", "args": "--kubeconfig ./k.yaml"}
    p, _ = github(without, tmp_path)
    assert invocation_from_inputs(p).argv[-2:] == ["--kubeconfig", "./k.yaml"], (
        "without the kubeconfig input, args are the author's to use"
    )
