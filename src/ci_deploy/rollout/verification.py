"""``ci-deploy verify``: is what runs in an environment healthy, now? Reads only.

Three kinds of checks, each a verdict that explains itself: the live Deployment (every
wanted pod ready), the configured smoke checks (``analysis.smoke``: HTTP requests and the
user's test command), and the metric rules over the last ``analysis.window``:
``canary.rollback_triggers`` on the stable track, or ``blue_green.rollback_triggers`` on the
serving colour of a blue-green environment. The result: pass (exit 0), or fail / inconclusive
(exit 1 — a check nobody could judge is not a pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ci_deploy.analysis.judge import overall
from ci_deploy.analysis.model import Result, Verdict
from ci_deploy.errors import UserInputError
from ci_deploy.kube.client import DEPLOYMENT, KubeClient
from ci_deploy.kube.state import StateRecord, StateStore
from ci_deploy.lifecycle import EventKind
from ci_deploy.platforms import Platform
from ci_deploy.rollout.options import DeployOptions, cluster_session, load_environment


@dataclass(frozen=True)
class Verification:
    """What ``verify`` found: the overall result and every verdict."""

    environment: str
    result: Result
    verdicts: tuple[Verdict, ...]

    @property
    def summary(self) -> str:
        failing = [v for v in self.verdicts if v.result != "pass"]
        if not failing:
            return f"verify {self.environment}: pass ({len(self.verdicts)} checks)"
        first = failing[0]
        return f"verify {self.environment}: {self.result} — {first.check}: {first.reason}"


def verify(opts: DeployOptions, platform: Platform) -> Verification:
    """Run every configured check against ``opts.environment`` once."""
    from ci_deploy.analysis.report import recorded, text_block
    from ci_deploy.analysis.smoke import smoke_verdicts
    from ci_deploy.analysis.spec import analysis_for

    cfg, env = load_environment(opts)
    spec = analysis_for(
        cfg.analysis,
        cfg.canary if env.strategy != "blue_green" else None,
        app=cfg.app,
        namespace=env.namespace,
        environment=env.name,
        url=env.url,
        blue_green=cfg.blue_green if env.strategy == "blue_green" else None,
    )
    if not cfg.verifiable(env):
        raise UserInputError(
            f"nothing to verify in {env.name}: ci-deploy.yml has no analysis.smoke checks and no"
            f" {cfg.triggers_key(env.strategy)}",
            hint="add analysis: {smoke: [{name: health, http: '{{ url }}/health'}]}"
            " (docs/analysis.md)",
        )
    verdicts: list[Verdict] = []
    with cluster_session(opts, env.cluster) as client:
        live, color, record = _live(client, env.namespace, cfg.primary)
        verdicts.append(live)
    track = color or "stable"  # blue-green: the serving colour's pods and metrics
    root = Path(cfg.source).resolve().parent
    variables = {
        "app": cfg.app,
        "namespace": env.namespace,
        "environment": env.name,
        "url": (env.url or "").rstrip("/"),
        "service": cfg.app,
        "track": track,
        "color": color,
    }
    verdicts += smoke_verdicts(cfg.analysis.smoke, variables, root)
    if spec is not None and spec.rules(None, track, color):
        from ci_deploy.analysis.run import StageAnalysis

        judge = StageAnalysis(spec, None, track, color=color)
        try:
            verdicts += judge.conclude()[1]
        finally:
            judge.close()
    result = overall(verdicts)
    outcome = Verification(env.name, result, tuple(verdicts))
    for line in text_block(recorded(outcome.verdicts)):
        platform.log(line)
    platform.set_outputs({"verdict": result, "analysis": outcome.summary})
    platform.summary(_summary_markdown(outcome))
    if record is not None:  # the deployment and thread of the rollout that put it there
        from ci_deploy.rollout.report import verb_events

        events = verb_events(cfg, env.name, env.url, platform, "verify")
        kind: EventKind = "verified" if result == "pass" else "verify_failed"
        events.emit(kind, record, message=outcome.summary)
        for failure in events.failures:
            platform.warning(f"reporting the verification failed: {failure}")
    return outcome


def _live(client: KubeClient, namespace: str, app: str) -> tuple[Verdict, str, StateRecord | None]:
    """The live Deployment: all wanted pods ready (the serving colour under blue-green), that
    colour ("" when the app is not blue-green), and the rollout record."""
    record, deployment = StateStore(client, namespace, app).read()
    color = ""
    if record is not None and record.strategy == "blue_green" and record.active_color:
        from ci_deploy.rollout.strategies.blue_green import deployment_of

        color = record.active_color
        name = deployment_of(app, color)
        deployment = client.get_or_none(DEPLOYMENT.path(namespace, name)) or deployment
    where = f"deployment/{app} in {namespace}"
    if deployment is None:
        return (
            Verdict(
                check="live deployment",
                query=where,
                observed="not found",
                rule="all wanted pods ready",
                result="fail",
                reason=f"{where} does not exist: nothing is deployed there",
            ),
            color,
            record,
        )
    wanted = int((deployment.get("spec") or {}).get("replicas", 1))
    ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)
    name = deployment["metadata"]["name"]
    return (
        Verdict(
            check="live deployment",
            query=f"deployment/{name} in {namespace}",
            observed=f"{ready}/{wanted} ready",
            rule="all wanted pods ready",
            result="pass" if ready >= wanted else "fail",
            samples=wanted,
            reason=f"{ready} of {wanted} pods ready",
        ),
        color,
        record,
    )


def _summary_markdown(outcome: Verification) -> str:
    from ci_deploy.analysis.report import markdown_table, recorded

    title = f"### ci-deploy verify: {outcome.environment}: {outcome.result}"
    return f"{title}\n\n{markdown_table(recorded(outcome.verdicts))}\n"
