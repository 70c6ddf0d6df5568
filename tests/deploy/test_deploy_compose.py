"""docker-compose.yml and .env.example: the file parses, every piece is there, and every
service gets the settings it needs in production."""

from __future__ import annotations

import base64
import json
import re
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from deploy_support import (
    BY_HOST,
    COMPOSE_FILE,
    ENV_EXAMPLE,
    ROOT,
    SERVICES,
    Svc,
    config_module,
    container_env,
    env_example,
    interpolate,
    load_compose,
    make_settings,
    read_env_file,
    settings_class,
)
from pydantic import SecretStr, ValidationError

APP_SERVICES = [svc.host for svc in SERVICES]
SVC_IDS = [svc.name for svc in SERVICES]


def _settings_env(svc: Svc, env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.upper().startswith(svc.env_prefix)}


def test_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    """Validated offline against the Compose Specification's JSON schema (vendored by
    check-jsonschema), as written and after interpolation; a misspelt key is caught."""
    schema = json.loads(
        resources.files("check_jsonschema.builtin_schemas.vendor")
        .joinpath("compose-spec.json")
        .read_text(encoding="utf-8")
    )
    validator = jsonschema.validators.validator_for(schema)(schema)
    raw = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    for doc in (raw, compose):
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(doc)]
        assert not errors, errors
    typo = json.loads(json.dumps(compose))
    typo["services"]["postgres"]["helthcheck"] = typo["services"]["postgres"]["healthcheck"]
    assert list(validator.iter_errors(typo))


def test_compose_has_every_piece(compose: dict[str, Any]) -> None:
    services = compose["services"]
    expected = {"postgres", "minio", "minio-init", "gateway"}
    expected |= {svc.host for svc in SERVICES} | {svc.migrate for svc in SERVICES}
    assert expected <= set(services), f"missing: {expected - set(services)}"


def test_postgres_16_is_healthchecked_and_creates_one_database_per_service(
    compose: dict[str, Any],
) -> None:
    postgres = compose["services"]["postgres"]
    assert re.fullmatch(r"postgres:16([.-].*)?", postgres["image"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    mounts = {v.split(":")[1]: v.split(":")[0] for v in postgres["volumes"]}
    init = mounts["/docker-entrypoint-initdb.d"]
    assert (ROOT / init).is_dir()
    assert any((ROOT / init).glob("*.sh"))
    assert "/var/lib/postgresql/data" in mounts
    # the init script reads the services' own URLs: the same ones the services get
    for svc in SERVICES:
        var = f"{svc.env_prefix}DATABASE_URL"
        assert postgres["environment"][var] == container_env(compose, svc.host)[var]
    names = {
        urlsplit(container_env(compose, svc.host)[f"{svc.env_prefix}DATABASE_URL"]).path
        for svc in SERVICES
    }
    assert len(names) == len(SERVICES), "each service needs a database of its own"


@pytest.mark.parametrize("svc", SERVICES, ids=SVC_IDS)
def test_migration_job_gates_its_service(compose: dict[str, Any], svc: Svc) -> None:
    services = compose["services"]
    job, api = services[svc.migrate], services[svc.host]
    assert job["command"] == ["python", "-m", svc.name, "migrate"]
    assert job["restart"] == "no"
    assert job["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert api["depends_on"][svc.migrate]["condition"] == "service_completed_successfully"
    # the job runs the very image the service runs, built from the service's Dockerfile
    assert job["image"] == api["image"]
    assert job["build"] == api["build"]
    assert api["build"]["dockerfile"] == f"deploy/{svc.name}/Dockerfile"
    assert (ROOT / api["build"]["context"] / api["build"]["dockerfile"]).is_file()
    assert "command" not in api, "the service runs the image's CMD (serve)"
    # uvicorn believes the gateway's X-Forwarded-For; the container cannot write its image
    assert container_env(compose, svc.host)["FORWARDED_ALLOW_IPS"] == "*"
    assert api["read_only"] is True
    assert api["restart"] == "unless-stopped"


@pytest.mark.parametrize("svc", SERVICES, ids=SVC_IDS)
def test_replicas_come_from_env(compose: dict[str, Any], svc: Svc) -> None:
    raw = COMPOSE_FILE.read_text(encoding="utf-8")
    var = f"{svc.env_prefix}REPLICAS"
    assert f"${{{var}" in raw
    spec = compose["services"][svc.host]
    assert int(spec["deploy"]["replicas"]) == int(env_example()[var])
    scaled = load_compose({**env_example(), var: "7"})
    assert int(scaled["services"][svc.host]["deploy"]["replicas"]) == 7
    # replicas need: no fixed container name, no published port
    assert "container_name" not in spec
    assert "ports" not in spec


def test_pgbouncer_stands_between_the_services_and_postgres(compose: dict[str, Any]) -> None:
    services = compose["services"]
    pgbouncer = services["pgbouncer"]
    assert pgbouncer["build"]["dockerfile"] == "deploy/pgbouncer/Dockerfile"
    assert (ROOT / pgbouncer["build"]["dockerfile"]).is_file()
    assert pgbouncer["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert pgbouncer["environment"]["POSTGRES_HOST"] == "postgres"
    assert "ports" not in pgbouncer
    for svc in SERVICES:
        var = f"{svc.env_prefix}DATABASE_URL"
        # it reads role, password and database from the very URLs the services get
        assert pgbouncer["environment"][var] == container_env(compose, svc.host)[var]
        assert services[svc.migrate]["depends_on"]["pgbouncer"]["condition"] == "service_healthy"


def test_only_the_gateway_is_published(compose: dict[str, Any]) -> None:
    published = {name for name, spec in compose["services"].items() if spec.get("ports")}
    assert published <= {"gateway", "minio"}
    for port in compose["services"]["minio"].get("ports", []):
        assert str(port).startswith("127.0.0.1:"), "MinIO's console stays on loopback"
    ports = compose["services"]["gateway"]["ports"]
    assert any(str(p).endswith(":80") for p in ports)
    assert any(str(p).endswith(":443") for p in ports)


def test_gateway_service(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["gateway"]
    # nginx with the built console: the image of deploy/gateway/Dockerfile, FROM nginx
    assert gateway["build"]["dockerfile"] == "deploy/gateway/Dockerfile"
    dockerfile = (ROOT / "deploy" / "gateway" / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^ARG NGINX_IMAGE=nginx:", dockerfile, re.M)
    assert "COPY --from=console /console/dist /usr/share/nginx/html" in dockerfile
    targets = {v.split(":")[1]: v.split(":")[0] for v in gateway["volumes"]}
    for name in ("default.conf.template", "gridgov-server.inc.template", "tls.conf.template"):
        source = targets[f"/etc/nginx/templates/{name}"]
        assert (ROOT / source).is_file(), source
    for svc in SERVICES:
        assert gateway["depends_on"][svc.host]["condition"] == "service_healthy"
    assert "/healthz" in " ".join(gateway["healthcheck"]["test"])
    # TLS-ready: the 443 template is one variable away
    tls = load_compose(
        {**env_example(), "GATEWAY_TLS_TEMPLATE": "./deploy/gateway/tls/https.conf.template"}
    )
    tls_targets = {v.split(":")[1]: v.split(":")[0] for v in tls["services"]["gateway"]["volumes"]}
    assert (ROOT / tls_targets["/etc/nginx/templates/tls.conf.template"]).is_file()


def test_minio_init_matches_case_service(compose: dict[str, Any]) -> None:
    init = compose["services"]["minio-init"]
    case = container_env(compose, "case-service")
    for var in ("CASE_S3_BUCKET", "CASE_S3_ACCESS_KEY_ID", "CASE_S3_SECRET_ACCESS_KEY"):
        assert init["environment"][var] == case[var]
    assert (ROOT / init["volumes"][0].split(":")[0]).is_file()
    case_deps = compose["services"]["case-service"]["depends_on"]
    assert case_deps["minio-init"]["condition"] == "service_completed_successfully"
    endpoint = urlsplit(case["CASE_S3_ENDPOINT_URL"])
    assert endpoint.hostname == "minio"
    assert endpoint.port == 9000


def test_missing_required_variable_is_refused() -> None:
    env = env_example()
    del env["POSTGRES_PASSWORD"]
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        load_compose(env)
    assert interpolate("a$$b ${X:-d} ${Y-e}", {"Y": ""}) == "a$b d "


@pytest.mark.parametrize("svc", SERVICES, ids=SVC_IDS)
def test_service_settings_are_valid_for_production(
    compose: dict[str, Any], svc: Svc, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _settings_env(svc, container_env(compose, svc.host))
    assert env[f"{svc.env_prefix}ENVIRONMENT"] == "production"
    try:
        settings = make_settings(svc, env, monkeypatch)
    except ValidationError as exc:
        pytest.fail(f"{svc.name} refuses the settings compose gives it:\n{exc}")
    assert settings.environment.value == "production"

    # the settings production cannot do without: each is provided, and really required
    must = ["DATABASE_URL", "JWKS_URL"] + (
        ["SIGNING_KEY_SECRET"] if svc.host == "grid-service" else []
    )
    fields = settings_class(svc).model_fields
    must += [name.upper() for name, field in fields.items() if field.is_required()]
    for name in must:
        var = svc.env_prefix + name
        assert var in env, f"{var} is not given to {svc.host}"
    for name in ("DATABASE_URL", "JWKS_URL"):
        without = {k: v for k, v in env.items() if k != svc.env_prefix + name}
        with pytest.raises(ValidationError):
            make_settings(svc, without, monkeypatch)
    # and without any of our values, production is refused: the check above is not vacuous
    with pytest.raises(ValidationError):
        make_settings(svc, {f"{svc.env_prefix}ENVIRONMENT": "production"}, monkeypatch)


@pytest.mark.parametrize("svc", SERVICES, ids=SVC_IDS)
def test_no_loopback_or_dev_default_survives(
    compose: dict[str, Any], svc: Svc, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A default that points at 127.0.0.1 (another service, in development) or is a dev-only
    secret must be overridden in the container: inside a container it would be wrong."""
    env = _settings_env(svc, container_env(compose, svc.host))
    settings = make_settings(svc, env, monkeypatch)
    for name, field in settings_class(svc).model_fields.items():
        default = field.get_default(call_default_factory=True)
        text = default.get_secret_value() if isinstance(default, SecretStr) else default
        if not isinstance(text, str):
            continue
        var = svc.env_prefix + name.upper()
        if name == "host":
            continue  # the image binds 0.0.0.0 itself (CMD --host 0.0.0.0)
        if "127.0.0.1" in text or "localhost" in text:
            assert var in env, f"{var} defaults to {text}; set it for the container"
        if (isinstance(default, SecretStr) and text) or text.startswith("dev-only"):
            assert var in env, f"{var} has a development default; set it for production"
        value = getattr(settings, name)
        value = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(value, str):
            assert "127.0.0.1" not in value, var
            assert "localhost" not in value, var


@pytest.mark.parametrize("svc", SERVICES, ids=SVC_IDS)
def test_urls_point_at_the_right_containers(
    compose: dict[str, Any], svc: Svc, table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _settings_env(svc, container_env(compose, svc.host))
    settings = make_settings(svc, env, monkeypatch)
    db = urlsplit(settings.database_url)
    # through PgBouncer (transaction pooling), the services set for it
    assert (db.hostname, db.port) == ("pgbouncer", 6432)
    assert settings.db_pgbouncer is True
    assert db.path.lstrip("/") == config_module(svc).DATABASE_NAME
    jwks = urlsplit(settings.jwks_url)
    grid = table.services["grid_service"]
    assert (jwks.hostname, jwks.port, jwks.path) == (grid.host, grid.port, "/.well-known/jwks.json")
    # every URL naming one of our containers uses that service's port
    for key, value in env.items():
        if not value.startswith(("http://", "https://")):
            continue
        url = urlsplit(value)
        if url.hostname in BY_HOST:
            target = table.services[BY_HOST[url.hostname].name]
            assert url.port == target.port, (
                f"{key}={value}: {url.hostname} listens on {target.port}"
            )
        else:
            assert url.hostname in compose["services"] or "." in (url.hostname or ""), (
                f"{key}={value}: no such container"
            )


def test_env_example_names_real_settings() -> None:
    """A misspelt variable is silently ignored by the services (extra="ignore"); catch it."""
    env = env_example()
    compose_only = {f"{svc.env_prefix}REPLICAS" for svc in SERVICES}
    unknown = []
    for key in env:
        for svc in SERVICES:
            if key.startswith(svc.env_prefix) and key not in compose_only:
                field = key[len(svc.env_prefix) :].lower()
                if field not in settings_class(svc).model_fields:
                    unknown.append(key)
    assert not unknown, f"not settings of any service: {unknown}"
    # and every variable the compose file reads is documented in the example
    raw = COMPOSE_FILE.read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", raw))
    assert used <= set(env), (
        f"used by docker-compose.yml, missing in .env.example: {used - set(env)}"
    )


def test_env_example_holds_no_real_secret() -> None:
    env = env_example()
    secret_names = {"POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD"}
    for svc in SERVICES:
        for name, field in settings_class(svc).model_fields.items():
            annotation = str(field.annotation)
            if "SecretStr" in annotation or re.search(r"secret|password|key", name):
                secret_names.add(svc.env_prefix + name.upper())
    for key in sorted(secret_names & set(env)):
        value = env[key]
        if not value or key.endswith(("_KEY_ID", "_APPID", "_APP_ID", "_CLIENT_ID")):
            continue
        if value.startswith("["):  # a JSON list of keys, each base64 of random bytes
            for item in json.loads(value):
                raw = base64.b64decode(item["key"])
                assert raw.startswith(b"change-me"), f"{key}: the example key must be a placeholder"
            continue
        assert value.startswith("change-me"), f"{key} must be a change-me placeholder"
    for svc in SERVICES:
        password = urlsplit(env[f"{svc.env_prefix}DATABASE_URL"]).password or ""
        assert password.startswith("change-me")
        # the init script reads role and password from the URL: keep it URL-safe
        assert re.fullmatch(r"[A-Za-z0-9._-]+", password)


def test_dotenv_reader_follows_compose_rules(tmp_path: Any) -> None:
    sample = tmp_path / "x.env"
    sample.write_text(
        '# comment\nA=1 # trailing\nB=\'["x","y"]\'\nC="a\\tb"\nexport D=d#not-comment\n'
    )
    assert read_env_file(sample) == {"A": "1", "B": '["x","y"]', "C": "a\tb", "D": "d#not-comment"}
    assert ENV_EXAMPLE.is_file()
