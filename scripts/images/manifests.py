"""The Kubernetes manifests read as container runs: what `make images-check` starts is what they declare.

Each container of a Deployment, StatefulSet or Job (init containers and sidecars included) becomes a
`ContainerRun`: its image (by the name after the registry, e.g. "retrieval"), command and args, environment
(the ConfigMaps and Secrets it reads, resolved), ports, probes, user and groups, read-only root, dropped
capabilities, and its mounts: the pod's writable volumes (emptyDir, volume claims) by name, so the containers
of one pod can share them, and ConfigMaps as read-only files.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from scripts.images.engine import REPO_ROOT

K8S = REPO_ROOT / "deploy" / "k8s"
KUBECTL = str(Path(sys.executable).parent / "kubectl")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")


def render(directory: Path = K8S) -> list[dict]:
    """`kubectl kustomize` of a directory, offline."""
    result = subprocess.run([KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {directory} failed: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@dataclass(frozen=True)
class Probe:
    port: int
    grpc_service: str | None = None  # a gRPC health check of this service name ("" is the server as a whole)
    http_path: str | None = None
    exec_command: tuple[str, ...] | None = None
    seconds: float = 120.0  # how long the manifest lets a container take to pass it (its startup probe's budget)


@dataclass
class ContainerRun:
    workload: str
    container: str
    kind: str  # Deployment, StatefulSet or Job
    init: bool  # an init container: runs to completion before the workload's containers start...
    sidecar: bool  # ...unless it is a sidecar (restartPolicy: Always): started first, then runs beside them
    image: str  # the reference in the manifest
    command: list[str] | None
    args: list[str] | None
    env: dict[str, str]
    ports: dict[str, int]
    user: str | None  # "uid:gid"
    groups: list[int]
    read_only: bool
    no_new_privileges: bool
    dropped_capabilities: list[str]
    writable: dict[str, str] = field(default_factory=dict)  # mount path -> the pod's volume (emptyDir or claim)
    files: dict[str, str] = field(default_factory=dict)  # mount path -> content (one key of a ConfigMap)
    config_maps: dict[str, str] = field(default_factory=dict)  # mount path -> ConfigMap name (its keys as files)
    readiness: Probe | None = None

    @property
    def image_name(self) -> str:
        """The image's name without registry and tag: which Dockerfile target (or third-party image) it is."""
        return self.image.rsplit("/", 1)[-1].split(":", 1)[0]


def _port(value: int | str, ports: dict[str, int]) -> int:
    return ports[value] if isinstance(value, str) else int(value)


def _probe(container: dict, ports: dict[str, int]) -> Probe | None:
    probe = container.get("readinessProbe")
    if probe is None:
        return None
    startup = container.get("startupProbe") or probe
    seconds = float(startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3) + startup.get("initialDelaySeconds", 0))
    if "grpc" in probe:
        return Probe(_port(probe["grpc"]["port"], ports), grpc_service=probe["grpc"].get("service", ""), seconds=max(seconds, 120))
    if "httpGet" in probe:
        return Probe(_port(probe["httpGet"]["port"], ports), http_path=probe["httpGet"]["path"], seconds=max(seconds, 120))
    if "exec" in probe:
        return Probe(0, exec_command=tuple(probe["exec"]["command"]), seconds=max(seconds, 120))
    return None


def container_runs(documents: list[dict], secrets: dict[str, dict[str, str]] | None = None) -> list[ContainerRun]:
    """Every workload container, in the order the manifests list them. `secrets` stands in for the cluster's
    Secrets (name -> data); ConfigMaps come from the documents themselves."""
    secrets = secrets or {}
    config_maps = {doc["metadata"]["name"]: doc.get("data", {}) for doc in documents if doc["kind"] == "ConfigMap"}
    runs = []
    for doc in documents:
        if doc["kind"] not in WORKLOAD_KINDS:
            continue
        pod = doc["spec"]["template"]["spec"]
        pod_security = pod.get("securityContext", {})
        volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
        claims = {claim["metadata"]["name"] for claim in doc["spec"].get("volumeClaimTemplates", [])}
        containers = [(True, c) for c in pod.get("initContainers", [])] + [(False, c) for c in pod["containers"]]
        for init, container in containers:
            security = {**pod_security, **container.get("securityContext", {})}
            ports = {port.get("name", str(port["containerPort"])): port["containerPort"] for port in container.get("ports", [])}
            env: dict[str, str] = {}
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    env.update(config_maps[source["configMapRef"]["name"]])
                elif "secretRef" in source:
                    name = source["secretRef"]["name"]
                    if name not in secrets and not source["secretRef"].get("optional"):
                        raise KeyError(f"{doc['metadata']['name']} needs Secret {name}")
                    env.update(secrets.get(name, {}))
            for variable in container.get("env", []):
                if "value" in variable:
                    env[variable["name"]] = variable["value"]
                elif "secretKeyRef" in (variable.get("valueFrom") or {}):
                    ref = variable["valueFrom"]["secretKeyRef"]
                    if ref["key"] in secrets.get(ref["name"], {}):
                        env[variable["name"]] = secrets[ref["name"]][ref["key"]]
            uid, gid = security.get("runAsUser"), security.get("runAsGroup")
            run = ContainerRun(
                workload=doc["metadata"]["name"],
                container=container["name"],
                kind=doc["kind"],
                init=init,
                sidecar=init and container.get("restartPolicy") == "Always",
                image=container["image"],
                command=container.get("command"),
                args=container.get("args"),
                env=env,
                ports=ports,
                user=None if uid is None else f"{uid}:{gid if gid is not None else uid}",
                groups=[pod_security["fsGroup"]] if "fsGroup" in pod_security else [],
                read_only=bool(security.get("readOnlyRootFilesystem")),
                no_new_privileges=security.get("allowPrivilegeEscalation") is False,
                dropped_capabilities=list(security.get("capabilities", {}).get("drop", [])),
                readiness=_probe(container, ports),
            )
            for mount in container.get("volumeMounts", []):
                path, volume = mount["mountPath"], volumes.get(mount["name"])
                if mount["name"] in claims or (volume is not None and "emptyDir" in volume):
                    run.writable[path] = mount["name"]
                elif volume is None:
                    raise KeyError(f"{run.workload} mounts unknown volume {mount['name']}")
                elif "configMap" in volume and "subPath" in mount:
                    run.files[path] = config_maps[volume["configMap"]["name"]][mount["subPath"]]
                elif "configMap" in volume:
                    run.config_maps[path] = volume["configMap"]["name"]
                else:
                    raise ValueError(f"{run.workload}: volume {mount['name']} is of a kind this check cannot run")
            runs.append(run)
    return runs


def service_names(documents: list[dict], workload: str) -> list[str]:
    """The names of the Services that select a workload's pods: the addresses other containers reach it by."""
    labels = next(doc["spec"]["template"]["metadata"].get("labels", {}) for doc in documents
                  if doc["kind"] in WORKLOAD_KINDS and doc["metadata"]["name"] == workload)
    return [doc["metadata"]["name"] for doc in documents
            if doc["kind"] == "Service" and doc["spec"].get("selector") and labels.items() >= doc["spec"]["selector"].items()]


def secret_templates(token: str) -> dict[str, dict[str, str]]:
    """The Secrets the manifests read, from the repository's templates (*secret.example.yaml), with every
    placeholder replaced by `token`: values that must agree (the database password and its URL) then do."""
    secrets: dict[str, dict[str, str]] = {}
    for path in sorted(K8S.glob("*secret.example.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Secret":
                data = {key: str(value).replace("replace-me", token) for key, value in doc.get("stringData", {}).items()}
                secrets.setdefault(doc["metadata"]["name"], {}).update(data)
    return secrets
