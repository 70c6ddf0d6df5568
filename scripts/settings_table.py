"""Print (or, with --write, refresh in README.md) the table of every setting.

The table is generated from the services' Settings classes, so it cannot drift: a test checks
that README.md holds exactly what this script would write.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def _settings_classes() -> list[tuple[str, type[BaseSettings]]]:
    from case_service.config import Settings as CaseSettings
    from grid_service.config import Settings as GridSettings
    from notify_service.config import Settings as NotifySettings

    return [
        ("case_service", CaseSettings),
        ("grid_service", GridSettings),
        ("notify_service", NotifySettings),
    ]


def _default(field: object) -> str:
    default = getattr(field, "default", None)
    factory = getattr(field, "default_factory", None)
    if factory is not None:
        default = factory()
    if default is None:
        return "—"
    if isinstance(default, list | tuple):
        text = ",".join(str(getattr(v, "value", v)) for v in default)
    else:
        text = str(getattr(default, "value", default))
    return f"`{text}`" if text else '`""`'


def table() -> str:
    lines = []
    for service, cls in _settings_classes():
        prefix = str(cls.model_config.get("env_prefix", ""))
        lines.append(f"\n**{service}** (prefix `{prefix}`)\n")
        lines.append("| variable | default | meaning |")
        lines.append("| --- | --- | --- |")
        for name, field in cls.model_fields.items():
            meaning = (field.description or "").replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{prefix}{name.upper()}` | {_default(field)} | {meaning} |")
    return "\n".join(lines).strip() + "\n"


def render_readme(text: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table()}{END}{tail}"


def main() -> int:
    readme = ROOT / "README.md"
    if "--write" in sys.argv:
        readme.write_text(render_readme(readme.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
