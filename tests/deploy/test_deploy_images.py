"""The Dockerfiles: multi-stage, dependencies from uv.lock before the source, a non-root user,
no build tools in the final image, a healthcheck on /healthz, `python -m <svc> serve`.
Docker cannot run here, so the build steps uv runs are checked against the lock file instead."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from deploy_support import DEPLOY, ROOT, SERVICES, Svc, default_settings

SVC_IDS = [svc.name for svc in SERVICES]


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


def parse_dockerfile(path: Path) -> tuple[dict[str, str], list[Stage]]:
    text = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            found = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest.strip(), re.I)
            assert found, line
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], found.group(1))
            stages.append(Stage(base=base, name=found.group(2)))
        else:
            stages[-1].instructions.append((keyword, rest.strip()))
    return args, stages


def dockerfile(svc: Svc) -> Path:
    return DEPLOY / svc.name / "Dockerfile"


@pytest.mark.parametrize("svc", SERVICES, ids=SVC_IDS)
def test_multi_stage_dependencies_before_source(svc: Svc) -> None:
    _, stages = parse_dockerfile(dockerfile(svc))
    assert len(stages) >= 2
    build = next(s for s in stages if s.name == "build")
    steps = build.instructions
    syncs = [i for i, (k, v) in enumerate(steps) if k == "RUN" and "uv sync" in v]
    assert len(syncs) == 2, "one uv sync for the locked dependencies, one for the source"
    first, second = (steps[i][1] for i in syncs)
    for command in (first, second):
        assert "--frozen" in command
        assert "--no-dev" in command
        assert f"--package {svc.distribution}" in command
    assert "--no-install-workspace" in first
    source_copies = [
        i for i, (k, v) in enumerate(steps) if k == "COPY" and re.search(r"\bsrc\b", v)
    ]
    assert source_copies
    assert min(source_copies) > syncs[0] > 0
    assert max(source_copies) < syncs[1]
    # before the first sync, only manifests: every workspace member's pyproject.toml
    before = [v for k, v in steps[: syncs[0]] if k == "COPY" and "--from" not in v]
    copied = " ".join(before)
    assert "uv.lock" in copied
    assert "pyproject.toml" in copied
    members = [p.parent.relative_to(ROOT) for p in ROOT.glob("services/*/pyproject.toml")]
    members.append(Path("shared"))
    for member in members:
        assert f"{member}/pyproject.toml" in copied, f"{member} is a workspace member"
    for instruction in before:
        assert "src" not in instruction.split()
    # every path the build copies from the context exists
    for keyword, value in steps:
        if keyword == "COPY" and "--from" not in value:
            for source in value.split()[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: no such path"


@pytest.mark.parametrize("svc", SERVICES, ids=SVC_IDS)
def test_final_image_runs_the_service_as_non_root(svc: Svc) -> None:
    args, stages = parse_dockerfile(dockerfile(svc))
    final = stages[-1]
    assert final.base == args["PYTHON_IMAGE"]
    assert "slim" in final.base
    steps = dict(final.instructions)
    user = steps["USER"].split(":")[0]
    assert user not in {"root", "0"}
    assert user
    # nothing of the build stage but /app; no uv, no compilers
    copies = [v for k, v in final.instructions if k == "COPY"]
    assert copies == ["--from=build /app /app"]
    runs = " ".join(v for k, v in final.instructions if k == "RUN")
    for tool in ("apt-get install", "gcc", "build-essential", "uv ", "pip install"):
        assert tool not in runs
    port = default_settings(svc).port
    assert steps["EXPOSE"] == str(port)
    assert f"{svc.env_prefix}HOST=0.0.0.0" in steps["ENV"]
    assert "/healthz" in steps["HEALTHCHECK"]
    assert steps["HEALTHCHECK"].split()[0].startswith("--")
    assert json.loads(steps["CMD"]) == [
        "python",
        "-m",
        svc.name,
        "serve",
        "--host",
        "0.0.0.0",  # noqa: S104 - a container listens on all its interfaces
    ]


def test_dockerignore_keeps_secrets_out_and_the_build_inputs_in() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        result = False
        for pattern in patterns:
            negate = pattern.startswith("!")
            pat = pattern.lstrip("!").removeprefix("**/")
            hit = fnmatch.fnmatch(path, pat) or fnmatch.fnmatch(path.split("/")[-1], pat)
            hit = hit or any(fnmatch.fnmatch(part, pat) for part in path.split("/")[:-1])
            if hit:
                result = not negate
        return result

    for secret in (".env", ".git/config", "deploy/gateway/certs/privkey.pem", "var/pg/x"):
        assert ignored(secret), secret
    needed = ["pyproject.toml", "uv.lock", "README.md", "shared/src/shared/app.py"]
    for svc in SERVICES:
        needed += [
            f"services/{svc.name}/pyproject.toml",
            f"services/{svc.name}/alembic.ini",
            f"services/{svc.name}/src/{svc.name}/main.py",
        ]
        needed += [
            str(p.relative_to(ROOT))
            for p in (ROOT / "services" / svc.name / "migrations").rglob("*.py")
        ][:3]
    for path in needed:
        assert not ignored(path), path


@pytest.mark.parametrize("svc", SERVICES, ids=SVC_IDS)
def test_the_lock_file_serves_the_image_build(svc: Svc) -> None:
    """What `uv sync --frozen --no-dev --package <svc>` would install: the service, the shared
    kit, their locked dependencies, and none of the development tools."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    result = subprocess.run(
        [
            uv,
            "export",
            "--frozen",
            "--no-dev",
            "--package",
            svc.distribution,
            "--no-hashes",
            "--no-header",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    names = {
        re.split(r"[=<>\[ ;@]", line.strip(), maxsplit=1)[0].lower()
        for line in result.stdout.splitlines()
        if line.strip() and not line.startswith(("#", " "))
    }
    assert {"fastapi", "uvicorn", "asyncpg", "alembic"} <= names
    for dev_tool in ("pytest", "ruff", "mypy", "respx", "kubernetes-validate"):
        assert dev_tool not in names, f"{dev_tool} would land in the {svc.name} image"


@pytest.mark.parametrize("svc", SERVICES, ids=SVC_IDS)
def test_the_build_stage_runs_and_its_environment_serves(svc: Svc, tmp_path: Path) -> None:
    """Play the build stage without Docker: its COPY and `uv sync` steps in a scratch /app,
    then start the result the way the runtime stage does (`python -m <svc>`), from another
    folder, with no development tool in reach."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    _, stages = parse_dockerfile(dockerfile(svc))
    build = next(s for s in stages if s.name == "build")
    app = tmp_path / "app"
    app.mkdir()
    venv = app / ".venv"
    env = dict(os.environ)
    for key in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH"):
        env.pop(key, None)
    for keyword, value in build.instructions:
        if keyword == "ENV":
            for name, val in re.findall(r"(\w+)=(\S+)", value):
                env[name] = val
        elif keyword == "COPY" and "--from" not in value:
            *sources, target = value.split()
            for source in sources:
                src = ROOT / source
                dest = app / target if not target.endswith("/") else app / target / src.name
                if target in ("./", "."):
                    dest = app / src.name
                dest.parent.mkdir(parents=True, exist_ok=True)
                if src.is_dir():
                    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy2(src, dest)
        elif keyword == "RUN":
            found = re.search(r"(?:^|\s)uv\s+(.*)$", value)
            assert found, f"RUN {value}: only uv runs in the build stage"
            command = found.group(1)
            env.update(
                UV_PROJECT_ENVIRONMENT=str(venv),
                UV_LINK_MODE="hardlink",
                UV_COMPILE_BYTECODE="0",  # the image compiles; here it only costs time
                UV_PYTHON=sys.executable,
            )
            result = subprocess.run(
                [uv, *command.split()],
                cwd=app,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert result.returncode == 0, f"RUN uv {command}:\n{result.stderr}"
    python = venv / "bin" / "python"
    probe = (
        f"import importlib.util, runpy, sys, {svc.name}.config as c, {svc.name}.main as m\n"
        "assert c.ALEMBIC_INI.is_file(), c.ALEMBIC_INI\n"
        f"assert str(c.ALEMBIC_INI).startswith({str(app)!r}), c.ALEMBIC_INI\n"
        "for tool in ('pytest', 'ruff', 'mypy', 'uv'):\n"
        "    assert importlib.util.find_spec(tool) is None, tool\n"
        f"sys.argv = [{svc.name!r}, '--help']\n"
        "try:\n"
        f"    runpy.run_module({svc.name!r}, run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
    )
    runtime_env = {k: v for k, v in env.items() if not k.startswith(("UV_", svc.env_prefix))}
    result = subprocess.run(
        [str(python), "-c", probe],
        cwd=tmp_path,
        env=runtime_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "migrate" in result.stdout
    assert "serve" in result.stdout
