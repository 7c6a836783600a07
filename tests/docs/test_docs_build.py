"""The API reference builds with `mkdocs build --strict`, offline, and a broken reference fails."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXTERNAL_ASSET = re.compile(
    r"""<(?:script|link|img|iframe)\b[^>]*(?:src|href)\s*=\s*["'](?:https?:)?//""", re.IGNORECASE
)
PAGES = ("project", "flows", "nodes", "evalsets", "tracing", "predictors", "serve", "studio")


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config)]
    return subprocess.run(
        [*command, "-d", str(site)], env=env, cwd=config.parent, capture_output=True, text=True
    )


def test_the_reference_builds_strictly_and_loads_nothing_from_elsewhere(tmp_path: Path) -> None:
    done = build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stderr
    pages = {page: (tmp_path / "site" / "api" / f"{page}.html").read_text() for page in PAGES}
    assert 'id="stepladder.flows.builder.FlowBuilder"' in pages["flows"]
    assert 'id="stepladder.serve.create_app"' in pages["serve"]
    assert 'id="stepladder.studio.create_studio_app"' in pages["studio"]
    assert 'id="stepladder.predictors.router.Router"' in pages["predictors"]
    for html in (tmp_path / "site").rglob("*.html"):
        text = html.read_text()
        assert not EXTERNAL_ASSET.search(text), (html, EXTERNAL_ASSET.search(text))
        assert "fonts.googleapis" not in text and "fonts.gstatic" not in text, html


def test_a_reference_to_a_missing_object_fails_the_build(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# Broken\n\n::: stepladder.flows.NoSuchThing\n")
    config = (ROOT / "mkdocs.yml").read_text()
    config = config[: config.index("nav:")]  # the same settings, one page
    (tmp_path / "mkdocs.yml").write_text(config.replace("paths: [.]", f"paths: [{ROOT}]"))
    done = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0
    assert "NoSuchThing" in done.stderr
