"""The console's Kubernetes manifests, and org configs mirrored from the database into every pod that reads
them: they render, validate (with the others, in test_deploy) and agree with the code."""

from __future__ import annotations

import re

import yaml

from services.cli.main import build_parser
from services.common.settings import DEFAULT_GRPC_PORTS
from services.console.config import ConsoleSettings
from services.gateway.orgs import REFRESH_SECONDS
from tests.unit.test_deploy import K8S, config, named, pod_specs, workloads

SERVICES = ("gateway", "retrieval", "stt", "llm", "tts")


def console_names() -> set[str]:
    prefix = ConsoleSettings.model_config["env_prefix"]
    return {info.validation_alias if isinstance(info.validation_alias, str) else f"{prefix}{field}".upper()
            for field, info in ConsoleSettings.model_fields.items()}  # fmt: skip


def parse(command: str) -> list:
    """Each `voiceagent ...` in a shell line, parsed by the real command line."""
    return [build_parser().parse_args(part.split()[1:]) for part in re.findall(r"voiceagent [^;]+", command)]


def test_the_console_runs_on_its_port_with_its_probes_secret_and_settings():
    pod = named("Deployment", "console")["spec"]["template"]
    [container] = pod["spec"]["containers"]
    assert container["image"].endswith("/console:latest")
    assert container["ports"] == [{"name": "http", "containerPort": ConsoleSettings().http_port}]
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(ConsoleSettings().http_port)
    assert (container["readinessProbe"]["httpGet"]["path"], container["livenessProbe"]["httpGet"]["path"]) == ("/readyz", "/healthz")
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env == {"CONSOLE_HTTP_PORT": "8080", "CONSOLE_SECURE_COOKIES": "true", "VOICEAGENT_ORG_CONFIGS": "database"}
    assert set(env) <= console_names()
    assert {"secretRef": {"name": "voiceagent-console"}} in container["envFrom"]
    secret = yaml.safe_load((K8S / "console-secret.example.yaml").read_text())
    assert secret["metadata"]["name"] == "voiceagent-console" and set(secret["stringData"]) == {"CONSOLE_SESSION_KEY"} <= console_names()
    # What the console reads from the shared config points at services that exist.
    assert {"RETRIEVAL_ADDR", "LLM_ADDR", "VOICEAGENT_DATA_DIR"} <= set(config()) & console_names()


def test_the_console_seeds_the_org_configs_once_the_schema_is_current():
    [init] = named("Deployment", "console")["spec"]["template"]["spec"]["initContainers"]
    shell, flag, script = init["command"]
    wait, seed = parse(script)
    assert (shell, flag, wait.command, wait.db_command) == ("sh", "-c", "db", "current")
    assert (seed.command, seed.orgs_command, [str(p) for p in seed.paths], seed.replace) == ("orgs", "import", ["/seed"], False)
    assert {"name": "orgs", "mountPath": "/seed", "readOnly": True} in init["volumeMounts"]


def test_the_console_has_its_own_host_and_reaches_only_the_database_retrieval_and_the_llm():
    service = named("Service", "console")["spec"]
    assert service["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]
    ingress = named("Ingress", "console")["spec"]
    [rule] = ingress["rules"]
    assert rule["http"]["paths"][0]["backend"]["service"] == {"name": "console", "port": {"name": "http"}}
    assert rule["host"] not in {r["host"] for r in named("Ingress", "gateway")["spec"]["rules"]}
    assert all("from" in rule for rule in named("NetworkPolicy", "console-from-ingress")["spec"]["ingress"])
    egress = named("NetworkPolicy", "console-egress")["spec"]
    assert egress["policyTypes"] == ["Egress"]
    reached = {(peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name", "dns"), port["port"])
               for rule in egress["egress"] for peer in rule["to"] for port in rule["ports"]}  # fmt: skip
    assert reached == {("postgres", 5432), ("retrieval", DEFAULT_GRPC_PORTS["retrieval"]), ("llm", DEFAULT_GRPC_PORTS["llm"]), ("dns", 53)}


def test_no_pod_mounts_an_org_config_that_can_never_change():
    for name, pod in pod_specs():
        for container in pod["spec"]["containers"] + pod["spec"].get("initContainers", []):
            assert not any(mount.get("subPath") for mount in container.get("volumeMounts", [])), (name, container["name"])


def test_every_service_mirrors_the_org_configs_where_it_reads_them_within_a_minute():
    data_dir = config()["VOICEAGENT_DATA_DIR"]
    for workload in workloads():
        name = workload["metadata"]["name"]
        if name not in SERVICES:
            continue
        spec = workload["spec"]["template"]["spec"]
        [container] = spec["containers"]
        [reads] = [mount["name"] for mount in container["volumeMounts"] if mount["mountPath"] == data_dir]
        inits = {init["name"]: init for init in spec["initContainers"]}
        once, sidecar = inits["org-configs"], inits["org-sync"]
        assert "restartPolicy" not in once and sidecar["restartPolicy"] == "Always"
        for init, watching in ((once, False), (sidecar, True)):
            options = build_parser().parse_args(init["command"][1:])
            assert (options.command, options.orgs_command, [str(p) for p in options.seed]) == ("orgs", "sync", ["/seed"])
            assert (options.watch is not None) == watching
            assert {"name": reads, "mountPath": data_dir} in init["volumeMounts"]
        assert build_parser().parse_args(sidecar["command"][1:]).watch + REFRESH_SECONDS <= 60
        assert workload["spec"]["template"]["metadata"]["labels"]["voiceagent.io/database-client"] == "true"

