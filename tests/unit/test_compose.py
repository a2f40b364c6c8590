"""docker-compose.yml, checked without a Docker engine: against the caredge CLI, the repository,
its own ports and volumes, and for secrets."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from cloud.cli import app

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
ENV_EXAMPLE = (REPO / ".env.example").read_text()
_INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")
_SECRET_NAME = re.compile(r"PASSWORD$|SECRET(_KEY)?$|TOKEN$|_KEY$")
#: Bind mounts under var/ are made at set-up (scripts/make-test-ca.sh), not kept in git.
GENERATED = {"./var/certs": REPO / "scripts" / "make-test-ca.sh"}
STATEFUL = {
    "postgres": "/var/lib/postgresql/data",
    "victoriametrics": "/storage",
    "mosquitto": "/mosquitto/data",
    "home-gateway": "/var/lib/caredge",
}


def with_defaults(text: str) -> str:
    """text with every ``${VAR:-default}`` replaced by its default (and ``${VAR}`` by '')."""
    return re.sub(
        r"\$\{[A-Z0-9_]+(?::?-([^}]*))?(?::?\?[^}]*)?\}", lambda m: m.group(1) or "", text
    )


def resolve(argv: list[str]) -> Any:
    """The click command argv names in the caredge CLI; options must be ones it declares.

    typer vendors click, so groups are recognised by their ``commands`` mapping.
    """
    assert argv[0] == "caredge", argv
    command: Any = typer.main.get_command(app)
    words = argv[1:]
    while words and hasattr(command, "commands") and not words[0].startswith("-"):
        sub = command.commands.get(words[0])
        assert sub is not None, f"`caredge {' '.join(argv[1:])}`: no command {words[0]!r}"
        command, words = sub, words[1:]
    if hasattr(command, "commands"):
        assert command.invoke_without_command, f"{argv} names a group, not a command"
    declared = {opt for param in command.params for opt in param.opts}
    for word in words:
        if word.startswith("-"):
            assert word.split("=", 1)[0] in declared, f"{argv}: unknown option {word}"
    return command


def environment(service: dict[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in (service.get("environment") or {}).items()}


def test_every_caredge_command_exists() -> None:
    commands = {name: s["command"] for name, s in SERVICES.items() if "build" in s}
    assert {"api", "ingest-1", "ingest-2", "scheduler", "home-sim", "home-gateway"} <= set(commands)
    for name, argv in commands.items():
        assert isinstance(argv, list), f"{name}: command must be an exec list"
        resolve(argv)


def test_resolve_rejects_unknown_commands_and_options() -> None:
    with pytest.raises(AssertionError, match="no command"):
        resolve(["caredge", "ingestt"])
    with pytest.raises(AssertionError, match="unknown option"):
        resolve(["caredge", "sim", "--prot", "7001"])


def test_referenced_files_exist() -> None:
    build = COMPOSE["x-caredge"]["build"]
    assert (REPO / build / "Dockerfile").is_file()
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = with_defaults(volume.split(":", 1)[0])
            if not source.startswith("."):
                continue  # a named volume
            generated = [root for root in GENERATED if source.startswith(root)]
            if generated:
                assert GENERATED[generated[0]].is_file(), f"{name}: nothing makes {source}"
                continue
            assert (REPO / source).exists(), f"{name}: {source} is not in the repository"


def test_the_image_gets_every_package() -> None:
    """The Dockerfile copies the context; .dockerignore must not drop a listed package."""
    assert "COPY . ./" in (REPO / "Dockerfile").read_text()
    ignored = set((REPO / ".dockerignore").read_text().split())
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = setuptools.get("package-dir", {})
    for package in setuptools["packages"]:
        top = package.split(".")[0]
        folder = folders.get(top, top)
        assert (REPO / folder).is_dir() and folder not in ignored, package
    assert {"README.md", "pyproject.toml"}.isdisjoint(ignored)


def test_volumes_are_declared_used_and_cover_every_stateful_service() -> None:
    declared = set(COMPOSE["volumes"])
    used: set[str] = set()
    for service in SERVICES.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "$", "/")):
                assert source in declared, f"named volume {source} is not declared"
                used.add(source)
    assert used == declared
    for name, target in STATEFUL.items():
        mounts = {v.split(":")[1]: v.split(":")[0] for v in SERVICES[name]["volumes"]}
        assert mounts.get(target) in declared, f"{name} keeps {target} outside a named volume"


def test_ports_match_what_the_services_listen_on() -> None:
    host_ports: list[str] = []
    for service in SERVICES.values():
        for mapping in service.get("ports", []):
            host, container = with_defaults(mapping).rsplit(":", 1)
            host_ports.append(host)
    assert len(host_ports) == len(set(host_ports)), host_ports
    mosquitto_conf = (REPO / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
    assert with_defaults(SERVICES["mosquitto"]["ports"][0]).endswith(":8883")
    assert re.search(r"^listener 8883$", mosquitto_conf, re.M)
    api = environment(SERVICES["api"])
    assert with_defaults(SERVICES["api"]["ports"][0]).endswith(f":{api['CAREDGE_API_PORT']}")
    assert api["CAREDGE_API_HOST"] == "0.0.0.0"
    assert f":{api['CAREDGE_API_PORT']}/healthz" in " ".join(SERVICES["api"]["healthcheck"]["test"])
    for name in ("ingest-1", "ingest-2", "scheduler", "home-gateway"):
        assert "@mosquitto:8883" in environment(SERVICES[name])["CAREDGE_MQTT_URL"], name
    assert environment(SERVICES["api"])["CAREDGE_TSDB_URL"] == "http://victoriametrics:8428"
    assert "-httpListenAddr=:8428" in SERVICES["victoriametrics"]["command"]
    sim_port = SERVICES["home-sim"]["command"][-1]
    assert environment(SERVICES["home-gateway"])["CAREDGE_BLE"].endswith(f"home-sim:{sim_port}")


def test_two_ingest_replicas_share_the_subscription_with_distinct_sessions() -> None:
    ids = [environment(SERVICES[n])["CAREDGE_MQTT_CLIENT_ID"] for n in ("ingest-1", "ingest-2")]
    assert len(set(ids)) == 2
    for name in ("ingest-1", "ingest-2"):
        assert "CAREDGE_INGEST_TOPIC" not in environment(SERVICES[name])  # the $share default


def test_dependencies_exist_and_stateful_services_have_health_checks() -> None:
    for name, service in SERVICES.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], f"{dependency} has no health check"
    for name in ("postgres", "victoriametrics", "mosquitto", "api"):
        assert "healthcheck" in SERVICES[name], name


def test_no_literal_secrets_and_every_variable_is_in_env_example() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    for name, service in SERVICES.items():
        for key, value in environment(service).items():
            if _SECRET_NAME.search(key):
                assert value.startswith("${") and value.endswith("}"), f"{name}.{key} is literal"
            for url in re.findall(r"[a-z+]+://[^\s]+", value):
                if "@" in url:
                    password = url.split("://", 1)[1].rsplit("@", 1)[0].split(":", 1)[1]
                    assert _INTERPOLATION.fullmatch(password), f"{name}.{key}: literal password"
    for variable in set(_INTERPOLATION.findall(text)):
        assert re.search(rf"^{variable}=", ENV_EXAMPLE, re.M), f"{variable} not in .env.example"
    assert ".env" in (REPO / ".dockerignore").read_text().split()


def test_env_example_holds_only_placeholders() -> None:
    for line in ENV_EXAMPLE.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            if _SECRET_NAME.search(key) and value:
                assert value.startswith("change-me"), f"{key} looks like a real secret"
