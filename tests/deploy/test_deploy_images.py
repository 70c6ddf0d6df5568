"""The Dockerfiles: multi-stage, dependencies from uv.lock before the source, a non-root user,
no build tools in the final image, a healthcheck on /healthz, `python -m <svc> serve`.
Docker cannot run here, so the build steps uv runs are checked against the lock file instead."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
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
