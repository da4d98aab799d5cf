"""StatefulSet, DaemonSet, Job, CronJob and ControllerRevision through the real kubectl.

Each kind is applied, read back complete (defaults, status), re-applied unchanged, diffed and
deleted (its pods garbage-collected); ``kubectl rollout status`` follows a StatefulSet (also a
partitioned update) and a DaemonSet to their upstream messages; ``kubectl wait`` sees a Job
Complete, and a crashlooping Job Failed.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.sandbox.test_kubectl_conformance import NS, Kubectl
from tests.sandbox.test_kubectl_conformance import kubectl as kubectl  # the fixture

from kube_sandbox.testing import SandboxHandle, wait_until

pytestmark = pytest.mark.kubectl
Obj = dict[str, Any]


def sts_yaml(image: str = "nginx:1.25", strategy: str = "", replicas: int = 3) -> str:
    return f"""\
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: web}}
spec:
  replicas: {replicas}
  serviceName: web
{strategy}  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: app, image: "{image}"}}]
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}}}
"""


def ds_yaml(image: str = "fluentd:1.16") -> str:
    return f"""\
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: agent}}
spec:
  selector: {{matchLabels: {{app: agent}}}}
  template:
    metadata: {{labels: {{app: agent}}}}
    spec:
      containers: [{{name: agent, image: "{image}"}}]
"""


def job_yaml(name: str, image: str, extra: str = "") -> str:
    return f"""\
apiVersion: batch/v1
kind: Job
metadata: {{name: {name}}}
spec:
{extra}  template:
    spec:
      restartPolicy: Never
      containers: [{{name: work, image: "{image}"}}]
"""


CRONJOB = """\
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: backup, image: "busybox:1.36"}]
"""


def pods(sandbox: SandboxHandle, owner_kind: str, owner: str) -> list[Obj]:
    items, _ = sandbox.store.list("/pods", NS)
    return [
        p
        for p in items
        if any(
            r.get("kind") == owner_kind and r.get("name") == owner
            for r in p["metadata"].get("ownerReferences") or []
        )
    ]


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_statefulset_apply_rollout_partition_diff_delete(
    kubectl: Kubectl, sandbox: SandboxHandle
) -> None:
    path = kubectl.manifest("web.yaml", sts_yaml())
    assert kubectl("apply", "-f", path).stdout.strip() == "statefulset.apps/web created"
    status = kubectl("rollout", "status", "statefulset/web", "--timeout=60s")
    # no updateStrategy in the manifest: defaulting adds rollingUpdate.partition 0, so kubectl
    # ends in its partitioned branch, as on a real cluster
    assert (
        lines(status.stdout)[-1] == "partitioned roll out complete: 3 new pods have been updated..."
    )
    sts = kubectl.json("statefulset", "web")
    assert sts["spec"]["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"partition": 0},
    }
    assert sts["spec"]["podManagementPolicy"] == "OrderedReady"
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    revision = sts["status"]["updateRevision"]
    assert sts["status"]["currentRevision"] == revision and revision.startswith("web-")
    assert sts["status"]["readyReplicas"] == 3 and sts["status"]["availableReplicas"] == 3
    assert sts["status"]["observedGeneration"] == 1 and sts["status"]["collisionCount"] == 0
    names = sorted(p["metadata"]["name"] for p in pods(sandbox, "StatefulSet", "web"))
    assert names == ["web-0", "web-1", "web-2"]
    pod = kubectl.json("pod", "web-1")
    assert pod["metadata"]["labels"]["controller-revision-hash"] == revision
    assert pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "1"
    assert pod["spec"]["hostname"] == "web-1" and pod["spec"]["subdomain"] == "web"
    claim = next(v for v in pod["spec"]["volumes"] if v["name"] == "data")
    assert claim["persistentVolumeClaim"]["claimName"] == "data-web-1"
    assert kubectl.json("pvc", "data-web-1")["metadata"]["name"] == "data-web-1"
    cr = kubectl.json("controllerrevision", revision)
    assert cr["revision"] == 1 and cr["metadata"]["ownerReferences"][0]["name"] == "web"
    assert "web" in kubectl("get", "statefulset", "web").stdout.splitlines()[1]
    kubectl.record(
        "rollout status statefulset (no updateStrategy)",
        "partitioned roll out complete: 3 new pods have been updated...",
        lines(status.stdout)[-1],
    )

    again = kubectl("apply", "-f", path)
    # volumeClaimTemplates is a list without a merge key and the server defaults each entry
    # (apiVersion, kind, volumeMode, status), so kubectl always sends it and says "configured",
    # as on a real cluster; the object must not move.
    assert again.stdout.strip() == "statefulset.apps/web configured"
    after = kubectl.json("statefulset", "web")
    assert after["metadata"]["resourceVersion"] == sts["metadata"]["resourceVersion"]
    assert after["metadata"]["generation"] == 1

    # a partitioned update: only ordinals >= 1 move to the new revision
    partitioned = sts_yaml(
        "nginx:1.26", "  updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 1}}\n"
    )
    path2 = kubectl.manifest("web2.yaml", partitioned)
    diff = kubectl("diff", "-f", path2, ok=False)
    assert diff.returncode == 1 and "nginx:1.26" in diff.stdout, diff.stdout + diff.stderr
    assert kubectl("apply", "-f", path2).stdout.strip() == "statefulset.apps/web configured"
    status = kubectl("rollout", "status", "statefulset/web", "--timeout=60s")
    assert (
        lines(status.stdout)[-1] == "partitioned roll out complete: 2 new pods have been updated..."
    )
    sts = kubectl.json("statefulset", "web")
    assert sts["status"]["currentRevision"] == revision, "ordinal 0 keeps the old revision"
    assert sts["status"]["updatedReplicas"] == 2 and sts["status"]["currentReplicas"] == 1
    images = {
        p["metadata"]["name"]: p["spec"]["containers"][0]["image"]
        for p in pods(sandbox, "StatefulSet", "web")
    }
    assert images == {"web-0": "nginx:1.25", "web-1": "nginx:1.26", "web-2": "nginx:1.26"}
    kubectl.record(
        "rollout status statefulset (partition 1, new image)",
        "partitioned roll out complete: 2 new pods have been updated...; web-0 keeps the old image",
        f"{lines(status.stdout)[-1]}; {sorted(images.items())}",
    )

    # type RollingUpdate without rollingUpdate: the revision branch of the viewer
    plain = sts_yaml("nginx:1.27", "  updateStrategy: {type: RollingUpdate}\n")
    kubectl("apply", "-f", kubectl.manifest("web3.yaml", plain))
    status = kubectl("rollout", "status", "statefulset/web", "--timeout=60s")
    sts = kubectl.json("statefulset", "web")
    update = sts["status"]["updateRevision"]
    assert (
        lines(status.stdout)[-1]
        == f"statefulset rolling update complete 3 pods at revision {update}..."
    )
    assert sts["status"]["currentRevision"] == update

    history = kubectl("rollout", "history", "statefulset/web").stdout
    assert [line.split()[0] for line in lines(history)[2:]] == ["1", "2", "3"], history
    undo = kubectl("rollout", "undo", "statefulset/web")
    assert undo.stdout.strip() == "statefulset.apps/web rolled back"
    kubectl("rollout", "status", "statefulset/web", "--timeout=60s")
    images = {p["spec"]["containers"][0]["image"] for p in pods(sandbox, "StatefulSet", "web")}
    assert images == {"nginx:1.26"}, "undo returns to the previous revision's template"
    revisions = kubectl.json("controllerrevisions")["items"]
    assert sorted(r["revision"] for r in revisions) == [1, 3, 4], "revision 2 re-used as 4"

    forbidden = kubectl(
        "patch",
        "statefulset",
        "web",
        "--type=merge",
        "-p",
        '{"spec":{"serviceName":"other"}}',
        ok=False,
    )
    assert forbidden.returncode == 1
    assert "spec: Forbidden: updates to statefulset spec for fields other than" in forbidden.stderr

    kubectl("delete", "statefulset", "web")
    wait_until(lambda: not pods(sandbox, "StatefulSet", "web"))
    gone = kubectl("get", "statefulset", "web", ok=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_statefulset_on_delete_is_refused_by_rollout_status(kubectl: Kubectl) -> None:
    path = kubectl.manifest(
        "web.yaml", sts_yaml(strategy="  updateStrategy: {type: OnDelete}\n", replicas=1)
    )
    kubectl("apply", "-f", path)
    status = kubectl("rollout", "status", "statefulset/web", "--timeout=30s", ok=False)
    assert status.returncode == 1
    assert "rollout status is only available for RollingUpdate strategy type" in status.stderr


def test_daemonset_apply_rollout_update_diff_delete(
    kubectl: Kubectl, sandbox: SandboxHandle
) -> None:
    path = kubectl.manifest("agent.yaml", ds_yaml())
    assert kubectl("apply", "-f", path).stdout.strip() == "daemonset.apps/agent created"
    status = kubectl("rollout", "status", "daemonset/agent", "--timeout=60s")
    assert lines(status.stdout)[-1] == 'daemon set "agent" successfully rolled out'
    ds = kubectl.json("daemonset", "agent")
    assert ds["spec"]["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
    }
    assert ds["status"]["desiredNumberScheduled"] == 1 and ds["status"]["numberAvailable"] == 1
    (pod,) = pods(sandbox, "DaemonSet", "agent")
    assert pod["spec"]["nodeName"] == "sandbox-node"
    assert pod["metadata"]["labels"]["pod-template-generation"] == "1"
    assert kubectl("apply", "-f", path).stdout.strip() == "daemonset.apps/agent unchanged"

    path2 = kubectl.manifest("agent2.yaml", ds_yaml("fluentd:1.17"))
    diff = kubectl("diff", "-f", path2, ok=False)
    assert diff.returncode == 1 and "fluentd:1.17" in diff.stdout
    kubectl("apply", "-f", path2)
    status = kubectl("rollout", "status", "daemonset/agent", "--timeout=60s")
    assert lines(status.stdout)[-1] == 'daemon set "agent" successfully rolled out'
    ds = kubectl.json("daemonset", "agent")
    assert ds["status"]["observedGeneration"] == 2 and ds["status"]["updatedNumberScheduled"] == 1
    (pod,) = pods(sandbox, "DaemonSet", "agent")
    assert pod["spec"]["containers"][0]["image"] == "fluentd:1.17"
    kubectl.record(
        "rollout status daemonset (new image)",
        'daemon set "agent" successfully rolled out; its one pod has the new image',
        f"{lines(status.stdout)[-1]}; {pod['spec']['containers'][0]['image']}",
    )
    # maxSurge: the new pod starts beside the old one, which goes once the new one is available
    surge = ds_yaml("fluentd:1.18").replace(
        "spec:\n  selector",
        "spec:\n  updateStrategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}\n  selector",
        1,
    )
    mark = sandbox.store.resource_version
    kubectl("apply", "-f", kubectl.manifest("agent3.yaml", surge))
    status = kubectl("rollout", "status", "daemonset/agent", "--timeout=60s")
    assert lines(status.stdout)[-1] == 'daemon set "agent" successfully rolled out'
    (pod,) = wait_until(lambda: len(p := pods(sandbox, "DaemonSet", "agent")) == 1 and p)
    assert pod["spec"]["containers"][0]["image"] == "fluentd:1.18"
    order = [
        (e.type, e.obj["spec"]["containers"][0]["image"])
        for e in sandbox.store.events_since(mark)
        if e.resource == "/pods" and e.type in ("ADDED", "DELETED")
    ]
    assert order == [("ADDED", "fluentd:1.18"), ("DELETED", "fluentd:1.17")], order
    kubectl("delete", "-f", path2)
    wait_until(lambda: not pods(sandbox, "DaemonSet", "agent"))


def test_job_completes_and_kubectl_wait_sees_it(kubectl: Kubectl, sandbox: SandboxHandle) -> None:
    path = kubectl.manifest(
        "pi.yaml", job_yaml("pi", "perl:5.34", "  completions: 3\n  parallelism: 2\n")
    )
    assert kubectl("apply", "-f", path).stdout.strip() == "job.batch/pi created"
    waited = kubectl("wait", "--for=condition=complete", "job/pi", "--timeout=60s")
    assert waited.stdout.strip() == "job.batch/pi condition met"
    job = kubectl.json("job", "pi")
    status = job["status"]
    assert [c["type"] for c in status["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert {c["reason"] for c in status["conditions"]} == {"CompletionsReached"}
    assert status["succeeded"] == 3 and "active" not in status and "failed" not in status
    assert status["startTime"] and status["completionTime"]
    assert status["ready"] == 0 and status["terminating"] == 0
    uid = job["metadata"]["uid"]
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert job["spec"]["backoffLimit"] == 6 and job["spec"]["completionMode"] == "NonIndexed"
    assert job["metadata"]["labels"]["job-name"] == "pi"
    done = pods(sandbox, "Job", "pi")
    assert len(done) == 3 and {p["status"]["phase"] for p in done} == {"Succeeded"}
    table = kubectl("get", "job", "pi").stdout.splitlines()
    assert table[1].split()[:3] == ["pi", "Complete", "3/3"], table
    assert kubectl("apply", "-f", path).stdout.strip() == "job.batch/pi unchanged"
    kubectl.record(
        "wait --for=condition=complete job (3 completions)",
        "job.batch/pi condition met; SuccessCriteriaMet then Complete; 3 pods Succeeded",
        f"{waited.stdout.strip()}; {[c['type'] for c in status['conditions']]}",
    )
    changed = job_yaml("pi", "perl:5.36", "  completions: 3\n  parallelism: 2\n")
    diff = kubectl("diff", "-f", kubectl.manifest("pi2.yaml", changed), ok=False)
    # a server-side dry-run refused: kubectl diff exits > 1 with the server's message
    assert diff.returncode > 1 and "field is immutable" in diff.stderr, diff.stderr
    kubectl("delete", "job", "pi")
    wait_until(lambda: not pods(sandbox, "Job", "pi"))


def test_crashlooping_job_fails_and_kubectl_wait_sees_it(
    kubectl: Kubectl, sandbox: SandboxHandle
) -> None:
    path = kubectl.manifest("bad.yaml", job_yaml("bad", "app:crashloop", "  backoffLimit: 2\n"))
    kubectl("apply", "-f", path)
    waited = kubectl("wait", "--for=condition=failed", "job/bad", "--timeout=60s")
    assert waited.stdout.strip() == "job.batch/bad condition met"
    status = kubectl.json("job", "bad")["status"]
    assert [(c["type"], c["reason"]) for c in status["conditions"]] == [
        ("FailureTarget", "BackoffLimitExceeded"),
        ("Failed", "BackoffLimitExceeded"),
    ]
    assert status["conditions"][1]["message"] == "Job has reached the specified backoff limit"
    assert status["failed"] == 3 and "completionTime" not in status
    assert {p["status"]["phase"] for p in pods(sandbox, "Job", "bad")} == {"Failed"}
    never = kubectl("wait", "--for=condition=complete", "job/bad", "--timeout=1s", ok=False)
    assert never.returncode == 1 and "timed out" in never.stderr
    kubectl.record(
        "wait --for=condition=failed job (:crashloop, backoffLimit 2)",
        "condition met; FailureTarget then Failed (BackoffLimitExceeded); 3 failed pods",
        f"{waited.stdout.strip()}; failed {status['failed']}",
    )


def test_a_pending_job_never_finishes(kubectl: Kubectl, sandbox: SandboxHandle) -> None:
    kubectl("apply", "-f", kubectl.manifest("stuck.yaml", job_yaml("stuck", "app:pullerror")))
    wait_until(
        lambda: any(
            (c.get("state") or {}).get("waiting", {}).get("reason") == "ImagePullBackOff"
            for p in pods(sandbox, "Job", "stuck")
            for c in p["status"].get("containerStatuses") or []
        )
    )
    status = kubectl.json("job", "stuck")["status"]
    assert status["active"] == 1 and "conditions" not in status
    assert kubectl("rollout", "status", "job/stuck", ok=False).stderr.strip() == (
        "error: no status viewer has been implemented for Job.batch"
    )


def test_cronjob_and_controllerrevision_are_stored_and_served(kubectl: Kubectl) -> None:
    path = kubectl.manifest("nightly.yaml", CRONJOB)
    assert kubectl("apply", "-f", path).stdout.strip() == "cronjob.batch/nightly created"
    cj = kubectl.json("cronjob", "nightly")
    assert cj["spec"]["concurrencyPolicy"] == "Allow" and cj["spec"]["suspend"] is False
    assert (
        cj["spec"]["successfulJobsHistoryLimit"] == 3 and cj["spec"]["failedJobsHistoryLimit"] == 1
    )
    pod_spec = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod_spec["dnsPolicy"] == "ClusterFirst"
    row = kubectl("get", "cronjob", "nightly").stdout.splitlines()[1]
    assert row.startswith("nightly") and "0 3 * * *" in row and "False" in row, row
    assert kubectl("apply", "-f", path).stdout.strip() == "cronjob.batch/nightly unchanged"
    # kubectl builds the Job from the CronJob's jobTemplate and sends it as protobuf
    manual = kubectl("create", "job", "manual", "--from=cronjob/nightly")
    assert manual.stdout.strip() == "job.batch/manual created"
    made = kubectl.json("job", "manual")
    assert made["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert made["metadata"]["ownerReferences"][0]["name"] == "nightly"
    kubectl("wait", "--for=condition=complete", "job/manual", "--timeout=60s")
    changed = CRONJOB.replace('"0 3 * * *"', '"30 4 * * *"')
    diff = kubectl("diff", "-f", kubectl.manifest("nightly2.yaml", changed), ok=False)
    assert diff.returncode == 1 and "30 4 * * *" in diff.stdout
    kubectl("delete", "-f", path)
    assert kubectl("get", "cronjob", "nightly", ok=False).returncode != 0
    too_long = CRONJOB.replace("name: nightly", "name: " + "n" * 53)
    refused = kubectl("apply", "-f", kubectl.manifest("long.yaml", too_long), ok=False)
    assert refused.returncode == 1 and "must be no more than 52 characters" in refused.stderr

    revision = """\
apiVersion: apps/v1
kind: ControllerRevision
metadata: {name: manual-1}
data: {spec: {template: {metadata: {labels: {app: x}}}}}
revision: 1
"""
    rpath = kubectl.manifest("cr.yaml", revision)
    assert (
        kubectl("apply", "-f", rpath).stdout.strip() == "controllerrevision.apps/manual-1 created"
    )
    assert kubectl.json("controllerrevision", "manual-1")["revision"] == 1
    assert (
        kubectl("apply", "-f", rpath).stdout.strip() == "controllerrevision.apps/manual-1 unchanged"
    )
    diff = kubectl(
        "diff",
        "-f",
        kubectl.manifest("cr2.yaml", revision.replace("revision: 1", "revision: 2")),
        ok=False,
    )
    assert diff.returncode == 1 and "revision: 2" in diff.stdout
    kubectl("delete", "-f", rpath)
    assert kubectl("get", "controllerrevision", "manual-1", ok=False).returncode != 0
