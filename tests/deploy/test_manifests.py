"""The deployment files (deploy/compose.yaml, deploy/k8s/, deploy/rabbitmq/, Dockerfile) agree with the code.

There is no Docker engine or Kubernetes here, so the files are parsed and checked against what the code
really offers: the `hub` commands and their options, the settings, the HTTP routes, the broker topology.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from hub.api.app import create_app
from hub.cli import app as cli_app
from plumbing.bus.amqp import (
    EVENTS_LOG_ARGUMENTS,
    EVENTS_LOG_QUEUE,
    REJECTED_QUEUE_ARGUMENTS,
    intake_queue_arguments,
)
from plumbing.bus.base import (
    EVENTS_EXCHANGE,
    INTAKE_EXCHANGE,
    INTAKE_QUEUE,
    REJECTED_EXCHANGE,
    REJECTED_QUEUE,
)
from plumbing.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose.yaml"
DEFINITIONS = DEPLOY / "rabbitmq" / "definitions.json"
NAMESPACE = "contact-hub"
HUB_SERVICES = ("migrate", "api", "worker", "adapters")
EVENTS_LOG = EVENTS_LOG_QUEUE


# -- what the code offers ------------------------------------------------------------------------------


def setting_env_names() -> set[str]:
    return {f"HUB_{name.upper()}" for name in Settings.model_fields}


def route_paths() -> set[str]:
    """The app's paths, as its OpenAPI schema lists them (what the probes and scrapers may call)."""
    return set(create_app().openapi()["paths"])


def hub_command(args: list[str]) -> None:
    """``hub ARGS`` names a real command and its options parse (checked with ``--help``, which runs nothing)."""
    result = CliRunner().invoke(cli_app, [*args, "--help"])
    assert result.exit_code == 0, f"`hub {' '.join(args)}`: {result.output.strip()[-300:]}"
    assert "Usage: " in result.output and "Commands" not in result.output, (
        f"`hub {' '.join(args)}` is a group"
    )


def option_value(args: list[str], option: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == option and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(option + "="):
            return arg.split("=", 1)[1]
    return None


def partner_slugs() -> list[str]:
    slugs = []
    for path in sorted((DEPLOY / "examples").glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        tenant = data.get("tenant") if isinstance(data, dict) else None
        if tenant and tenant.get("kind", "partner") == "partner":
            slugs.append(tenant["slug"])
    return slugs


def test_the_code_facts_the_checks_rely_on() -> None:
    assert {"/healthz", "/readyz", "/metrics"} <= route_paths()
    assert {"HUB_DATABASE_URL", "HUB_REDIS_URL", "HUB_AMQP_URL"} <= setting_env_names()
    assert set(partner_slugs()) == {"chorley", "south-ribble", "lancashire"}
    hub_command(["serve", "--host", "0.0.0.0", "--port", "8000"])
    for wrong in (
        ["no-such-command"],
        ["worker", "--no-such-option"],
        ["adapters"],
    ):
        with pytest.raises(AssertionError):
            hub_command(wrong)


# -- Dockerfile ----------------------------------------------------------------------------------------


def test_the_image_is_python_311_slim_installed_with_pip_run_as_a_non_root_user() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    assert instructions[0] == "FROM python:3.11-slim"
    assert any(line.startswith("RUN pip install .") for line in instructions)
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["hub"]' in instructions
    cmd = next(line for line in instructions if line.startswith("CMD "))
    args = json.loads(cmd[len("CMD ") :])
    hub_command(args)
    # Everything the image copies exists, and it copies every package the project installs.
    copied = set()
    for line in instructions:
        if line.startswith("COPY "):
            for source in shlex.split(line)[1:-1]:
                assert (ROOT / source).exists(), line
                copied.add(source)
    installed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = {pattern.rstrip("*") for pattern in installed["include"]}
    assert packages and packages <= copied, f"not copied into the image: {sorted(packages - copied)}"


# -- compose -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def test_compose_has_every_service_with_a_health_check(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "rabbitmq", *HUB_SERVICES}
    for name, service in services.items():
        assert "image" in service, name
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        if name == "migrate":
            # The one-off job: no health check, never restarted; the others wait for it to complete.
            assert check == {"disable": True} and service["restart"] == "no"
            continue
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert service.get("restart") == "unless-stopped", name


def test_compose_hub_services_run_real_commands_with_real_settings(compose: dict[str, Any]) -> None:
    services = compose["services"]
    known = setting_env_names()
    images = {services[name]["image"] for name in HUB_SERVICES}
    assert len(images) == 1, "one hub image for every role"
    for name in HUB_SERVICES:
        service = services[name]
        assert service["build"]["context"] == ".." and (ROOT / service["build"]["dockerfile"]).is_file()
        hub_command(service["command"])
        env = service["environment"]
        for key in ("HUB_DATABASE_URL", "HUB_REDIS_URL", "HUB_AMQP_URL"):
            assert env.get(key), f"{name}: {key}"
        unknown = sorted(k for k in env if k.startswith("HUB_") and k not in known)
        assert not unknown, f"{name}: not settings: {unknown}"
        # Settings parse (compose's ${VAR:-default} left as it is is still a valid string).
        Settings(**{k[4:].lower(): v for k, v in env.items() if k.startswith("HUB_")})
    assert services["migrate"]["command"] == ["migrate"]
    assert services["worker"]["command"] == ["worker"]
    assert services["adapters"]["command"] == ["adapters", "run"]
    assert services["worker"]["deploy"]["replicas"] >= 2


def test_compose_runs_migrations_first_and_waits_for_the_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "worker", "adapters"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        for infra in ("postgres", "redis", "rabbitmq"):
            assert depends[infra]["condition"] == "service_healthy", (name, infra)


def test_compose_api_port_and_health_check_agree_with_its_command(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    command = api["command"]
    assert option_value(command, "--host") == "0.0.0.0"
    port = option_value(command, "--port")
    assert port is not None
    assert any(str(mapping).split(":")[-1] == port for mapping in api["ports"])
    probe = " ".join(api["healthcheck"]["test"])
    match = re.search(r"http://127\.0\.0\.1:(\d+)(/\w+)", probe)
    assert match, probe
    assert match.group(1) == port
    assert match.group(2) == "/healthz" and match.group(2) in route_paths()
    # The workers' liveness: `hub alive` reads the heartbeat file their loop writes (a real command).
    for name in ("worker", "adapters"):
        test = compose["services"][name]["healthcheck"]["test"]
        assert test[0] == "CMD" and test[1] == "hub"
        hub_command(test[2:])
        assert compose["services"][name]["environment"]["HUB_HEARTBEAT_FILE"]


def test_compose_broker_loads_the_definitions(compose: dict[str, Any]) -> None:
    rabbit = compose["services"]["rabbitmq"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in rabbit["volumes"] if m.startswith("./")}
    assert (DEPLOY / mounts["/etc/rabbitmq/definitions.json"]).resolve() == DEFINITIONS
    conf_path = DEPLOY / mounts["/etc/rabbitmq/rabbitmq.conf"]
    conf = dict(
        (k.strip(), v.strip())
        for k, v in (
            line.split("=", 1)
            for line in conf_path.read_text().splitlines()
            if line.strip() and not line.startswith("#")
        )
    )
    assert conf["definitions.import_backend"] == "local_filesystem"
    assert conf["definitions.local.path"] == "/etc/rabbitmq/definitions.json"
    # The hub connects with the `hub` user to the vhost the definitions declare.
    vhost = definitions()["vhosts"][0]["name"]
    amqp = compose["x-hub-environment"]["HUB_AMQP_URL"]
    assert amqp.startswith("amqp://hub:") and amqp.endswith(f"@rabbitmq:5672/{vhost}")


# -- RabbitMQ definitions ------------------------------------------------------------------------------


def definitions() -> dict[str, Any]:
    data = json.loads(DEFINITIONS.read_text())
    assert isinstance(data, dict)
    return data


def test_definitions_declare_the_topology_exactly_as_the_worker_does() -> None:
    data = definitions()
    assert len(data["vhosts"]) == 1
    vhost = data["vhosts"][0]["name"]
    exchanges = {e["name"]: e for e in data["exchanges"]}
    assert {n: e["type"] for n, e in exchanges.items()} == {
        INTAKE_EXCHANGE: "topic",
        EVENTS_EXCHANGE: "topic",
        REJECTED_EXCHANGE: "fanout",
    }
    assert all(e["durable"] and not e["auto_delete"] and e["vhost"] == vhost for e in exchanges.values())
    queues = {q["name"]: q for q in data["queues"]}
    assert set(queues) == {INTAKE_QUEUE, REJECTED_QUEUE, EVENTS_LOG}
    assert all(q["durable"] and not q["auto_delete"] and q["vhost"] == vhost for q in queues.values())
    # The same arguments as declare_topology, or the worker's declare would fail with PRECONDITION_FAILED.
    assert queues[INTAKE_QUEUE]["arguments"] == intake_queue_arguments(Settings().intake_delivery_limit)
    assert queues[REJECTED_QUEUE]["arguments"] == REJECTED_QUEUE_ARGUMENTS
    # Every event is routable even when no partner listens (the outbox publishes with `mandatory` and retries
    # an unroutable event), and kept a week for a partner to replay: a stream, which nobody needs to drain.
    assert queues[EVENTS_LOG]["arguments"] == EVENTS_LOG_ARGUMENTS
    bindings = {(b["source"], b["destination"], b["routing_key"]) for b in data["bindings"]}
    assert bindings == {
        (INTAKE_EXCHANGE, INTAKE_QUEUE, "#"),
        (REJECTED_EXCHANGE, REJECTED_QUEUE, "#"),
        (EVENTS_EXCHANGE, EVENTS_LOG, "#"),
    }


def test_definitions_give_each_partner_a_user_that_may_only_publish_its_own_keys_to_intake() -> None:
    data = definitions()
    vhost = data["vhosts"][0]["name"]
    users = {u["name"]: u for u in data["users"]}
    slugs = partner_slugs()
    assert {"hub", *slugs} <= set(users)
    assert "guest" not in users
    for user in users.values():
        assert user["hashing_algorithm"] == "rabbit_password_hashing_sha256" and user["password_hash"]
    permissions = {p["user"]: p for p in data["permissions"]}
    assert {k: permissions["hub"][k] for k in ("configure", "write", "read")} == {
        "configure": ".*",
        "write": ".*",
        "read": ".*",
    }
    topic = {(t["user"], t["exchange"]): t for t in data["topic_permissions"]}
    for slug in slugs:
        assert users[slug]["tags"] == []
        perm = permissions[slug]
        assert perm["vhost"] == vhost
        # Resource permissions: publish to hub.intake only (never events, the dead-letter side or the default).
        assert re.search(perm["write"], INTAKE_EXCHANGE)
        for other in (EVENTS_EXCHANGE, REJECTED_EXCHANGE, REJECTED_QUEUE, "amq.default", "", "amq.topic"):
            assert not re.search(perm["write"], other), (slug, other)
        for name in (INTAKE_EXCHANGE, INTAKE_QUEUE, EVENTS_EXCHANGE, REJECTED_EXCHANGE, REJECTED_QUEUE):
            assert not re.search(perm["configure"], name), (slug, name)
        for name in (INTAKE_QUEUE, REJECTED_QUEUE, EVENTS_LOG):  # the log holds every partner's events
            assert not re.search(perm["read"], name), (slug, name)
        # Topic permissions: routing keys only under its own prefix, on intake (write) and events (read).
        intake = topic[(slug, INTAKE_EXCHANGE)]
        events = topic[(slug, EVENTS_EXCHANGE)]
        assert intake["vhost"] == events["vhost"] == vhost
        assert re.search(intake["write"], f"{slug}.phone") and re.search(intake["write"], f"{slug}.update")
        assert re.search(events["read"], f"{slug}.enquiry.queued")
        assert not re.search(intake["read"], f"{slug}.phone") and not re.search(events["write"], f"{slug}.x")
        for other in [*(s for s in slugs if s != slug), "hub", f"{slug}x", f"x{slug}", "#", "*"]:
            assert not re.search(intake["write"], f"{other}.phone"), (slug, other)
            assert not re.search(events["read"], f"{other}.enquiry.queued"), (slug, other)
        assert not re.search(intake["write"], slug)  # a bare slug is no routing key


# -- Kubernetes ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                doc["__file__"] = path.name
                docs.append(doc)
    return docs


def by_kind(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def pod_containers(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = manifest["spec"]["template"]["spec"]["containers"]
    return containers


def test_every_manifest_has_the_required_fields(manifests: list[dict[str, Any]]) -> None:
    kinds = sorted(m["kind"] for m in manifests)
    assert kinds == sorted(
        [
            "Namespace",
            "ConfigMap",
            "Secret",
            "Secret",
            "Job",
            "Deployment",
            "Deployment",
            "Deployment",
            "Service",
            "HorizontalPodAutoscaler",
        ]
    )
    api_versions = {
        "Namespace": "v1",
        "ConfigMap": "v1",
        "Secret": "v1",
        "Service": "v1",
        "Job": "batch/v1",
        "Deployment": "apps/v1",
        "HorizontalPodAutoscaler": "autoscaling/v2",
    }
    for m in manifests:
        assert m["apiVersion"] == api_versions[m["kind"]], m["__file__"]
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", m["metadata"]["name"]), m["__file__"]
        if m["kind"] == "Namespace":
            assert m["metadata"]["name"] == NAMESPACE
        else:
            assert m["metadata"]["namespace"] == NAMESPACE, m["__file__"]
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"
    )


def test_workloads_run_real_commands_from_the_one_image_with_resources(
    manifests: list[dict[str, Any]], compose: dict[str, Any]
) -> None:
    workloads = [*by_kind(manifests, "Deployment").values(), *by_kind(manifests, "Job").values()]
    assert {w["metadata"]["name"] for w in workloads} == {
        "hub-api",
        "hub-worker",
        "hub-adapters",
        "hub-migrate",
    }
    image = compose["services"]["api"]["image"]
    for workload in workloads:
        spec = workload["spec"]
        if workload["kind"] == "Deployment":
            labels = spec["template"]["metadata"]["labels"]
            assert spec["selector"]["matchLabels"].items() <= labels.items()
        pod = spec["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod_containers(workload):
            assert container["image"] == image, "the same image as compose"
            assert "command" not in container, "the image's entrypoint is `hub`"
            hub_command(container["args"])
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), (
                    workload["metadata"]["name"],
                    kind,
                )
    commands = {w["metadata"]["name"]: pod_containers(w)[0]["args"] for w in workloads}
    assert commands["hub-migrate"] == ["migrate"]
    assert commands["hub-worker"] == ["worker"]
    assert commands["hub-adapters"] == ["adapters", "run"]
    job = by_kind(manifests, "Job")["hub-migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")


def test_the_api_listens_where_its_probes_and_service_look(manifests: list[dict[str, Any]]) -> None:
    api = by_kind(manifests, "Deployment")["hub-api"]
    (container,) = pod_containers(api)
    args = container["args"]
    assert args[0] == "serve" and option_value(args, "--host") == "0.0.0.0"
    port = int(option_value(args, "--port") or 0)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert list(ports.values()) == [port]
    routes = route_paths()
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        http = container[probe]["httpGet"]
        assert http["path"] == path and path in routes
        assert http["port"] in ports or http["port"] == port
    service = by_kind(manifests, "Service")["hub-api"]
    assert service["spec"]["selector"].items() <= api["spec"]["template"]["metadata"]["labels"].items()
    for p in service["spec"]["ports"]:
        assert p["targetPort"] in ports or p["targetPort"] == port
    annotations = api["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] in routes and int(annotations["prometheus.io/port"]) == port


def test_the_worker_autoscaler_targets_the_worker_deployment(manifests: list[dict[str, Any]]) -> None:
    hpa = by_kind(manifests, "HorizontalPodAutoscaler")["hub-worker"]
    target = hpa["spec"]["scaleTargetRef"]
    assert target["kind"] == "Deployment" and target["name"] in by_kind(manifests, "Deployment")
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert hpa["spec"]["metrics"], "scales on something"


def test_configuration_names_only_real_settings_and_existing_secrets(manifests: list[dict[str, Any]]) -> None:
    known = setting_env_names()
    config_maps = by_kind(manifests, "ConfigMap")
    secrets = by_kind(manifests, "Secret")
    for name, secret in secrets.items():
        assert "stringData" in secret and "data" not in secret, name
        text = (K8S / secret["__file__"]).read_text()
        assert "REPLACE ME" in text
        assert all("replace-me" in str(v) for v in secret["stringData"].values()), name
    config = config_maps["hub-config"]["data"]
    assert all(k in known for k in config), sorted(set(config) - known)
    hub_secret = secrets["hub-secrets"]["stringData"]
    for key in ("HUB_DATABASE_URL", "HUB_REDIS_URL", "HUB_AMQP_URL"):
        assert key in hub_secret and key not in config
    # Every adapter secret the example partners name (`env:NAME`) is provided to the adapter workers.
    examples = "\n".join(p.read_text() for p in (DEPLOY / "examples").glob("*.yaml"))
    wanted = set(re.findall(r"env:([A-Z0-9_]+)", examples))
    assert wanted <= set(secrets["hub-adapter-secrets"]["stringData"])
    for workload in [*by_kind(manifests, "Deployment").values(), *by_kind(manifests, "Job").values()]:
        for container in pod_containers(workload):
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps
                else:
                    assert source["secretRef"]["name"] in secrets
            for var in container.get("env", []):
                if var["name"].startswith("HUB_"):
                    assert var["name"] in known, var["name"]
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]]["stringData"]
            env = {k: "x" for k in config} | {v["name"]: "x" for v in container.get("env", [])}
            for source in container.get("envFrom", []):
                if "secretRef" in source and source["secretRef"]["name"] == "hub-secrets":
                    env |= {k: "x" for k in hub_secret if k.startswith("HUB_")}
            assert {"HUB_DATABASE_URL", "HUB_REDIS_URL", "HUB_AMQP_URL"} <= set(env) or workload[
                "kind"
            ] == "Job"
    job_env = {v["name"] for v in pod_containers(by_kind(manifests, "Job")["hub-migrate"])[0]["env"]}
    assert "HUB_DATABASE_URL" in job_env


# -- the operations guide ------------------------------------------------------------------------------


def guide_commands() -> list[list[str]]:
    """Every `hub …` command the guide tells an operator to run (in backticks or in shell blocks)."""
    text = (ROOT / "docs" / "operations.md").read_text()
    found = re.findall(r"`hub ([^`]+)`", text)
    found += re.findall(r"^\s*hub ([^\n#]+)", text, flags=re.MULTILINE)
    commands = []
    for command in found:
        words = shlex.split(command.replace("…", "x"))
        if words and not words[0].startswith("-") and words[0] != "x":  # "`hub …`" means any command
            commands.append(words)
    return commands


def test_every_command_in_the_operations_guide_exists() -> None:
    commands = guide_commands()
    assert len(commands) >= 15
    for words in commands:
        hub_command(words)
