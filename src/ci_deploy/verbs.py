"""The verbs of ``ci-deploy`` and whether each exists in this installation.

Apart from the CLI so that library layers (the pipeline renderer) can ask which verbs exist
without importing the CLI.
"""

from __future__ import annotations

import importlib.util

# Verbs that also need a package beside ci_deploy: the sandbox verb is only there where the
# kube_sandbox package is (the wheel carries it; the action image leaves it out).
_NEEDS = {"sandbox": "kube_sandbox"}

# verb -> (module under ci_deploy.commands, one-line help shown by ``ci-deploy --help``)
VERBS: dict[str, tuple[str, str]] = {
    "config": ("config", "Validate the configuration or show the effective one."),
    "render": ("render", "Render manifests or CI pipelines from the configuration."),
    "sandbox": ("sandbox", "Run the built-in local Kubernetes API (for rehearsals and tests)."),
    "plan": ("plan", "Print the steps a deploy will execute."),
    "diff": ("diff", "Show what a deploy would change, object by object."),
    "deploy": ("deploy", "Deploy an image, watch the rollout, roll back on failure."),
    "status": ("status", "Show the rollout state recorded in the cluster."),
    "rollback": ("rollback", "Roll back to the previous stable revision."),
    "promote": ("promote", "Advance a paused canary or blue-green rollout."),
    "abort": ("abort", "Abort a rollout in progress and restore the stable revision."),
    "teardown": ("teardown", "Delete what ci-deploy applied for the app in an environment."),
    "verify": ("verify", "Run post-deploy verification (smoke tests, metric checks)."),
    "build": ("build", "Build and push the application image."),
    "scan": ("scan", "Scan an image or directory and gate on findings."),
    "migrate": ("migrate", "Run database migrations safely."),
    "notes": ("notes", "Write release notes."),
}


def verb_available(verb: str) -> bool:
    """True when ``ci-deploy <verb>`` exists in this installation (its module is present)."""
    entry = VERBS.get(verb)
    if entry is None:
        return False
    if verb in _NEEDS and importlib.util.find_spec(_NEEDS[verb]) is None:
        return False
    return importlib.util.find_spec(f"ci_deploy.commands.{entry[0]}") is not None
