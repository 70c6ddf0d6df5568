"""The web console (console/): its dependencies, API types, build and checks, with nothing by hand.

    python scripts/console.py build   # npm ci when needed, `vite build` when the sources changed
    python scripts/console.py types   # the services' OpenAPI → src/api/generated/*.d.ts
    python scripts/console.py check   # types, then oxlint + prettier and vue-tsc --noEmit

`make run` calls `build`; `make test` calls `check` and the browser test calls `build`.

The API types are generated, not committed: the services' `create_app().openapi()` is dumped
to var/openapi/ (no server, no database) and openapi-typescript turns it into TypeScript. So a
change of another service's API is checked against the console by the next `make test`
(vue-tsc), and no committed file can go stale. `vite build` strips type-only imports and does
not need them, so the gateway image (deploy/gateway/Dockerfile) builds with node alone.

Staleness: npm ci runs when node_modules is missing or older than package-lock.json; the build
runs when the hash of the console's sources (src/, index.html, configs, the lock file) differs
from the one written next to the last build (dist/.source-hash).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONSOLE = ROOT / "console"
DIST = CONSOLE / "dist"
STAMP = DIST / ".source-hash"
OPENAPI_DIR = ROOT / "var" / "openapi"
GENERATED = CONSOLE / "src" / "api" / "generated"
# what `vite build` reads; a change in any of them makes the build stale
SOURCES = [
    "src",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.app.json",
]
APPS = {  # name -> module whose create_app() serves an API the console calls
    "case": "case_service.main",
    "grid": "grid_service.main",
}


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(
            "console: npm is not installed (Node.js 20+ with npm: apt-get install nodejs npm)"
        )
    return npm


def _run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), f"(in {CONSOLE.relative_to(ROOT)})", flush=True)
    done = subprocess.run(cmd, cwd=CONSOLE, check=False)
    if done.returncode != 0:
        raise SystemExit(f"console: {' '.join(cmd[:3])} failed ({done.returncode})")


def ensure_dependencies() -> None:
    """`npm ci` from package-lock.json when node_modules is missing or older than the lock."""
    marker = CONSOLE / "node_modules" / ".package-lock.json"
    lock = CONSOLE / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    _run([_npm(), "ci", "--no-audit", "--no-fund"])


def source_hash() -> str:
    digest = hashlib.sha256()
    for name in SOURCES:
        path = CONSOLE / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if GENERATED in file.parents:
                continue  # types only: the build does not read them
            digest.update(str(file.relative_to(CONSOLE)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def build(force: bool = False) -> bool:
    """Build dist/ when it is missing or its sources changed; True when it built."""
    ensure_dependencies()
    wanted = source_hash()
    if not force and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return False
    _run([_npm(), "run", "build"])
    STAMP.write_text(wanted + "\n")
    return True


def dump_openapi() -> None:
    """Each service's OpenAPI document, from its app object (no server, no database)."""
    code = (
        "import importlib, json, sys\n"
        "out = sys.argv[1]\n"
        f"for name, module in {APPS!r}.items():\n"
        "    app = importlib.import_module(module).create_app()\n"
        "    with open(f'{out}/{name}.json', 'w', encoding='utf-8') as fh:\n"
        "        json.dump(app.openapi(), fh, ensure_ascii=False)\n"
    )
    OPENAPI_DIR.mkdir(parents=True, exist_ok=True)
    # a fresh interpreter: the apps read their settings from the environment at import time
    done = subprocess.run([sys.executable, "-c", code, str(OPENAPI_DIR)], cwd=ROOT, check=False)
    if done.returncode != 0:
        raise SystemExit("console: could not dump the services' OpenAPI documents")
    for name in APPS:
        json.loads((OPENAPI_DIR / f"{name}.json").read_text(encoding="utf-8"))


def types() -> None:
    ensure_dependencies()
    dump_openapi()
    GENERATED.mkdir(parents=True, exist_ok=True)
    _run([_npm(), "run", "types"])


def check() -> None:
    types()
    _run([_npm(), "run", "lint"])
    _run([_npm(), "run", "typecheck"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["build", "types", "check"])
    parser.add_argument("--force", action="store_true", help="build even when up to date")
    args = parser.parse_args(argv)
    if args.command == "build":
        built = build(force=args.force)
        print(f"console: {'built' if built else 'up to date'} ({DIST.relative_to(ROOT)})")
    elif args.command == "types":
        types()
    else:
        check()
    return 0


if __name__ == "__main__":
    sys.exit(main())
