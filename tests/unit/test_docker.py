"""The container files agree with the code: the image runs a real command line, its health
check asks a real route, the compose file's replica set and settings are consistent, and the
proxy example keeps TLS 1.2+ and query strings out of its log. (No Docker engine is needed:
these read the files; building and running them is described in docker/README.md.)"""

from __future__ import annotations

import ast
import json
import re
import tomllib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import yaml

from zorgleefplan.cli import _serve, build_parser
from zorgleefplan.config import Settings

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = (DOCKER / "Dockerfile").read_text()
    joined = re.sub(r"\\\n\s*", " ", text)
    lines = [x.strip() for x in joined.splitlines() if x.strip() and not x.startswith("#")]
    return [(x.split(None, 1)[0].upper(), x.split(None, 1)[1]) for x in lines]


def _final_stage() -> list[tuple[str, str]]:
    steps = _instructions()
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def _one(stage: list[tuple[str, str]], op: str) -> str:
    [value] = [args for name, args in stage if name == op]
    return value


def _env(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for name, args in stage:
        if name == "ENV":
            env.update(dict(pair.split("=", 1) for pair in args.split()))
    return env


def _compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def _with_defaults(value: str) -> str:
    """Compose's ${NAME:-default} interpolation, with every variable unset."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


# --------------------------------------------------------------------------- Dockerfile


def test_the_image_runs_the_serve_command_on_all_interfaces() -> None:
    stage = _final_stage()
    entrypoint = json.loads(_one(stage, "ENTRYPOINT"))
    command = json.loads(_one(stage, "CMD"))
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint == ["zorgleefplan"] and "zorgleefplan" in scripts
    args = build_parser().parse_args(command)
    assert args.run is _serve and args.host == "0.0.0.0"


def test_the_image_runs_as_an_unprivileged_user_with_the_data_dir_as_volume() -> None:
    stage = _final_stage()
    user = _one(stage, "USER")
    assert user.split(":")[0].isdigit() and int(user.split(":")[0]) > 0
    env = _env(stage)
    assert json.loads(_one(stage, "VOLUME")) == [env["ZLP_DATA_DIR"]]
    port = int(env["ZLP_PORT"])
    assert _one(stage, "EXPOSE") == str(port)
    assert Settings(port=port).port == port


def test_the_build_copies_what_exists_and_the_ignore_file_lets_it_through() -> None:
    sources = [
        part
        for name, args in _instructions()
        if name == "COPY" and not args.startswith("--from")
        for part in args.split()[:-1]
    ]
    assert sources == ["pyproject.toml", "README.md", "service"]
    for source in sources:
        assert (REPO / source).exists()
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
    for source in sources:
        assert f"!{source}" in ignore or f"!{source}/" in ignore


async def test_the_health_check_asks_a_route_that_answers(
    secured_client: httpx.AsyncClient,
) -> None:
    check = json.loads(_one(_final_stage(), "HEALTHCHECK").split("CMD", 1)[1])
    assert check[:2] == ["python", "-c"]
    ast.parse(check[2])  # valid Python
    [path] = re.findall(r"'(/health/[a-z]+)'", check[2])
    r = await secured_client.get(path)
    assert r.status_code == 200 and r.json()["status"] == "pass"


# --------------------------------------------------------------------------- compose.yaml


def test_the_replica_set_has_three_members_that_the_init_script_and_the_url_name() -> None:
    services = _compose()["services"]
    members = sorted(n for n, s in services.items() if "--replSet" in s.get("command", []))
    assert len(members) == 3
    for name in members:
        command = services[name]["command"]
        assert command[command.index("--replSet") + 1] == "rs0"
        assert services[name]["healthcheck"]["test"][0] == "CMD"
    hosts = {f"{name}:27017" for name in members}

    init = services["mongo-init"]
    mount = next(v for v in init["volumes"] if v.endswith(":ro"))
    script = (DOCKER / mount.split(":")[0]).read_text()
    assert set(re.findall(r'host: "([a-z0-9]+:\d+)"', script)) == hosts
    assert 'rs.initiate({ _id: "rs0"' in script
    assert init["entrypoint"][-1] == mount.split(":")[1]
    assert {init["depends_on"][m]["condition"] for m in members} == {"service_healthy"}

    service = services["zorgleefplan"]
    url = urlsplit(service["environment"]["ZLP_STORE"])
    assert url.scheme == "mongodb"
    assert set(url.netloc.split(",")) == hosts
    assert parse_qs(url.query) == {"replicaSet": ["rs0"]}
    assert service["depends_on"] == {"mongo-init": {"condition": "service_completed_successfully"}}


def test_the_service_runs_a_real_command_with_real_settings() -> None:
    service = _compose()["services"]["zorgleefplan"]
    assert service["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
    args = build_parser().parse_args([_with_defaults(x) for x in service["command"]])
    assert args.run is _serve and args.host == "0.0.0.0" and args.workers >= 2
    environment = {k: _with_defaults(str(v)) for k, v in service["environment"].items()}
    # ZLP_STORE (the MongoDB adapter's setting) is checked on its own above.
    others = {k: v for k, v in environment.items() if k != "ZLP_STORE"}
    for key in others:
        assert key.startswith("ZLP_") and key[4:].lower() in Settings.model_fields, key
    settings = Settings(**{k[4:].lower(): v for k, v in others.items()})
    assert settings.log_format == "json"
    grace = int(service["stop_grace_period"].removesuffix("s"))
    assert grace > settings.shutdown_timeout
    [volume] = service["volumes"]
    assert volume.split(":")[1] == "/data"
    [port] = service["ports"]
    assert _with_defaults(port).endswith(":8080")


def test_the_store_network_has_no_way_out() -> None:
    compose = _compose()
    assert compose["networks"]["store"]["internal"] is True
    for name, service in compose["services"].items():
        if name != "zorgleefplan":
            assert service["networks"] == ["store"], name
            assert "ports" not in service, name


# --------------------------------------------------------------------------- proxy example


def test_the_proxy_example_allows_tls_1_2_and_up_and_logs_no_query_strings() -> None:
    text = (DOCKER / "nginx.conf").read_text()
    [protocols] = re.findall(r"^\s*ssl_protocols ([^;]+);", text, re.MULTILINE)
    assert protocols.split() == ["TLSv1.2", "TLSv1.3"]
    for header in ("Host", "X-Forwarded-For", "X-Forwarded-Proto", "X-Request-ID"):
        assert re.search(rf"proxy_set_header {header} \$", text), header
    log_format = re.search(r"log_format zorgleefplan ([^;]+);", text)
    assert log_format is not None
    for variable in ("$request ", "$request_uri", "$args", "$query_string", "$http_authorization"):
        assert variable not in log_format.group(1) + " ", variable
    assert "$uri" in log_format.group(1)
    [upstream] = re.findall(r"^\s*server (127\.0\.0\.1:\d+);", text, re.MULTILINE)
    assert upstream.endswith(f":{Settings().port}")
