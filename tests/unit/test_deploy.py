"""The Kubernetes manifests and the Dockerfile: they render, validate, and agree with the code."""

from __future__ import annotations

import argparse
import filecmp
import importlib.util
import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import kubernetes_validate
import yaml

from services.cli import db_commands
from services.cli.main import build_parser
from services.common.orgs import EVENTS_SECRET_PREFIX, load_org_config
from services.common.records.settings import EventSettings, RecordsSettings
from services.common.settings import DEFAULT_GRPC_PORTS, DEFAULT_METRICS_PORTS
from services.gateway.config import GatewaySettings
from services.llm.config import LlmSettings
from services.retrieval.config import RetrievalSettings
from services.stt.config import SttSettings
from services.tts.config import TtsSettings
from tests.conftest import REPO_ROOT

K8S = REPO_ROOT / "deploy" / "k8s"
KUBECTL = str(Path(sys.executable).parent / "kubectl")
KUBERNETES_VERSION = "1.37"
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
GRPC_SERVICES = {"stt": "voiceagent.v1.SpeechToText", "retrieval": "voiceagent.v1.Retrieval", "llm": "voiceagent.v1.Generation", "tts": "voiceagent.v1.TextToSpeech"}


def render(directory: Path) -> list[dict]:
    result = subprocess.run([KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@cache
def base() -> tuple[dict, ...]:
    return tuple(render(K8S))


def objects(kind: str) -> list[dict]:
    return [doc for doc in base() if doc["kind"] == kind]


def named(kind: str, name: str) -> dict:
    return next(doc for doc in objects(kind) if doc["metadata"]["name"] == name)


def workloads() -> list[dict]:
    return objects("Deployment") + objects("StatefulSet")


def pod_specs() -> list[tuple[str, dict]]:
    """(name, pod template) of everything that runs a pod: workloads, Jobs and CronJobs."""
    pods = [(w["metadata"]["name"], w["spec"]["template"]) for w in workloads() + objects("Job")]
    return pods + [(c["metadata"]["name"], c["spec"]["jobTemplate"]["spec"]["template"]) for c in objects("CronJob")]


def config() -> dict[str, str]:
    return named("ConfigMap", "voiceagent-config")["data"]


def environment_names() -> set[str]:
    """Every environment variable the services' settings read."""
    names = set()
    for settings in (RetrievalSettings, SttSettings, LlmSettings, TtsSettings, GatewaySettings, RecordsSettings, EventSettings):
        prefix = settings.model_config.get("env_prefix", "")
        for field, info in settings.model_fields.items():
            names.add(info.validation_alias if isinstance(info.validation_alias, str) else f"{prefix}{field}".upper())
    return names


def test_every_object_is_valid_against_the_kubernetes_schemas():
    kinds = {doc["kind"] for doc in base()}
    assert {"Namespace", "Deployment", "StatefulSet", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
            "NetworkPolicy", "ConfigMap", "Ingress", "ServiceMonitor", "PrometheusRule", "Job", "CronJob"} <= kinds
    for doc in base():
        if doc["kind"] not in CRD_KINDS:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        assert doc["kind"] == "Namespace" or doc["metadata"]["namespace"] == "voiceagent"


def test_custom_resources_have_their_required_fields():
    monitors = objects("ServiceMonitor")
    assert sorted(m["metadata"]["name"] for m in monitors) == ["gateway", "llm", "retrieval", "stt", "tts"]
    services = {s["metadata"]["name"]: s for s in objects("Service")}
    for monitor in monitors:
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        selected = [s for s in services.values() if s["metadata"]["labels"].items() >= monitor["spec"]["selector"]["matchLabels"].items()]
        ports = {port["name"] for s in selected for port in s["spec"]["ports"]}
        assert monitor["spec"]["endpoints"] and all(endpoint["port"] in ports for endpoint in monitor["spec"]["endpoints"])
    [rules] = objects("PrometheusRule")
    assert rules["spec"]["groups"]
    for group in rules["spec"]["groups"]:
        assert group["name"] and group["rules"]
        for rule in group["rules"]:
            assert rule["expr"] and ("alert" in rule or "record" in rule)


def test_ports_probes_and_images_match_the_code():
    env = config()
    for name, grpc_port in DEFAULT_GRPC_PORTS.items():
        assert env[f"{name.upper()}_GRPC_PORT"] == str(grpc_port)
        assert env[f"{name.upper()}_METRICS_PORT"] == str(DEFAULT_METRICS_PORTS[name])
        workload = next(w for w in workloads() if w["metadata"]["name"] == name)
        pod = workload["spec"]["template"]
        [container] = pod["spec"]["containers"]
        assert container["image"].endswith(f"/{name}:latest")
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert ports == {"grpc": grpc_port, "metrics": DEFAULT_METRICS_PORTS[name]}
        assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(DEFAULT_METRICS_PORTS[name])
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == grpc_port
        assert container["readinessProbe"]["grpc"]["service"] == GRPC_SERVICES[name]
        assert container["startupProbe"]["periodSeconds"] * container["startupProbe"]["failureThreshold"] >= 120
    gateway = named("Deployment", "gateway")["spec"]["template"]["spec"]["containers"][0]
    assert gateway["ports"][0]["containerPort"] == int(env["GATEWAY_HTTP_PORT"]) == GatewaySettings().http_port
    assert (gateway["readinessProbe"]["httpGet"]["path"], gateway["livenessProbe"]["httpGet"]["path"]) == ("/readyz", "/healthz")


def test_service_addresses_point_at_services_that_expose_them():
    env = config()
    services = {s["metadata"]["name"]: {p["port"] for p in s["spec"]["ports"]} for s in objects("Service")}
    for name in DEFAULT_GRPC_PORTS:
        host, port = env[f"{name.upper()}_ADDR"].removeprefix("dns:///").split(":")
        assert int(port) in services[host], name
    redis_host, redis_port = re.match(r"redis://([^:/]+):(\d+)", env["REDIS_URL"]).groups()
    assert int(redis_port) in services[redis_host]


def test_configured_variables_are_ones_the_code_reads():
    assert set(config()) <= environment_names(), set(config()) - environment_names()
    app_secret, postgres_secret = secrets()
    read_by_boto3 = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    # Each org's event signing secret is read by name at delivery (services.common.records.signing).
    events_secrets = {name for name in app_secret["stringData"] if name.startswith(EVENTS_SECRET_PREFIX)}
    assert set(app_secret["stringData"]) - events_secrets <= environment_names() | read_by_boto3
    assert set(postgres_secret["stringData"]) == {"POSTGRES_PASSWORD"}  # read by the postgres image
    assert all("replace-me" in value for value in [*app_secret["stringData"].values(), *postgres_secret["stringData"].values()])


def secrets() -> list[dict]:
    """The Secret templates (not applied by the kustomization): the services' and the in-cluster database's."""
    return list(yaml.safe_load_all((K8S / "secret.example.yaml").read_text()))


def test_pods_run_locked_down_with_resources():
    for _name, pod in pod_specs():
        spec = pod["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        for container in spec["containers"] + spec.get("initContainers", []):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and {"cpu", "memory"} <= set(container["resources"]["limits"])


def test_only_the_gateway_is_open_and_retrieval_to_client_namespaces():
    policies = {p["metadata"]["name"]: p for p in objects("NetworkPolicy")}
    assert policies["default-deny-ingress"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    open_to_all = [p for p in policies.values() if any("from" not in rule for rule in p["spec"].get("ingress", []))]
    assert [p["metadata"]["name"] for p in open_to_all] == ["gateway-from-anywhere"]
    retrieval_rule = policies["retrieval-from-client-namespaces"]["spec"]["ingress"][0]
    assert retrieval_rule["from"][0]["namespaceSelector"]["matchLabels"] == {"voiceagent.io/retrieval-client": "true"}


def test_the_gateway_scales_and_survives_disruptions():
    assert named("Deployment", "gateway")["spec"]["replicas"] >= 2
    hpa = named("HorizontalPodAutoscaler", "gateway")["spec"]
    assert hpa["scaleTargetRef"]["name"] == "gateway" and hpa["minReplicas"] >= 2
    assert named("PodDisruptionBudget", "gateway")["spec"]["minAvailable"] == 1


def retrieval_env() -> dict[str, dict]:
    [container] = named("Deployment", "retrieval")["spec"]["template"]["spec"]["containers"]
    return {variable["name"]: variable for variable in container["env"]}


def test_retrieval_replicas_are_stateless_scale_and_survive_disruptions():
    retrieval = named("Deployment", "retrieval")["spec"]
    assert retrieval["replicas"] >= 2 and retrieval["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert not objects("StatefulSet") or "retrieval" not in {s["metadata"]["name"] for s in objects("StatefulSet")}
    volumes = retrieval["template"]["spec"]["volumes"]
    assert all("emptyDir" in volume or "configMap" in volume for volume in volumes)
    hpa = named("HorizontalPodAutoscaler", "retrieval")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "retrieval"} and hpa["minReplicas"] >= 2
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    assert named("PodDisruptionBudget", "retrieval")["spec"]["minAvailable"] == 1
    # Clients balance over every ready replica: the address is the headless Service's, resolved by gRPC.
    assert config()["RETRIEVAL_ADDR"] == "dns:///retrieval-headless:50052"
    headless = named("Service", "retrieval-headless")["spec"]
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is False


def test_retrieval_uses_the_in_cluster_store_through_variables_the_code_reads(monkeypatch):
    env = retrieval_env()
    assert set(env) <= environment_names() | {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    for name, variable in env.items():
        if "value" in variable:
            monkeypatch.setenv(name, variable["value"])
    settings = RetrievalSettings()
    bucket = settings.store.removeprefix("s3://").split("/")[0]
    [job] = [job for job in objects("Job") if job["metadata"]["name"] == "minio-create-bucket"]
    assert f"store/{bucket}" in job["spec"]["template"]["spec"]["containers"][0]["args"][0]
    host, port = re.match(r"http://([^:/]+):(\d+)$", settings.aws_endpoint_url).groups()
    assert int(port) in {p["port"] for p in named("Service", host)["spec"]["ports"]}
    # Only retrieval gets the endpoint: in the shared config it would redirect tts's Polly client too.
    assert "AWS_ENDPOINT_URL" not in config()
    secret = yaml.safe_load((K8S / "shard-store-secret.example.yaml").read_text())
    assert set(secret["stringData"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} and set(secret["stringData"].values()) == {"replace-me"}
    minio = {v["name"]: v for v in named("StatefulSet", "minio")["spec"]["template"]["spec"]["containers"][0]["env"]}
    for variable in [env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"]]:
        reference = variable["valueFrom"]["secretKeyRef"]
        assert reference["name"] == secret["metadata"]["name"] and reference["key"] in secret["stringData"]


def test_only_retrieval_reaches_the_shard_store():
    policy = named("NetworkPolicy", "minio-from-shard-store-clients")["spec"]
    assert policy["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "minio"}
    [rule] = policy["ingress"]
    assert {"app.kubernetes.io/name": "retrieval"} in [source["podSelector"]["matchLabels"] for source in rule["from"]]
    [job] = [job for job in objects("Job") if job["metadata"]["name"] == "minio-create-bucket"]
    assert job["spec"]["template"]["metadata"]["labels"]["voiceagent.io/shard-store-client"] == "true"


def test_the_external_s3_component_replaces_the_in_cluster_store(tmp_path):
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{os.path.relpath(K8S, tmp_path)}]\n"
        f"components: [{os.path.relpath(K8S / 'components' / 'external-s3', tmp_path)}]\n"
    )
    rendered = render(tmp_path)
    assert not [doc for doc in rendered if "minio" in doc["metadata"]["name"]]
    [retrieval] = [doc for doc in rendered if (doc["kind"], doc["metadata"]["name"]) == ("Deployment", "retrieval")]
    env = {variable["name"]: variable for variable in retrieval["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["RETRIEVAL_STORE"]["value"].startswith("s3://") and "AWS_ENDPOINT_URL" not in env
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "RETRIEVAL_CACHE_DIR"} <= set(env)
    for doc in rendered:
        if doc["kind"] not in CRD_KINDS:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_org_configs_in_the_cluster_are_the_repository_ones():
    for copy in (K8S / "orgs").glob("*.json"):
        assert filecmp.cmp(copy, REPO_ROOT / "data" / copy.stem / "config.json", shallow=False), copy
    dashboards = named_prefix("ConfigMap", "voiceagent-dashboards")
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert sorted(dashboards["data"]) == sorted(p.name for p in (K8S / "dashboards").glob("*.json"))
    assert all(json.loads(body)["title"] for body in dashboards["data"].values())


def named_prefix(kind: str, prefix: str) -> dict:
    return next(doc for doc in objects(kind) if doc["metadata"]["name"].startswith(prefix))


def test_the_vendor_component_switches_backends_without_editing_the_base(tmp_path):
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{os.path.relpath(K8S, tmp_path)}]\ncomponents: [{os.path.relpath(K8S / 'components' / 'vendors', tmp_path)}]\n"
    )
    rendered = render(tmp_path)
    env = next(doc for doc in rendered if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "voiceagent-config")["data"]
    assert (env["STT_BACKEND"], env["LLM_BACKEND"], env["TTS_BACKEND"], env["RETRIEVAL_EMBEDDER"]) == ("openai", "openai", "polly", "openai")
    assert set(env) <= environment_names()
    assert (config()["STT_BACKEND"], config()["TTS_BACKEND"]) == ("local", "local")


def test_the_ingest_job_runs_a_real_voiceagent_command():
    [job] = render(K8S / "ingest")
    kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[0] == "voiceagent"
    options = build_parser().parse_args(command[1:])
    assert options.command == "ingest" and options.org == "acme"


def dockerfile_stages() -> dict[str, list[str]]:
    stages: dict[str, list[str]] = {}
    current = None
    for line in (REPO_ROOT / "Dockerfile").read_text().splitlines():
        if match := re.match(r"FROM \S+ AS (\S+)", line):
            current = match.group(1)
            stages[current] = []
        elif current and line.strip() and not line.startswith("#"):
            stages[current].append(line.strip())
    return stages


def test_the_dockerfile_copies_files_that_exist_and_runs_real_modules():
    stages = dockerfile_stages()
    assert {"gateway", "stt", "retrieval", "llm", "tts"} <= set(stages)
    for lines in stages.values():
        for line in lines:
            if line.startswith("COPY") and "--from=" not in line:
                for source in line.split()[1:-1]:
                    assert (REPO_ROOT / source).exists(), source
    for service in ("gateway", "stt", "retrieval", "llm", "tts"):
        [command] = [line for line in stages[service] if line.startswith("CMD")]
        assert json.loads(command[len("CMD "):]) == ["python", "-m", f"services.{service}"]
        assert importlib.util.find_spec(f"services.{service}.__main__") is not None
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored



def test_the_call_store_runs_in_the_cluster_on_its_own_volume():
    postgres = named("StatefulSet", "postgres")["spec"]
    [container] = postgres["template"]["spec"]["containers"]
    env = {item["name"]: item for item in container["env"]}
    assert postgres["volumeClaimTemplates"][0]["metadata"]["name"] == "data" and postgres["serviceName"] == "postgres"
    [data_mount] = [mount for mount in container["volumeMounts"] if mount["name"] == "data"]
    assert env["PGDATA"]["value"].startswith(data_mount["mountPath"] + "/")
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "voiceagent-postgres", "key": "POSTGRES_PASSWORD"}
    # The URL the services are given names that Service, port, user and database.
    app_secret, _ = secrets()
    url = app_secret["stringData"]["VOICEAGENT_DATABASE_URL"]
    user, host, port, database = re.fullmatch(r"postgresql\+psycopg://(\w+):[^@]+@([\w-]+):(\d+)/(\w+)", url).groups()
    assert (user, database) == (env["POSTGRES_USER"]["value"], env["POSTGRES_DB"]["value"])
    assert int(port) in {p["port"] for p in named("Service", host)["spec"]["ports"]}


def voiceagent_command(pod: dict) -> argparse.Namespace:
    [container] = pod["spec"]["containers"]
    assert container["command"][0] == "voiceagent" and container["image"].endswith("/gateway:latest")
    return build_parser().parse_args(container["command"][1:])


def test_the_migration_job_and_the_purge_schedule_run_real_voiceagent_commands():
    migrate = named("Job", "db-migrate")["spec"]
    options = voiceagent_command(migrate["template"])
    assert (options.command, options.db_command) == ("db", "upgrade")
    assert migrate["backoffLimit"] >= 5, "retried while PostgreSQL starts"
    purge = named("CronJob", "db-purge")["spec"]
    assert purge["concurrencyPolicy"] == "Forbid" and len(purge["schedule"].split()) == 5
    pod = purge["jobTemplate"]["spec"]["template"]
    options = voiceagent_command(pod)
    assert (options.command, options.db_command, options.actor, options.dry_run) == ("db", "purge", "system:purge-cronjob", False)
    # The purge reads each org's retention from the org configs the gateway reads (mirrored from the database).
    gateway = named("Deployment", "gateway")["spec"]["template"]["spec"]
    for spec in (gateway, pod["spec"]):
        assert {"name": "data", "mountPath": "/data"} in spec["containers"][0]["volumeMounts"]
        assert "org-configs" in [init["name"] for init in spec["initContainers"]]
    for spec in (migrate["template"]["spec"], pod["spec"]):
        [env] = [item for item in spec["containers"][0]["env"] if item["name"] == "VOICEAGENT_DATABASE_URL"]
        assert env["valueFrom"]["secretKeyRef"]["name"] == "voiceagent-secrets"


def test_only_the_call_stores_clients_reach_postgres():
    policy = named("NetworkPolicy", "postgres-from-database-clients")["spec"]
    assert policy["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "postgres"}
    [rule] = policy["ingress"]
    assert rule["ports"] == [{"port": 5432}] and rule["from"] == [{"podSelector": {"matchLabels": {"voiceagent.io/database-client": "true"}}}]
    clients = sorted(name for name, pod in pod_specs() if pod["metadata"]["labels"].get("voiceagent.io/database-client") == "true")
    # The console, and every pod that mirrors the org configs from the database (tests/unit/test_deploy_console.py).
    assert clients == ["console", "db-migrate", "db-purge", "gateway", "llm", "retrieval", "stt", "tts"]
    [ingest] = render(K8S / "ingest")
    assert ingest["spec"]["template"]["metadata"]["labels"]["voiceagent.io/database-client"] == "true"


def test_the_gateway_spools_records_on_a_writable_volume_and_shares_its_hash_key():
    gateway = named("Deployment", "gateway")["spec"]["template"]["spec"]
    spool_dir = RecordsSettings(VOICEAGENT_DATA_DIR=config()["VOICEAGENT_DATA_DIR"]).spool_dir
    mounts = {m["mountPath"]: m for m in gateway["containers"][0]["volumeMounts"]}
    assert str(spool_dir) in mounts and not mounts[str(spool_dir)].get("readOnly")
    volumes = {v["name"]: v for v in gateway["volumes"]}
    assert "emptyDir" in volumes[mounts[str(spool_dir)]["name"]]
    app_secret, _ = secrets()
    assert "VOICEAGENT_RECORDS_HASH_KEY" in app_secret["stringData"]
    # Every org that sends events has its signing secret's variable in the template.
    for copy in (K8S / "orgs").glob("*.json"):
        org = load_org_config(REPO_ROOT / "data", copy.stem)
        if org.events_url:
            assert f"{EVENTS_SECRET_PREFIX}{org.org_id.upper().replace('-', '_')}" in app_secret["stringData"]


def test_the_managed_database_component_removes_the_in_cluster_server(tmp_path):
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{os.path.relpath(K8S, tmp_path)}]\n"
        f"components: [{os.path.relpath(K8S / 'components' / 'managed-database', tmp_path)}]\n"
    )
    rendered = {(doc["kind"], doc["metadata"]["name"]) for doc in render(tmp_path)}
    assert not {("StatefulSet", "postgres"), ("Service", "postgres"), ("NetworkPolicy", "postgres-from-database-clients")} & rendered
    assert {("Job", "db-migrate"), ("CronJob", "db-purge"), ("Deployment", "gateway")} <= rendered


def test_a_new_gateway_waits_for_the_migration_but_not_for_a_database_that_is_down():
    init = next(c for c in named("Deployment", "gateway")["spec"]["template"]["spec"]["initContainers"] if c["name"] == "wait-for-schema")
    shell, flag, script = init["command"]
    assert (shell, flag) == ("sh", "-c")
    condition = re.fullmatch(r"until (voiceagent [^;]+); test \$\? -ne (\d); do sleep \d+; done", script)
    options = build_parser().parse_args(condition.group(1).split()[1:])
    assert (options.command, options.db_command) == ("db", "current")
    # It waits only while `db current` says "behind".
    assert int(condition.group(2)) == db_commands.EXIT_NOT_CURRENT != db_commands.EXIT_UNREACHABLE
