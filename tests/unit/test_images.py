"""The container images: what each one installs, how the manifests run them, and the machinery that builds and
checks them.

`make images-check` builds every image and runs the whole stack through a call (minutes, and a container
engine): it is not part of `make test`. These tests check in seconds what that run relies on.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from functools import cache
from pathlib import Path

import pytest

from scripts.images import dockerfile, engine, imports, manifests
from scripts.images.base_image import debian_mirror
from scripts.images.check import mount_sources, run_arguments
from scripts.images.engine import Engine, EngineError
from services.common.settings import DEFAULT_GRPC_PORTS, DEFAULT_METRICS_PORTS
from tests.conftest import REPO_ROOT

STAGES = dockerfile.stages()
TARGETS = dockerfile.image_targets(STAGES)
# The weights packages declare torch; no service imports it, so no image may hold it.
NEVER_IN_AN_IMAGE = {"torch", "sentence-transformers", "transformers", "pip", "setuptools"}


@cache
def rendered() -> tuple[list[dict], list[manifests.ContainerRun]]:
    documents = manifests.render() + manifests.render(manifests.K8S / "ingest")
    return documents, manifests.container_runs(documents, manifests.secret_templates("s3cret-value"))


def our_containers() -> list[manifests.ContainerRun]:
    return [run for run in rendered()[1] if run.image_name in TARGETS]


def runs_voiceagent(run: manifests.ContainerRun) -> bool:
    return any("voiceagent" in part.split() or part == "voiceagent" for part in run.command or [])


def needed(target: str) -> set[str]:
    """The packages an image's programs import: its service (lazy backends included) and, when a manifest runs
    the voiceagent command with it, everything that command imports when it starts."""
    packages = imports.distributions(imports.third_party_imports(f"services.{target}.__main__"))
    if any(runs_voiceagent(run) for run in our_containers() if run.image_name == target):
        packages |= imports.distributions(imports.third_party_imports("services.cli.main", lazy=False))
    return packages


def installed(target: str) -> set[str]:
    """What the target's pip installs put in the image: each named package, with its dependencies unless --no-deps."""
    found: set[str] = set()
    for name, no_deps in dockerfile.packages(target, STAGES).items():
        found |= {imports.canonical(name)} if no_deps else imports.requirements(name)
    return found


def test_there_is_an_image_for_every_service_and_it_runs_that_service():
    services = {path.parent.name for path in (REPO_ROOT / "services").glob("*/__main__.py")}
    assert set(TARGETS) == services
    for target in TARGETS:
        assert STAGES[target].value("CMD") == f'["python", "-m", "services.{target}"]'
        assert STAGES[target].value("USER") == "10001"
    for service, port in DEFAULT_GRPC_PORTS.items():
        assert STAGES[service].value("EXPOSE").split() == [str(port), str(DEFAULT_METRICS_PORTS[service])]


@pytest.mark.parametrize("target", TARGETS)
def test_an_image_holds_every_package_its_programs_import(target):
    missing = needed(target) - installed(target)
    assert not missing, f"the {target} image lacks {sorted(missing)} (add them to its stage in the Dockerfile)"


@pytest.mark.parametrize("target", TARGETS)
def test_an_image_names_no_package_its_programs_do_not_import(target):
    unused = {imports.canonical(name) for name in dockerfile.packages(target, STAGES)} - needed(target)
    assert not unused, f"the {target} image installs {sorted(unused)}, which none of its programs imports"


@pytest.mark.parametrize("target", TARGETS)
def test_no_image_carries_torch_or_the_installer(target):
    assert not installed(target) & NEVER_IN_AN_IMAGE
    # The virtualenv is made without pip, and pip runs from the wheelhouse.
    assert any("venv --without-pip" in line for line in STAGES["python"].instructions)


def test_the_gateway_image_is_the_one_the_jobs_run_voiceagent_with():
    assert {run.image_name for run in our_containers() if runs_voiceagent(run)} == {"gateway"}
    workloads = {run.workload for run in our_containers() if runs_voiceagent(run)}
    assert {"db-migrate", "ingest-acme", "gateway"} <= workloads  # the gateway's init container waits with `db current`


def test_every_install_reads_the_wheelhouse_without_copying_it_into_a_layer():
    wheelhouse_mount = "--mount=type=bind,source=build/images/wheels,target=/wheels"
    installs = [line for stage in STAGES.values() for line in stage.instructions if "pip.pyz install" in line]
    assert installs and all(line.startswith(f"RUN {wheelhouse_mount} ") for line in installs)
    assert not any(line.startswith(("COPY", "ADD")) and "build/" in line for stage in STAGES.values() for line in stage.instructions)
    # The build context holds the wheelhouse and leaves the rest of build/ (and the virtualenv) out.
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "build", "!build/images/wheels"} <= set(ignored)


def test_the_manifests_run_each_image_as_it_was_built():
    home = next(line.split("HOME=")[1].split()[0] for line in STAGES["python"].instructions if "HOME=" in line)
    for run in our_containers():
        stage = STAGES[run.image_name]
        where = f"{run.workload}/{run.container} ({run.image_name})"
        assert run.user == f"{stage.value('USER')}:{stage.value('USER')}", where
        assert run.read_only and run.no_new_privileges and run.dropped_capabilities == ["ALL"], where
        # HOME is where libraries write; with a read-only root it must be a writable mount.
        assert home in run.writable, where
        if run.command:
            assert runs_voiceagent(run), where
            continue
        assert sorted(run.ports.values()) == sorted(int(port) for port in stage.value("EXPOSE").split()), where
        assert run.readiness is not None and run.readiness.port in run.ports.values(), where


def workload(name: str) -> list[manifests.ContainerRun]:
    return [run for run in our_containers() if run.workload == name]


def test_images_check_runs_a_container_with_what_its_manifest_declares(tmp_path):
    [retrieval] = [run for run in workload("retrieval") if not run.init]
    mounts = mount_sources(retrieval, "check-retrieval", tmp_path, {})
    arguments = run_arguments(retrieval, "check-retrieval", "localhost/voiceagent/retrieval:check", "podman", ["retrieval"], mounts, {})
    text = " ".join(arguments)
    assert "--user 10001:10001" in text and "--read-only --read-only-tmpfs=false" in text
    assert "--cap-drop ALL" in text and "--security-opt no-new-privileges" in text
    for path, volume in retrieval.writable.items():
        assert f"--volume {tmp_path}/retrieval-{volume}:{path}:z" in text
        assert (tmp_path / f"retrieval-{volume}").stat().st_mode & 0o1777 == 0o1777, "writable by the container's user"
    assert "--env RETRIEVAL_STORE=s3://voiceagent-shards/shards" in text and "--publish 127.0.0.1::50052" in text
    assert arguments[-1] == "localhost/voiceagent/retrieval:check", "the image's own command runs"


def test_the_containers_of_a_pod_share_its_volumes_and_see_its_config_maps(tmp_path):
    documents, _ = rendered()
    config_maps = {doc["metadata"]["name"]: doc["data"] for doc in documents if doc["kind"] == "ConfigMap"}
    containers = workload("retrieval")
    assert [(run.init, run.sidecar) for run in containers] == [(True, False), (True, True), (False, False)]
    sources = [mount_sources(run, f"check-{run.container}", tmp_path, config_maps) for run in containers]
    data_mounts = [{m for m in mounts if m.endswith(":/data:z")} for mounts in sources]
    assert data_mounts[0] == data_mounts[1] == data_mounts[2] and len(data_mounts[0]) == 1
    [seed] = [m for m in sources[0] if ":/seed:" in m]
    seed_dir = Path(seed.split(":")[0])
    assert sorted(path.name for path in seed_dir.iterdir()) == sorted(path.name for path in (manifests.K8S / "orgs").glob("*.json"))


def test_images_check_runs_a_job_with_its_command_and_its_documents(tmp_path):
    [ingest] = workload("ingest-acme")
    arguments = run_arguments(ingest, "check-ingest", "gateway-image", "docker", [], mount_sources(ingest, "check-ingest", tmp_path, {}), {})
    entrypoint = arguments.index("--entrypoint")
    assert arguments[entrypoint + 1:entrypoint + 3] == ["voiceagent", "gateway-image"]
    assert arguments[entrypoint + 3:] == ingest.command[1:]
    assert f"--volume {tmp_path}/configmap-acme-knowledge:/knowledge:ro,z" in " ".join(arguments)
    assert sorted(p.name for p in (tmp_path / "configmap-acme-knowledge").iterdir()) == sorted(
        p.name for p in (REPO_ROOT / "data" / "acme" / "knowledge").iterdir())
    assert "--read-only-tmpfs=false" not in arguments


def test_the_secrets_from_the_templates_agree_on_the_database_password():
    secrets = manifests.secret_templates("s3cret-value")
    assert secrets["voiceagent-postgres"]["POSTGRES_PASSWORD"] == "s3cret-value"
    assert ":s3cret-value@postgres:" in secrets["voiceagent-secrets"]["VOICEAGENT_DATABASE_URL"]
    assert not any("replace-me" in value for secret in secrets.values() for value in secret.values())


def test_containers_reach_a_workload_by_the_names_of_its_services():
    documents, _ = rendered()
    assert sorted(manifests.service_names(documents, "retrieval")) == ["retrieval", "retrieval-headless"]
    assert manifests.service_names(documents, "gateway") == ["gateway"]


class ScriptedPodman(Engine):
    """podman whose `run` fails with each scripted message in turn, then succeeds."""

    def __init__(self, failures: list[str]) -> None:
        super().__init__("podman")
        self.failures = failures

    def __call__(self, *args: str, **options: object) -> subprocess.CompletedProcess:
        message = self.failures.pop(0) if self.failures else ""
        return subprocess.CompletedProcess(args, 1 if message else 0, b"", message.encode())


def test_a_host_that_refuses_podmans_default_ulimits_gets_them_cleared_and_nothing_else(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "WORK_DIR", tmp_path)
    podman = ScriptedPodman(["Error: runc: runc create failed: error setting rlimit type 7: operation not permitted"])
    podman.adapt("base")
    assert (tmp_path / "containers.conf").read_text() == "[containers]\ndefault_ulimits = []\n"
    assert podman.environment()["CONTAINERS_CONF"] == str(tmp_path / "containers.conf")


def test_each_quirk_of_a_host_is_cured_in_turn(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "WORK_DIR", tmp_path)
    podman = ScriptedPodman(["crun: cgroups in hybrid mode not supported", "setrlimit `RLIMIT_NPROC`: Operation not permitted"])
    podman.adapt("base")
    assert (tmp_path / "containers.conf").read_text() == '[engine]\nruntime = "runc"\n[containers]\ndefault_ulimits = []\n'


def test_a_host_without_quirks_keeps_podmans_defaults(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "WORK_DIR", tmp_path)
    podman = ScriptedPodman([])
    podman.adapt("base")
    assert not (tmp_path / "containers.conf").exists() and "CONTAINERS_CONF" not in podman.environment()


def test_a_failure_no_setting_cures_stops_with_the_engines_own_message(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "WORK_DIR", tmp_path)
    with pytest.raises(EngineError, match="netavark: No such file or directory"):
        ScriptedPodman(["Error: netavark: No such file or directory (os error 2)"]).adapt("base")


def test_the_debian_mirror_is_read_from_either_apt_source_format(tmp_path):
    deb822 = tmp_path / "debian.sources"
    deb822.write_text("Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\nComponents: main\n")
    one_line = tmp_path / "sources.list"
    one_line.write_text("# local\ndeb [signed-by=/k.gpg] https://other.example/debian bookworm main\n")
    other = tmp_path / "nodesource.list"
    other.write_text("deb https://deb.nodesource.com/node_20.x nodistro main\n")
    assert debian_mirror([other, deb822]) == "http://mirror.example/debian"
    assert debian_mirror([one_line]) == "https://other.example/debian"
    assert debian_mirror([other, tmp_path / "missing"]) == "http://deb.debian.org/debian"


def test_an_import_inside_a_function_counts_for_the_image_but_not_for_start_up(tmp_path, monkeypatch):
    package = tmp_path / "services" / "demo"
    package.mkdir(parents=True)
    (tmp_path / "services" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text("import json\nimport numpy\nfrom .backend import load\n")
    (package / "backend.py").write_text(
        "import importlib.util\n\ndef load():\n    import onnxruntime\n    return importlib.util.find_spec('silero_vad')\n"
    )
    monkeypatch.setattr(imports, "REPO_ROOT", tmp_path)
    assert imports.third_party_imports("services.demo.__main__") == {"numpy", "onnxruntime", "silero_vad"}
    assert imports.third_party_imports("services.demo.__main__", lazy=False) == {"numpy"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_relay_carries_a_conversation_both_ways():
    target = socket.create_server(("127.0.0.1", 0))

    def shout_back() -> None:
        connection, _ = target.accept()
        with connection:
            connection.sendall(connection.recv(1024).upper())

    threading.Thread(target=shout_back, daemon=True).start()
    listen = free_port()
    relay = subprocess.Popen([sys.executable, str(Path(manifests.__file__).parent / "relay.py"), f"127.0.0.1:{listen}",
                              f"127.0.0.1:{target.getsockname()[1]}"], stdout=subprocess.PIPE, text=True)
    try:
        assert relay.stdout.readline().startswith("relaying")
        with socket.create_connection(("127.0.0.1", listen), timeout=5) as caller:
            caller.sendall(b"recording please")
            assert caller.recv(1024) == b"RECORDING PLEASE"
    finally:
        relay.terminate()
        relay.wait()
        target.close()
