"""Helpers of the deployment tests: the services, .env files, compose interpolation, settings."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
K8S = DEPLOY / "k8s"

#: paths every service has that the gateway does not route (operations, docs)
OPS_PATHS = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
}


@dataclass(frozen=True)
class Svc:
    name: str  # import name: case_service
    env_prefix: str  # CASE_
    host: str  # compose service and Kubernetes Service name: case-service
    migrate: str  # compose migration job: case-migrate
    distribution: str  # uv package: case-service


SERVICES = [
    Svc("case_service", "CASE_", "case-service", "case-migrate", "case-service"),
    Svc("grid_service", "GRID_", "grid-service", "grid-migrate", "grid-service"),
    Svc("notify_service", "NOTIFY_", "notify-service", "notify-migrate", "notify-service"),
]
BY_NAME = {svc.name: svc for svc in SERVICES}
BY_HOST = {svc.host: svc for svc in SERVICES}


def ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def missing_tool(message: str) -> None:
    """A check that needs a tool this machine lacks: say so plainly; fail only under CI."""
    print(f"\nNOT RUN: {message}", flush=True)  # noqa: T201
    if ci():
        pytest.fail(f"{message} (CI=true: this check must run)")
    pytest.skip(message)


def find_nginx() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    for candidate in ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"):
        if Path(candidate).exists():
            return candidate
    return None


@cache
def render_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gridgov_gateway_render", DEPLOY / "gateway" / "render.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    import sys

    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


# --- .env files and compose interpolation ------------------------------------------------------

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"'}


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a .env file the way docker compose does (comments, quotes; no interpolation)."""
    env: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, value = line.partition("=")
        key = key.strip()
        assert sep, f"{path}:{number}: {raw!r}"
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key), f"{path}:{number}: {raw!r}"
        value = value.strip()
        if value.startswith("'"):
            end = value.index("'", 1)
            value = value[1:end]
        elif value.startswith('"'):
            out, i = [], 1
            while value[i] != '"':
                if value[i] == "\\" and value[i + 1] in _ESCAPES:
                    out.append(_ESCAPES[value[i + 1]])
                    i += 2
                else:
                    out.append(value[i])
                    i += 1
            value = "".join(out)
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0].strip()
        assert key not in env, f"{path}:{number}: {key} set twice"
        env[key] = value
    return env


_VAR = re.compile(r"\$(?:(?P<dollar>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")


def interpolate(value: str, env: dict[str, str]) -> str:
    """docker compose variable interpolation: $$, $VAR, ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?e}."""

    def replace(match: re.Match[str]) -> str:
        if match.group("dollar"):
            return "$"
        if match.group("named"):
            return env.get(match.group("named"), "")
        expr = match.group("braced")
        found = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])(.*))?", expr, re.S)
        assert found, f"bad interpolation ${{{expr}}}"
        name, op, arg = found.groups()
        current = env.get(name)
        if op is None:
            return current or ""
        empty_counts = op.startswith(":")
        missing = current is None or (empty_counts and current == "")
        if op.endswith("-"):
            return interpolate(arg, env) if missing else str(current)
        if missing:
            raise KeyError(f"{name}: {arg}")
        return str(current)

    return _VAR.sub(replace, value)


def interpolate_tree(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [interpolate_tree(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env) for key, value in node.items()}
    return node


def env_example() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


def load_compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    raw = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return interpolate_tree(raw, env if env is not None else env_example())


def _env_mapping(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    out = {}
    for item in value:
        key, _, val = str(item).partition("=")
        out[key] = val
    return out


def container_env(compose: dict[str, Any], service: str) -> dict[str, str]:
    """What a compose container gets: its env_file(s) (.env read as .env.example), then
    `environment`, which wins."""
    spec = compose["services"][service]
    env: dict[str, str] = {}
    files = spec.get("env_file") or []
    for item in [files] if isinstance(files, str | dict) else files:
        path = item["path"] if isinstance(item, dict) else item
        file = ROOT / path
        if Path(path).name == ".env":
            file = ENV_EXAMPLE
        env.update(read_env_file(file))
    env.update(_env_mapping(spec.get("environment")))
    return env


# --- services ------------------------------------------------------------------------------------


def config_module(svc: Svc) -> ModuleType:
    return importlib.import_module(f"{svc.name}.config")


def settings_class(svc: Svc) -> type[Any]:
    cls: type[Any] = config_module(svc).Settings
    return cls


def make_settings(svc: Svc, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """Instantiate the service's Settings from exactly `env` (no .env file, no other
    variables with the service's prefix)."""
    for key in list(os.environ):
        if key.upper().startswith(svc.env_prefix):
            monkeypatch.delenv(key)
    for key, value in env.items():
        if key.upper().startswith(svc.env_prefix):
            monkeypatch.setenv(key, value)
    return settings_class(svc)(_env_file=None)


def default_settings(svc: Svc) -> Any:
    with pytest.MonkeyPatch.context() as mp:
        return make_settings(svc, {}, mp)


@cache
def service_app(name: str) -> FastAPI:
    svc = BY_NAME[name]
    main = importlib.import_module(f"{svc.name}.main")
    app: FastAPI = main.create_app(default_settings(svc))
    return app


def served_paths(name: str) -> list[str]:
    """Every path the service's app answers (OpenAPI paths and hidden routes), less the
    operations and documentation paths, with path parameters filled in."""
    app = service_app(name)
    paths = set(app.openapi()["paths"])
    for route in app.routes:
        path = getattr(route, "path", None)
        if isinstance(path, str):
            paths.add(path)
    return sorted(re.sub(r"\{[^}]*\}", "x", p) for p in paths if p not in OPS_PATHS)


def body_limits(name: str) -> tuple[int, int, tuple[str, ...]]:
    """(max_body_bytes, large_body_bytes, large_body_markers) of the app's middleware."""
    app = service_app(name)
    for middleware in app.user_middleware:
        kwargs = middleware.kwargs
        if "max_body_bytes" in kwargs:
            small = int(kwargs["max_body_bytes"])
            large = int(kwargs.get("large_body_bytes") or small)
            return small, large, tuple(kwargs.get("large_body_markers") or ())
    raise AssertionError(f"{name}: no body-size middleware found")


def size_bytes(size: str) -> int:
    """nginx size (2m, 512k, 1g, 1024) in bytes."""
    found = re.fullmatch(r"(\d+)([kKmMgG]?)", size.strip())
    assert found, f"not an nginx size: {size}"
    number, unit = found.groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit.lower()]
