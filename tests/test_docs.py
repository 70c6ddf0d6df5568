"""The README documents every setting that exists, with its current default."""

from __future__ import annotations

import importlib.util

from shared.testing import REPO_ROOT


def test_readme_settings_table_is_current() -> None:
    spec = importlib.util.spec_from_file_location(
        "settings_table", REPO_ROOT / "scripts" / "settings_table.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert module.render_readme(readme) == readme, (
        "README.md's settings table is stale: run `uv run python scripts/settings_table.py --write`"
    )
