"""`make images-check`: every image built, the stack run as deploy/k8s runs it, and a call answered through it.

1. `make images` (build.py): each image with its size and build time.
2. The stack from the rendered manifests on one container network, each container run as its manifest says
   (user and groups, read-only root, its writable mounts, dropped capabilities, environment, init containers)
   and reachable by its Services' names: the third-party services first (Redis, PostgreSQL, MinIO: the
   manifests' images when a registry serves them, else stand-ins from standins/Containerfile), then the Jobs
   (the bucket, the migrations), then stt, retrieval, llm, tts and the gateway, each timed until its readiness
   probe passes.
3. The sample org ingested by the ingest Job (deploy/k8s/ingest), its documents mounted as the ConfigMap.
4. `voiceagent call` from this host against the gateway container: every turn must be heard and answered
   from the documents.

What differs from a cluster: one replica per workload; a pod's volumes (emptyDir and claims alike) are
host directories that live as long as the check, and its containers share them but not a network namespace;
the Secrets are the templates with one random value for every placeholder; the gateway trusts the call
simulator's recording server (the settings `voiceagent up` uses), which relay.py makes reachable from the
gateway's network namespace.
The first step that fails stops the check with what went wrong and the container's last log lines.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from scripts.images import dockerfile, manifests
from scripts.images.build import Build, build_images, python_image
from scripts.images.engine import REPO_ROOT, WORK_DIR, Engine, EngineError
from scripts.images.manifests import ContainerRun
from services.cli.call_commands import local_gateway_env

STANDINS = Path(__file__).parent / "standins" / "Containerfile"
PREFIX = "voiceagent-check"
ORG = "acme"
# What the README has the operator create before applying deploy/k8s/ingest: the org's documents as a ConfigMap.
CONFIG_MAP_DIRECTORIES = {f"{ORG}-knowledge": REPO_ROOT / "data" / ORG / "knowledge"}
CALLER_TURNS = ["What time do you open on Saturday?", "How much does a basic tune-up cost?"]
JOB_ATTEMPTS = 3


class CheckError(RuntimeError):
    """A step of the check failed; the message says which and why."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Startup:
    container: str
    seconds: float  # from `run` until the readiness probe passed
    with_init: float  # the same, from the start of the pod's first init container


def mount_sources(run: ContainerRun, name: str, root: Path, config_maps: dict[str, dict[str, str]]) -> list[str]:
    """`--volume` arguments for a container's mounts, from host directories under `root`: one per pod volume,
    shared by the pod's containers and writable by any user (as an emptyDir is), and each ConfigMap written out
    as files, mounted read-only. `:z` lets SELinux hosts share them with the containers."""
    arguments = []
    for path, volume in run.writable.items():
        source = root / f"{run.workload}-{volume}"
        source.mkdir(exist_ok=True)
        source.chmod(0o1777)
        arguments += ["--volume", f"{source}:{path}:z"]
    for path, content in run.files.items():
        source = root / f"{name}{path.replace('/', '_')}"
        source.write_text(content)
        source.chmod(0o644)
        arguments += ["--volume", f"{source}:{path}:ro,z"]
    for path, config_map in run.config_maps.items():
        source = root / f"configmap-{config_map}"
        if config_map in config_maps:
            source.mkdir(exist_ok=True)
            for key, content in config_maps[config_map].items():
                (source / key).write_text(content)
        elif config_map in CONFIG_MAP_DIRECTORIES:
            shutil.copytree(CONFIG_MAP_DIRECTORIES[config_map], source, dirs_exist_ok=True)
        else:
            raise CheckError(f"{run.workload} mounts ConfigMap {config_map}, which neither the manifests nor this check define")
        source.chmod(0o755)
        arguments += ["--volume", f"{source}:{path}:ro,z"]
    return arguments


def run_arguments(run: ContainerRun, name: str, image: str, engine: str, aliases: list[str], mounts: list[str],
                  extra_env: dict[str, str]) -> list[str]:
    """`<engine> run` arguments that give a container what its manifest declares."""
    arguments = ["run", "--detach", "--name", name, "--network", PREFIX, *mounts]
    for alias in aliases:
        arguments += ["--network-alias", alias]
    if run.user:
        arguments += ["--user", run.user]
    for group in run.groups:
        arguments += ["--group-add", str(group)]
    if run.read_only:
        # podman would otherwise add writable tmpfs mounts of its own (/tmp, /run) that a pod does not have.
        arguments += ["--read-only"] + (["--read-only-tmpfs=false"] if engine == "podman" else [])
    if run.no_new_privileges:
        arguments += ["--security-opt", "no-new-privileges"]
    for capability in run.dropped_capabilities:
        arguments += ["--cap-drop", capability]
    for port in run.ports.values():
        arguments += ["--publish", f"127.0.0.1::{port}"]
    for key, value in {**run.env, **extra_env}.items():
        arguments += ["--env", f"{key}={value}"]
    if run.command:
        return arguments + ["--entrypoint", run.command[0], image, *run.command[1:], *(run.args or [])]
    return arguments + [image, *(run.args or [])]


class Stack:
    """The containers of one check, on their own network; `close` removes everything it started."""

    def __init__(self, engine: Engine, images: dict[str, str], documents: list[dict], secrets: dict[str, dict[str, str]]):
        self.engine, self.images, self.documents, self.secrets = engine, images, documents, secrets
        self.config_maps = {doc["metadata"]["name"]: doc.get("data", {}) for doc in documents if doc["kind"] == "ConfigMap"}
        self.containers: list[str] = []
        self.files = tempfile.TemporaryDirectory(prefix=f"{PREFIX}-")
        engine("network", "rm", "--force", PREFIX, check=False)
        engine("network", "create", PREFIX)

    def close(self) -> None:
        for name in reversed(self.containers):
            self.engine("rm", "--force", name, check=False, timeout=60)
        self.engine("network", "rm", "--force", PREFIX, check=False)
        self.files.cleanup()

    def gateway_ip(self) -> str:
        """This host's address on the stack's network (where containers reach the host)."""
        [network] = json.loads(self.engine.output("network", "inspect", PREFIX))
        subnets = network.get("subnets") or network["IPAM"]["Config"]  # podman, docker
        return subnets[0].get("gateway") or subnets[0]["Gateway"]

    def start(self, run: ContainerRun, extra_env: dict[str, str] | None = None) -> str:
        name = f"{PREFIX}-{run.workload}" + (f"-{run.container}" if run.init else "")
        self.engine("rm", "--force", name, check=False)
        # Services select a workload's pods, never its Jobs' or init containers.
        aliases = [] if run.init or run.kind == "Job" else manifests.service_names(self.documents, run.workload)
        mounts = mount_sources(run, name, Path(self.files.name), self.config_maps)
        arguments = run_arguments(run, name, self.images[run.image_name], self.engine.name, aliases, mounts, extra_env or {})
        try:
            self.engine(*arguments, timeout=120)
        except EngineError as error:
            raise CheckError(f"{run.workload}: the container did not start: {error}") from error
        self.containers.append(name)
        return name

    def logs(self, name: str, lines: int = 30, width: int = 400) -> str:
        """The container's last log lines, each cut to `width` characters (tracebacks come as one JSON line)."""
        result = self.engine("logs", "--tail", str(lines), name, check=False)
        text = (result.stdout + result.stderr).decode(errors="replace").strip()
        return "\n".join(line if len(line) <= width else line[:width] + " ..." for line in text.splitlines())

    def host_port(self, name: str, port: int) -> int:
        return int(self.engine.output("port", name, f"{port}/tcp").splitlines()[0].rsplit(":", 1)[1])

    def run_to_completion(self, run: ContainerRun, extra_env: dict[str, str] | None = None) -> str:
        """A Job's or init container's run: retried like a Job's pod, its output returned when it succeeds."""
        for attempt in range(1, JOB_ATTEMPTS + 1):
            name = self.start(run, extra_env)
            code = self.engine.output("wait", name, timeout=600).splitlines()[-1]
            output = self.logs(name, 200, width=2000)
            if code == "0":
                return output
            print(f"  {run.workload}: attempt {attempt} exited {code}", flush=True)
            time.sleep(3)
        raise CheckError(f"{run.workload} failed {JOB_ATTEMPTS} times; its last output:\n{output[-3000:]}")

    def wait_ready(self, run: ContainerRun, name: str, started: float) -> float:
        """Seconds from `run` until the readiness probe passes, within the time the manifest allows."""
        probe = run.readiness
        if probe is None:
            return 0.0
        deadline = started + probe.seconds
        while time.monotonic() < deadline:
            state = self.engine.output("inspect", "--format", "{{.State.Running}}", name).lower()
            if state != "true":
                raise CheckError(f"{run.workload} stopped before it was ready; its log:\n{self.logs(name)}")
            if self._passes(probe, name):
                return time.monotonic() - started
            time.sleep(0.25)
        raise CheckError(f"{run.workload} was not ready within {probe.seconds:.0f} s; its log:\n{self.logs(name)}")

    def _passes(self, probe: manifests.Probe, name: str) -> bool:
        if probe.exec_command:
            return self.engine("exec", name, *probe.exec_command, check=False, timeout=30).returncode == 0
        address = f"127.0.0.1:{self.host_port(name, probe.port)}"
        try:
            if probe.http_path is not None:
                with urllib.request.urlopen(f"http://{address}{probe.http_path}", timeout=2) as reply:
                    return reply.status == 200
            with grpc.insecure_channel(address) as channel:
                reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=probe.grpc_service), timeout=2)
                return reply.status == health_pb2.HealthCheckResponse.SERVING
        except (OSError, grpc.RpcError):
            return False

    def start_workload(self, runs: list[ContainerRun], extra_env: dict[str, str] | None = None) -> Startup:
        """A Deployment or StatefulSet: its init containers in order (each to completion, sidecars started and left
        running), then its container until ready."""
        started = time.monotonic()
        for run in runs:
            if run.sidecar:
                self.start(run, extra_env)
            elif run.init:
                self.run_to_completion(run, extra_env)
        [main] = [run for run in runs if not run.init]
        own_start = time.monotonic()
        name = self.start(main, extra_env)
        own = self.wait_ready(main, name, own_start)
        return Startup(name, own, time.monotonic() - started)


def third_party_images(engine: Engine, runs: list[ContainerRun], targets: list[str], build: Build) -> dict[str, str]:
    """The manifests' own image for each third-party container when it can be pulled, else its stand-in."""
    images = {}
    standins = dockerfile.image_targets(dockerfile.stages(STANDINS))
    for run in runs:
        if run.image_name in targets or run.image_name in images:
            continue
        if engine.pull(run.image, timeout=60):
            images[run.image_name] = run.image
        elif run.image_name in standins:
            image = f"localhost/{PREFIX}/{run.image_name}:standin"
            print(f"{run.image} cannot be pulled: building its stand-in {image}", flush=True)
            result = engine("build", "--target", run.image_name, "--build-arg", f"PYTHON_IMAGE={build.base}",
                            "--build-arg", f"WHEELHOUSE={build.wheelhouse}", "--tag", image, "--file", str(STANDINS), str(REPO_ROOT), check=False)
            if result.returncode != 0:
                raise CheckError(f"building the {run.image_name} stand-in failed: {result.stdout.decode()[-2000:]}{result.stderr.decode()[-2000:]}")
            images[run.image_name] = image
        else:
            raise CheckError(f"{run.image} cannot be pulled and has no stand-in in {STANDINS}")
    return images


def grouped(runs: list[ContainerRun]) -> dict[str, list[ContainerRun]]:
    workloads: dict[str, list[ContainerRun]] = {}
    for run in runs:
        workloads.setdefault(run.workload, []).append(run)
    return workloads


def main_image(group: list[ContainerRun]) -> str:
    """The image of a workload's own container (its init containers may run another)."""
    return next(run.image_name for run in group if not run.init)


def answer_a_call(stack: Stack, gateway: str, tts: str, recording_port: int, twilio: dict[str, str]) -> list[dict]:
    """`voiceagent call` from this host; the gateway fetches each recording through the two relays."""
    relay = Path(__file__).parent / "relay.py"
    host_side, relay_port = stack.gateway_ip(), free_port()
    host_relay = subprocess.Popen([sys.executable, str(relay), f"{host_side}:{relay_port}", f"127.0.0.1:{recording_port}"],
                                  stdout=subprocess.DEVNULL)
    try:
        stack.engine("run", "--detach", "--name", f"{PREFIX}-relay", "--network", f"container:{gateway}", "--user", "10001:10001",
                     "--read-only", "--volume", f"{relay}:/relay.py:ro", stack.images["gateway"],
                     "python", "/relay.py", f"127.0.0.1:{recording_port}", f"{host_side}:{relay_port}")
        stack.containers.append(f"{PREFIX}-relay")
        command = [str(Path(sys.executable).parent / "voiceagent"), "call", "--org", ORG, "--json",
                   "--gateway-url", f"http://127.0.0.1:{stack.host_port(gateway, 8000)}",
                   "--tts-addr", f"127.0.0.1:{stack.host_port(tts, 50054)}", "--output-dir", str(WORK_DIR / "call"),
                   *[argument for turn in CALLER_TURNS for argument in ("--say", turn)]]
        env = {**os.environ, **twilio, "VOICEAGENT_CALL_RECORDING_PORT": str(recording_port)}
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=REPO_ROOT)
    finally:
        host_relay.terminate()
        host_relay.wait()
    if result.returncode != 0:
        raise CheckError(f"voiceagent call failed (exit {result.returncode}): {result.stderr[-2000:]}\n"
                         f"gateway log:\n{stack.logs(gateway)}")
    turns = json.loads(result.stdout)["turns"]
    answered = [turn for turn in turns if turn["caller"]]
    unanswered = [turn for turn in answered if not turn["sources"] or turn["fallbacks"]]
    if len(answered) < len(CALLER_TURNS) or unanswered:
        raise CheckError(f"the call was not answered from the documents: {json.dumps(turns, indent=1)}\n"
                         f"gateway log:\n{stack.logs(gateway)}")
    return turns


def check(engine: Engine, registry: str, tag: str) -> None:
    targets = dockerfile.image_targets()
    base = python_image(engine, os.environ.get("PYTHON_IMAGE") or None)
    standin_packages = {name: no_deps for target in dockerfile.image_targets(dockerfile.stages(STANDINS))
                        for name, no_deps in dockerfile.packages(target, dockerfile.stages(STANDINS)).items()}
    build = build_images(engine, registry, tag, targets, base, extra_packages=standin_packages)
    built = build.images
    documents = manifests.render()
    token = secrets.token_hex(16)
    stack_secrets = manifests.secret_templates(token)
    runs = manifests.container_runs(documents, stack_secrets)
    [ingest] = manifests.container_runs(manifests.render(manifests.K8S / "ingest"), stack_secrets)
    images = {b.target: b.image for b in built} | third_party_images(engine, [*runs, ingest], targets, build)
    twilio = {key: value for key, value in stack_secrets["voiceagent-secrets"].items() if key.startswith("TWILIO_")}
    recording_port = free_port()
    # The call simulator's recording server is the only recording source the gateway trusts besides Twilio.
    simulation = {key: value for key, value in local_gateway_env([recording_port]).items() if not key.startswith("TWILIO_")}

    workloads = grouped(runs)
    ours = {name: group for name, group in workloads.items() if main_image(group) in targets and group[0].kind != "Job"}
    jobs = {name: group for name, group in workloads.items() if group[0].kind == "Job"}
    services = {name: group for name, group in workloads.items() if name not in ours and name not in jobs}
    order = sorted(ours, key=lambda name: targets.index(main_image(ours[name])))
    stack = Stack(engine, images, documents, stack_secrets)
    startups: dict[str, Startup] = {}
    try:
        for name, group in services.items():
            startup = stack.start_workload(group)
            print(f"{name} ({images[main_image(group)]}) ready in {startup.seconds:.1f} s", flush=True)
        for name, group in jobs.items():
            [job] = group
            stack.run_to_completion(job)
            print(f"job {name} done", flush=True)
        for name in order:
            startups[name] = stack.start_workload(ours[name], simulation if name == "gateway" else None)
            print(f"{name} ready in {startups[name].seconds:.1f} s ({startups[name].with_init:.1f} s with its init containers)",
                  flush=True)
        output = stack.run_to_completion(ingest)
        print(f"job {ingest.workload}:", *output.splitlines()[-8:], sep="\n  ", flush=True)
        turns = answer_a_call(stack, startups["gateway"].container, startups["tts"].container, recording_port, twilio)
    finally:
        stack.close()

    print("\nthe call, through the containers:")
    for turn in turns:
        if turn["caller"]:
            print(f"  caller: {turn['caller']}")
        print(f"  agent:  {turn['agent']}")
        if turn["sources"]:
            print(f"          sources {', '.join(turn['sources'])}; stages ms {turn['stage_ms']}")
    print(f"\n{'image':<44} {'size':>8} {'build':>7} {'start-up':>9} {'with init':>10}")
    for image in built:
        [startup] = [startups[w] for w in startups if main_image(ours[w]) == image.target] or [None]
        times = f"{startup.seconds:>7.1f} s {startup.with_init:>8.1f} s" if startup else f"{'-':>9} {'-':>10}"
        print(f"{image.image:<44} {image.size_bytes / 1e6:>5.0f} MB {image.seconds:>5.0f} s {times}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", default=os.environ.get("IMAGE_REGISTRY", "localhost/voiceagent"))
    parser.add_argument("--tag", default=os.environ.get("IMAGE_TAG", "check"))
    args = parser.parse_args()
    try:
        check(Engine.detect(), args.registry, args.tag)
    except (CheckError, EngineError) as error:
        print(f"\nimages-check FAILED: {error}", file=sys.stderr)
        return 1
    print("\nimages-check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
