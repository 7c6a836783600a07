"""`stepladder graph FLOW --format svg|png --output FILE`: the flow drawn as a picture."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from stepladder.cli import app

runner = CliRunner()
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("graph") / "demo"
    result = runner.invoke(app, ["init", str(root)])
    assert result.exit_code == 0, result.output
    return root


def graph(project: Path, *arguments: str) -> Result:
    return runner.invoke(app, ["--project", str(project), "graph", "hello", *arguments])


def test_svg_goes_to_stdout_or_a_file(project: Path, tmp_path: Path) -> None:
    shown = graph(project, "--format", "svg")
    assert shown.exit_code == 0, shown.output
    root = ET.fromstring(shown.stdout)
    nodes = {g.get("data-node") for g in root.iter(f"{SVG}g")} - {None}
    assert nodes == {"START", "split", "count", "summarize", "END"}
    target = tmp_path / "pictures" / "hello.svg"
    written = graph(project, "--format", "svg", "--output", str(target))
    assert written.exit_code == 0
    assert target.read_text() == shown.stdout
    assert f"wrote {target}" in written.stderr


def test_png_is_written_to_the_output_file(project: Path, tmp_path: Path) -> None:
    target = tmp_path / "hello.png"
    result = graph(project, "-o", str(target))  # the suffix picks the format
    assert result.exit_code == 0, result.output
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert 150 < width < 2000 and 300 < height < 3000


def test_png_needs_a_file_and_mermaid_stays_the_default(project: Path) -> None:
    refused = graph(project, "--format", "png")
    assert refused.exit_code == 2
    assert "--output FILE" in refused.stderr
    mermaid = graph(project)
    assert mermaid.exit_code == 0
    assert "split --> count;" in mermaid.stdout
