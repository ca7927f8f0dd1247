"""docker-compose.yml and the Dockerfile, checked by construction (Docker does not run here):
every name the settings use is a service, every variable is a real setting, every dependency
can be met, secrets are required, images are pinned, and the worker can be scaled."""

from __future__ import annotations

import json
import os
import re
import shlex
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from dealdesk.cli import main
from dealdesk.settings import Settings
from store.db import CONNECTIONS_PER_PROCESS

ROOT = Path(__file__).resolve().parents[1]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DEALDESK_SERVICES = ("dealdesk-migrate", "dealdesk-api", "dealdesk-worker")

# What an operator exports before `docker compose up`; nothing else is needed.
OPERATOR_ENV = {
    "POSTGRES_PASSWORD": "a-password-with-@-and-/",
    "DEALDESK_SECRET_KEY": "s" * 48,
    "DEALDESK_PUBLIC_URL": "https://deals.example.com",
}
# Settings production cannot do without; each must be set in compose, not left to a default.
REQUIRED_IN_PRODUCTION = {
    "DEALDESK_MODE": "production",
    "DEALDESK_DATABASE_URL": None,
    "DEALDESK_SECRET_KEY": None,
    "DEALDESK_SEED_DEMO_DATA": "false",
    "DEALDESK_TEMPORAL_ADDRESS": None,
    "DEALDESK_TEMPORAL_NAMESPACE": None,
    "DEALDESK_TEMPORAL_DEV_SERVER": "false",
    "DEALDESK_API_HOST": "0.0.0.0",
    "DEALDESK_PUBLIC_URL": None,
}

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}, or $NAME.
_REFERENCE = re.compile(
    r"\$(?:\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _unescaped(text: str) -> str:
    # `$$` is a literal dollar for the container's shell, not an interpolation.
    return text.replace("$$", "")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's interpolation for the forms this file may use."""

    def value(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if name is None:
            raise AssertionError(f"bare ${match['bare']} in {text!r}: write ${{NAME:?...}}")
        if name in env and env[name] != "":
            return env[name]
        if op == ":-":
            return str(arg)
        raise AssertionError(f"{name} is required and not set: {arg}")

    parts = text.split("$$")
    return "$".join(_REFERENCE.sub(value, part) for part in parts)


def environment(service: str) -> dict[str, str]:
    raw = SERVICES[service].get("environment", {})
    assert isinstance(raw, dict), f"{service}: write environment as a mapping"
    return {key: interpolate(str(value), OPERATOR_ENV) for key, value in raw.items()}


def test_every_variable_is_required_or_has_a_default() -> None:
    for text in _strings(COMPOSE):
        for match in _REFERENCE.finditer(_unescaped(text)):
            assert match["name"] is not None, f"bare ${match['bare']} in {text!r}"
            assert match["op"] in (":-", ":?"), (
                f"${{{match['name']}}} in {text!r}: give it a default (:-) or require it (:?)"
            )
            if match["op"] == ":?":
                assert match["arg"].strip(), f"{match['name']}: say what to set in the :? message"


def test_secrets_come_from_the_environment_and_are_required() -> None:
    secret = re.compile(r"PASSWORD|PWD|SECRET|API_KEY|TOKEN")
    required_seen: set[str] = set()
    for name, service in SERVICES.items():
        for key, value in (service.get("environment") or {}).items():
            if not secret.search(key):
                continue
            match = _REFERENCE.fullmatch(str(value))
            assert match is not None, f"{name}: {key} must come from the environment, not the file"
            if match["op"] == ":?":
                required_seen.add(match["name"])
            else:
                # Only an optional secret (SMTP password) may default, and only to nothing.
                assert match["op"] == ":-", f"{name}: {key}"
                assert match["arg"] == "", f"{name}: {key} has a default secret"
    assert required_seen == {"POSTGRES_PASSWORD", "DEALDESK_SECRET_KEY"}


def test_dealdesk_services_share_one_configuration() -> None:
    first = SERVICES[DEALDESK_SERVICES[0]]
    for name in DEALDESK_SERVICES:
        service = SERVICES[name]
        assert service["environment"] == first["environment"], name
        assert service["image"] == first["image"], name
        assert service["build"] == ".", name


def test_every_dealdesk_variable_is_a_setting() -> None:
    fields = set(Settings.model_fields)
    for name in DEALDESK_SERVICES:
        for key in environment(name):
            if key.upper().startswith("DEALDESK_"):
                assert key.lower().removeprefix("dealdesk_") in fields, f"{name}: {key}"


def test_production_settings_are_set_and_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    env = environment("dealdesk-api")
    for key, expected in REQUIRED_IN_PRODUCTION.items():
        assert env.get(key), f"{key} is not set"
        if expected is not None:
            assert env[key].lower() == expected, key
    # The app's own validation (production refuses the default secret and demo users) accepts
    # exactly what the containers get.
    for key in [k for k in os.environ if k.upper().startswith("DEALDESK_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)
    assert settings.mode == "production"
    assert settings.seed_demo_data is False
    assert settings.temporal_dev_server is False
    assert settings.secret_key.get_secret_value() == OPERATOR_ENV["DEALDESK_SECRET_KEY"]


def test_the_database_url_names_the_postgres_service() -> None:
    env = environment("dealdesk-api")
    url = make_url(env["DEALDESK_DATABASE_URL"])
    assert url.drivername == "postgresql+psycopg"
    assert url.host in SERVICES, f"no service {url.host}"
    postgres = SERVICES[url.host]
    assert postgres["image"].startswith("postgres:")
    pg_env = environment(url.host)
    assert url.port == 5432
    assert url.username == pg_env["POSTGRES_USER"]
    assert url.database == pg_env["POSTGRES_DB"]
    # The password reaches libpq as PGPASSWORD, so no character of it can break the URL.
    assert url.password is None
    assert env["PGPASSWORD"] == pg_env["POSTGRES_PASSWORD"]
    check = " ".join(postgres["healthcheck"]["test"])
    assert f"-U {pg_env['POSTGRES_USER']}" in check
    assert f"-d {pg_env['POSTGRES_DB']}" in check


def test_temporal_is_on_the_same_postgres_and_serves_the_namespace() -> None:
    env = environment("dealdesk-api")
    host, _, port = env["DEALDESK_TEMPORAL_ADDRESS"].rpartition(":")
    assert host in SERVICES, f"no service {host}"
    assert SERVICES[host]["image"].startswith("temporalio/server:")
    assert port == "7233"
    server = environment(host)
    pg_env = environment(make_url(env["DEALDESK_DATABASE_URL"]).host or "")
    assert server["DB"] == "postgres12"
    assert server["POSTGRES_SEEDS"] in SERVICES
    assert server["POSTGRES_USER"] == pg_env["POSTGRES_USER"]
    assert server["POSTGRES_PWD"] == pg_env["POSTGRES_PASSWORD"]

    tools = environment("temporal-admin-tools")
    assert tools["SQL_PLUGIN"] == "postgres12"
    assert tools["SQL_HOST"] in SERVICES
    assert tools["SQL_USER"] == pg_env["POSTGRES_USER"]
    assert tools["SQL_PASSWORD"] == pg_env["POSTGRES_PASSWORD"]
    script = " ".join(SERVICES["temporal-admin-tools"]["command"])
    for database in ("temporal", "temporal_visibility"):
        assert f"--db {database} update-schema" in script

    # The one-shot creates the namespace DealDesk connects to, on the server DealDesk uses.
    namespace = " ".join(SERVICES["temporal-create-namespace"]["command"])
    assert f"--namespace {env['DEALDESK_TEMPORAL_NAMESPACE']}" in namespace
    assert f"operator namespace create --address {env['DEALDESK_TEMPORAL_ADDRESS']}" in namespace
    assert environment("temporal-ui")["TEMPORAL_ADDRESS"] == env["DEALDESK_TEMPORAL_ADDRESS"]


def test_dependencies_exist_and_can_be_met() -> None:
    one_shots = {
        name
        for name, service in SERVICES.items()
        if service.get("restart", "no") not in ("always", "unless-stopped")
    }
    for name, service in SERVICES.items():
        for target, spec in (service.get("depends_on") or {}).items():
            assert target in SERVICES, f"{name} depends on a missing service {target}"
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[target], f"{name}: {target} has no healthcheck"
            else:
                assert condition == "service_completed_successfully", f"{name}: {condition}"
                assert target in one_shots, f"{name}: {target} never completes"
    # Everything DealDesk needs is in place before it starts.
    for name in ("dealdesk-api", "dealdesk-worker"):
        needs = set(SERVICES[name]["depends_on"])
        assert needs == {"dealdesk-migrate", "temporal-create-namespace"}, name


def test_dependencies_have_no_cycle() -> None:
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"dependency cycle: {' -> '.join((*path, name))}"
        if name in done:
            return
        for target in SERVICES[name].get("depends_on") or {}:
            visit(target, (*path, name))
        done.add(name)

    for name in SERVICES:
        visit(name, ())


def test_the_worker_and_api_can_be_scaled() -> None:
    for name, service in SERVICES.items():
        assert "container_name" not in service, f"{name}: a fixed name prevents --scale"
    worker = SERVICES["dealdesk-worker"]
    assert "ports" not in worker
    assert "hostname" not in worker
    # The API publishes a host port *range* variable, so replicas do not collide.
    (mapping,) = SERVICES["dealdesk-api"]["ports"]
    assert re.fullmatch(r"\$\{API_HOST_PORTS:-\d+\}:8000", mapping), mapping


def test_a_worker_per_core_and_database_connections_for_all() -> None:
    # A worker is one Python process: two serve about 1.2x the deals of one on 2 cores.
    replicas = SERVICES["dealdesk-worker"]["deploy"]["replicas"]
    assert replicas >= 2
    command = SERVICES["postgresql"]["command"]
    (setting,) = [c for c in command if c.startswith("max_connections=")]
    max_connections = int(setting.removeprefix("max_connections="))
    dealdesk = (replicas + 1) * CONNECTIONS_PER_PROCESS  # the workers and the API
    # What is left serves Temporal's pools and an operator's psql.
    assert max_connections - dealdesk >= 100, (max_connections, dealdesk)


def test_images_are_pinned() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name, service in SERVICES.items():
        image = service.get("image")
        assert image, f"{name} has no image"
        repository, _, tag = image.rpartition(":")
        assert repository, f"{name}: {image}"
        assert tag, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: {image}"
        assert re.fullmatch(r"\d+(\.\d+)*", tag), f"{name}: {image} is not a version tag"
        if "build" in service:
            # The image built from this repository carries the project's version.
            assert image == f"dealdesk:{version}", name


def test_the_api_healthcheck_points_at_healthz(tmp_path: Path) -> None:
    check = " ".join(SERVICES["dealdesk-api"]["healthcheck"]["test"])
    port = environment("dealdesk-api")["DEALDESK_API_PORT"]
    assert f"http://127.0.0.1:{port}/healthz" in check
    assert SERVICES["dealdesk-api"]["ports"][0].endswith(f":{port}")
    from api.main import create_app

    app = create_app(Settings(_env_file=None, data_dir=tmp_path), temporal=None)
    assert "/healthz" in {getattr(route, "path", None) for route in app.routes}


def test_the_worker_healthcheck_points_at_its_metrics_endpoint() -> None:
    address = environment("dealdesk-worker")["DEALDESK_WORKER_METRICS_ADDRESS"]
    port = address.rpartition(":")[2]
    check = " ".join(SERVICES["dealdesk-worker"]["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/metrics" in check


def _subcommand_exists(argv: list[str], capsys: pytest.CaptureFixture[str]) -> bool:
    assert argv[0] == "dealdesk", argv
    with pytest.raises(SystemExit) as exit_:
        main([argv[1], "--help"])
    capsys.readouterr()
    return exit_.value.code == 0


def test_commands_are_real_dealdesk_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    # Docker uses the last of each; exec (JSON) form, so no shell stands in between.
    cmd = re.findall(r"^CMD (.+)$", dockerfile, flags=re.MULTILINE)[-1]
    entrypoint = re.findall(r"^ENTRYPOINT (.+)$", dockerfile, flags=re.MULTILINE)[-1:]
    argv = [*(json.loads(entrypoint[0]) if entrypoint else []), *json.loads(cmd)]
    assert _subcommand_exists(argv, capsys), f"Dockerfile runs {argv}"
    for name in DEALDESK_SERVICES:
        command = SERVICES[name]["command"]
        argv = command if isinstance(command, list) else shlex.split(command)
        assert _subcommand_exists(argv, capsys), f"{name} runs {argv}"
    assert SERVICES["dealdesk-migrate"]["command"] == ["dealdesk", "migrate"]
    # Sanity: the check does refuse a subcommand that does not exist.
    assert not _subcommand_exists(["dealdesk", "no-such-command"], capsys)
