"""The deployment files parse, validate offline, hold together, and set only real SOLIDARITY_* settings."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from pydantic import BaseModel, SecretStr

from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE, K8S, SYSTEMD = DEPLOY / "compose", DEPLOY / "k8s", DEPLOY / "systemd"
# The oldest Kubernetes we claim to run on, and the newest the schemas know.
K8S_VERSIONS = sorted({"1.34.0", kubernetes_validate.latest_version()})
PREFIX, NESTED = "SOLIDARITY_", "__"
VARIABLE = re.compile(r"\bSOLIDARITY_[A-Za-z0-9_]+")


def files(*folders: Path) -> list[Path]:
    """Every file under the folders, sorted."""
    return sorted(p for folder in folders for p in folder.rglob("*") if p.is_file())


def yaml_docs(path: Path) -> list[dict]:
    """The non-empty documents of a YAML file."""
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def k8s_objects() -> list[tuple[Path, dict]]:
    """Every Kubernetes object of deploy/k8s (the kustomization is not one)."""
    return [(p, d) for p in sorted(K8S.glob("*.yaml")) if p.name != "kustomization.yaml" for d in yaml_docs(p)]


def k8s_object(kind: str, name: str | None = None) -> dict:
    """The one object of a kind (and name) in deploy/k8s."""
    found = [d for _, d in k8s_objects() if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''} in deploy/k8s, found {len(found)}"
    return found[0]


def env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of an env file (systemd EnvironmentFile / compose env_file), comments skipped."""
    lines = [line for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]
    pairs = (line.split("=", 1) for line in lines)
    return {k.strip(): v.strip() for k, v in pairs}


def dockerfile_env(path: Path) -> dict[str, str]:
    """The variables of a Dockerfile's ENV instructions (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", path.read_text())
    found = {}
    for line in text.splitlines():
        if line.strip().upper().startswith("ENV "):
            found.update(item.split("=", 1) for item in shlex.split(line.strip()[4:]))
    return found


def compose() -> dict:
    """deploy/compose/compose.yaml, anchors and merge keys resolved."""
    return yaml.safe_load((COMPOSE / "compose.yaml").read_text())


def service_env(service: dict) -> dict[str, str]:
    """A compose service's environment as set in its container: env_file examples, then `environment`."""
    env: dict[str, str] = {}
    for entry in service.get("env_file", []):
        path = entry["path"] if isinstance(entry, dict) else entry
        env.update(env_file(COMPOSE / f"{path}.example"))
    given = service.get("environment", {})
    items = given.items() if isinstance(given, dict) else (e.split("=", 1) for e in given)
    env.update({k: str(v) for k, v in items})
    return env


def setting_field(name: str):
    """The settings field a SOLIDARITY_* variable sets, or None when it names none (or a whole group)."""
    if not name.upper().startswith(PREFIX):
        return None
    model: type[BaseModel] = Settings
    parts = name[len(PREFIX):].lower().split(NESTED)
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return None
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if i == len(parts) - 1:
                return None  # a whole group (JSON): we always set the fields one by one
            model = annotation
        elif i < len(parts) - 1:
            return None
    return field


def is_secret(name: str) -> bool:
    """True when the variable sets a SecretStr field."""
    field = setting_field(name)
    return field is not None and SecretStr in (field.annotation, *getattr(field.annotation, "__args__", ()))


@pytest.mark.parametrize(("name", "real"), [
    ("SOLIDARITY_KAFKA__BOOTSTRAP_SERVERS", True),
    ("solidarity_web__port", True),
    ("SOLIDARITY_DATA_DIR", True),
    ("SOLIDARITY_TWILIO__AUTH_TOKEN", True),
    ("SOLIDARITY_WEB_PORT", False),  # one underscore: pydantic-settings would silently ignore it
    ("SOLIDARITY_KAFKA__BOOTSTRAP", False),
    ("SOLIDARITY_KAFKA", False),
    ("SOLIDARITY_DATA_DIR__X", False),
    ("SOLIDARITY_NOPE", False),
])
def test_setting_names_resolve_like_pydantic_settings(name, real):
    assert (setting_field(name) is not None) is real


def test_every_solidarity_variable_in_deploy_files_is_a_real_setting():
    unknown = [f"{p.relative_to(ROOT)}: {name}" for p in files(COMPOSE, K8S, SYSTEMD)
               for name in sorted(set(VARIABLE.findall(p.read_text()))) if setting_field(name) is None]
    assert not unknown, "not a setting of streams/settings.py:\n" + "\n".join(unknown)


def literal_environments() -> dict[str, dict[str, str]]:
    """Each environment a worker or sandbox gets from the deploy files, secrets filled from the examples."""
    envs = {f"compose {name}": service_env(s) for name, s in compose()["services"].items() if "build" in s}
    secret = k8s_object("Secret", "solidarity-secrets")["stringData"]
    container = k8s_object("StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    pod = dict(k8s_object("ConfigMap", "solidarity-config")["data"])
    for var in container["env"]:
        ref = var.get("valueFrom", {}).get("secretKeyRef")
        pod[var["name"]] = secret[ref["key"]] if ref else var.get("value", "")
    envs["k8s statefulset"] = pod
    envs["systemd worker.env.example"] = env_file(SYSTEMD / "worker.env.example")
    envs["Dockerfile"] = dockerfile_env(COMPOSE / "Dockerfile")
    return envs


def keyless_environments() -> set[str]:
    """The environments that run no worker and seal nothing (the compose sandbox), so need no keys."""
    return {f"compose {name}" for name, s in compose()["services"].items()
            if "build" in s and s["command"] != ["worker"]}


@pytest.mark.parametrize("where", list(literal_environments()))
def test_each_deploy_environment_builds_valid_settings(where, monkeypatch):
    env = literal_environments()[where]
    for key in [k for k in os.environ if k.upper().startswith(PREFIX) or k == "KAFKA_BOOTSTRAP_SERVERS"]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    problems = settings.insecure_defaults()
    if settings.twilio.base_url.startswith("https://"):
        # Shipped with an empty token, a worker pointed at the real Twilio refuses to start until it is set.
        assert any("SOLIDARITY_TWILIO__AUTH_TOKEN" in line for line in problems)
        assert settings.environment == "production", "a real provider deserves SOLIDARITY_ENVIRONMENT=production"
    if settings.production and where not in keyless_environments():
        # ...but never for want of keys: the shipped files name the key file the operator creates.
        assert not [line for line in problems if "key-encryption key" in line]
        assert settings.crypto.enabled and settings.crypto.key_file is not None
        assert settings.crypto.key_file.is_absolute() and settings.crypto.key_file.suffix == ".json"


def test_no_deploy_file_carries_a_secret_value():
    literal = [f"{where}: {k}" for where, env in literal_environments().items() for k, v in env.items()
               if is_secret(k) and v]
    assert not literal, "secrets must come from the operator, not the repository:\n" + "\n".join(literal)
    for _, secret in (o for o in k8s_objects() if o[1]["kind"] == "Secret"):
        assert all(v == "" for v in secret.get("stringData", {}).values()), secret["metadata"]["name"]
        assert not secret.get("data"), secret["metadata"]["name"]


def test_no_deploy_environment_sets_a_key_even_empty():
    # An empty SOLIDARITY_CRYPTO__KEK still counts as set: it wins over the key file and the worker refuses it.
    # The alternatives to the key file are documented as comments only.
    keys = [f"{where}: {k}" for where, env in literal_environments().items() for k in env
            if k.upper().startswith("SOLIDARITY_CRYPTO__") and is_secret(k)]
    assert not keys, "uncommented key settings:\n" + "\n".join(keys)
    for path in (COMPOSE / "solidarity.env.example", SYSTEMD / "worker.env.example"):
        documented = set(re.findall(r"^# (SOLIDARITY_CRYPTO__\w+)=", path.read_text(), re.M))
        assert {"SOLIDARITY_CRYPTO__KEK", "SOLIDARITY_CRYPTO__BLIND_INDEX_KEY",
                "SOLIDARITY_CRYPTO__AUDIT_KEY"} <= documented, path.name


def test_compose_workers_read_the_key_file_secret():
    spec = compose()
    (name, secret), = spec["secrets"].items()
    source = (COMPOSE / secret["file"]).resolve()
    assert source.is_relative_to(COMPOSE / "secrets") and source.suffix == ".json"
    assert "secrets/" in (COMPOSE / ".gitignore").read_text().split(), "the key file must be git-ignored"
    workers = {n: s for n, s in spec["services"].items() if s.get("command") == ["worker"]}
    for worker, service in workers.items():
        env = service_env(service)
        assert env["SOLIDARITY_ENVIRONMENT"] == "production", worker
        mounted = {s["target"]: s["source"] for s in service["secrets"]}
        assert mounted.get(env["SOLIDARITY_CRYPTO__KEY_FILE"]) == name, f"{worker}: key file is not the secret"
    assert "secrets" not in spec["services"]["sandbox"], "the sandbox seals nothing: it gets no keys"


def test_statefulset_mounts_the_keys_secret_read_only():
    sts = k8s_object("StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    (worker,) = pod["containers"]
    env = {v["name"]: v.get("value") for v in worker["env"]}
    key_file = Path(env["SOLIDARITY_CRYPTO__KEY_FILE"])
    volumes = {v["name"]: v for v in pod["volumes"]}
    (mount,) = [m for m in worker["volumeMounts"] if key_file.is_relative_to(m["mountPath"])]
    assert mount.get("readOnly") is True
    # A subPath mount is never refreshed: a rotated key file would not reach the running pods.
    assert "subPath" not in mount and "subPathExpr" not in mount
    source = volumes[mount["name"]]["secret"]
    assert source["secretName"] == "solidarity-keys"
    items = {i["path"]: i["key"] for i in source["items"]}
    assert items[str(key_file.relative_to(mount["mountPath"]))] == "keys.json"
    assert source["defaultMode"] & 0o077 == 0 and pod["securityContext"]["fsGroup"] == 10001
    assert "keys.json" in k8s_object("Secret", "solidarity-keys")["stringData"]
    assert "keys.json" in (K8S / ".gitignore").read_text().split()
    assert k8s_object("ConfigMap", "solidarity-config")["data"]["SOLIDARITY_ENVIRONMENT"] == "production"


@pytest.mark.parametrize("path", [p for p in files(COMPOSE, K8S) if p.suffix in (".yaml", ".yml")],
                         ids=lambda p: p.name)
def test_yaml_parses(path):
    assert yaml_docs(path)


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize(("path", "doc"), k8s_objects(), ids=lambda v: v.name if isinstance(v, Path) else v["kind"])
def test_k8s_manifest_is_valid(path, doc, version):
    kubernetes_validate.validate(doc, version, strict=True)


def test_kustomization_applies_every_manifest_but_the_examples():
    listed = yaml_docs(K8S / "kustomization.yaml")[0]["resources"]
    manifests = {p.name for p, _ in k8s_objects() if not p.name.endswith(".example.yaml")}
    assert sorted(listed) == sorted(manifests)


def test_statefulset_keeps_state_probes_health_and_runs_unprivileged():
    config = k8s_object("ConfigMap", "solidarity-config")["data"]
    sts = k8s_object("StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    (worker,) = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in worker["volumeMounts"]}
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert mounts[claim["metadata"]["name"]] == config["SOLIDARITY_DATA_DIR"]
    assert worker["envFrom"] == [{"configMapRef": {"name": "solidarity-config"}}]
    ports = {p["name"]: p["containerPort"] for p in worker["ports"]}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        get = worker[probe]["httpGet"]
        assert get["path"] == "/healthz" and ports[get["port"]] == int(config["SOLIDARITY_WEB__PORT"]), probe
    assert config["SOLIDARITY_WEB__HOST"] == "0.0.0.0"
    assert {"cpu", "memory"} <= set(worker["resources"]["requests"]) and "memory" in worker["resources"]["limits"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert worker["securityContext"]["allowPrivilegeEscalation"] is False
    refs = {v["name"]: v.get("valueFrom", {}).get("secretKeyRef") for v in worker["env"]}
    secrets = {name: ref for name, ref in refs.items() if ref}
    assert "SOLIDARITY_TWILIO__AUTH_TOKEN" in secrets
    assert {r["name"] for r in secrets.values()} == {"solidarity-secrets"}
    assert {r["key"] for r in secrets.values()} <= set(k8s_object("Secret", "solidarity-secrets")["stringData"])
    assert not {k for k in config if is_secret(k)}, "a secret in the ConfigMap"


def test_services_and_disruption_budget_select_the_workers():
    sts = k8s_object("StatefulSet")
    labels = sts["spec"]["template"]["metadata"]["labels"]
    headless = k8s_object("Service", sts["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    web = [d for _, d in k8s_objects() if d["kind"] == "Service" and d["spec"].get("clusterIP") != "None"]
    assert [p["targetPort"] for s in web for p in s["spec"]["ports"]] == ["web"]
    pdb = k8s_object("PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    for selector in (headless["spec"]["selector"], web[0]["spec"]["selector"], pdb["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= labels.items()


def kafka_nodes() -> dict[str, dict]:
    """The compose services running the apache/kafka image."""
    return {n: s for n, s in compose()["services"].items() if s.get("image", "").startswith("apache/kafka:")}


def test_compose_kafka_is_three_combined_kraft_nodes_with_replication():
    nodes = kafka_nodes()
    assert len(nodes) == 3
    envs = {name: {k: str(v) for k, v in s["environment"].items()} for name, s in nodes.items()}
    ids = {name: env["KAFKA_NODE_ID"] for name, env in envs.items()}
    assert len(set(ids.values())) == 3
    quorum = {env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in envs.values()}
    assert len(quorum) == 1, "every node must name the same controller quorum"
    voters = dict(v.split("@") for v in quorum.pop().split(","))
    assert {node_id: host.split(":")[0] for node_id, host in voters.items()} == {i: n for n, i in ids.items()}
    for name, env in envs.items():
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller", name
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3" and env["KAFKA_MIN_INSYNC_REPLICAS"] == "2", name
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3", name
        assert f"//{name}:9092" in env["KAFKA_ADVERTISED_LISTENERS"], name
        assert "healthcheck" in nodes[name]
    assert len({env["CLUSTER_ID"] for env in envs.values()}) == 1
    assert len({v for s in nodes.values() for v in s["volumes"]}) == 3, "each node needs its own data volume"


def test_compose_workers_each_have_state_port_and_health():
    services = compose()["services"]
    workers = {n: s for n, s in services.items() if s.get("command") == ["worker"]}
    assert len(workers) >= 3
    brokers = ",".join(f"{n}:9092" for n in kafka_nodes())
    volumes, ports = [], []
    for name, service in workers.items():
        env = service_env(service)
        assert env["SOLIDARITY_KAFKA__BOOTSTRAP_SERVERS"] == brokers, name
        assert env["SOLIDARITY_KAFKA__REPLICATION_FACTOR"] == "3" and env["SOLIDARITY_WEB__HOST"] == "0.0.0.0", name
        assert "/healthz" in " ".join(service["healthcheck"]["test"]), name
        assert f":{env['SOLIDARITY_WEB__PORT']}/healthz" in " ".join(service["healthcheck"]["test"]), name
        assert set(service["depends_on"]) == set(kafka_nodes()), name
        mounts = [v for v in service["volumes"] if v.split(":")[1] == env["SOLIDARITY_DATA_DIR"]]
        assert len(mounts) == 1, f"{name}: no volume at SOLIDARITY_DATA_DIR"
        volumes.append(mounts[0].split(":")[0])
        ports += [p.rsplit(":", 1)[0] for p in service.get("ports", [])]
    assert len(set(volumes)) == len(volumes), "workers sharing a RocksDB volume"
    assert len(set(ports)) == len(ports), "workers publishing the same host port"
    sandbox = services["sandbox"]
    assert sandbox["profiles"] == ["sandbox"] and sandbox["command"] == ["sandbox"] and "healthcheck" in sandbox


def test_compose_builds_the_worker_image_from_python_slim():
    dockerfile = (COMPOSE / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.M)
    assert re.search(r'^ENTRYPOINT \["solidarity"\]', dockerfile, re.M) and 'CMD ["worker"]' in dockerfile
    for service in compose()["services"].values():
        if "build" in service:
            build = service["build"]
            assert (COMPOSE / build["context"] / build["dockerfile"]).resolve() == COMPOSE / "Dockerfile"


def unit_file(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A systemd unit as section -> [(key, value)] (keys may repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
        elif line and not line.startswith(("#", ";")):
            key, value = line.split("=", 1)
            current.append((key.strip(), value.strip()))
    return sections


def test_systemd_unit_is_hardened_and_can_write_its_data_dir():
    unit = unit_file(SYSTEMD / "solidarity-worker.service")
    service = dict(unit["Service"])
    assert service["User"] == "solidarity"
    assert service["EnvironmentFile"] == "/etc/solidarity/worker.env"
    assert service["ExecStart"].endswith("solidarity worker")
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    assert service["Restart"] == "on-failure"
    writable = [Path(path.lstrip("-"))  # a leading "-" only makes a missing path non-fatal
                for key, paths in unit["Service"] if key == "ReadWritePaths" for path in paths.split()]
    data_dir = Path(env_file(SYSTEMD / "worker.env.example")["SOLIDARITY_DATA_DIR"])
    assert any(data_dir.is_relative_to(p) for p in writable), f"{data_dir} not under ReadWritePaths"
    # The key file beside the env file: readable (ProtectSystem=strict leaves /etc readable), not hidden away.
    key_file = Path(env_file(SYSTEMD / "worker.env.example")["SOLIDARITY_CRYPTO__KEY_FILE"])
    assert key_file.parent == Path(service["EnvironmentFile"]).parent
    hidden = [Path(path.lstrip("-+").split(":")[0]) for key, paths in unit["Service"]
              if key in ("InaccessiblePaths", "TemporaryFileSystem") for path in paths.split()]
    hidden += [Path(p) for p in ("/home", "/root", "/run/user") if service.get("ProtectHome", "no") != "no"]
    assert not any(key_file.is_relative_to(p) for p in hidden), f"{key_file} hidden from the worker"
    assert dict(unit["Install"])["WantedBy"] == "multi-user.target"
