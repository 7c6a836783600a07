"""Runs fuzz cases in one long-lived process: `python -m tests.fuzz.worker BASE_DIR`.

Reads one case a line (JSON, from `FuzzCase.to_json`) on stdin, writes the case's project under
BASE_DIR, runs `stepladder --project ROOT ARGS...` in-process (imports are paid once), and answers
one JSON line: exit code, stdout, stderr, the traceback of an exception that escaped, and
whether the canary file appeared. The parent (`harness.py`) kills this process when a case hangs
or grows memory past its bound, and starts another.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import traceback
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from stepladder.cli import app
from tests.fuzz import seeds
from tests.fuzz.cases import CANARY, ROOT

OUTPUT_LIMIT = 4000


def write_project(root: Path, case: dict[str, Any]) -> None:
    """The seed project, then the case's files over it and its empty folders."""
    for path, text in seeds.project_files().items():
        _write(root / path, text.encode("utf-8"))
    for path, content in case["files"].items():
        if "b64" in content:
            data = base64.b64decode(content["b64"])
        else:
            data = content["text"].replace(ROOT, str(root)).encode("utf-8", "surrogatepass")
        _write(root / path, data)
    for folder in case["dirs"]:
        (root / folder).mkdir(parents=True, exist_ok=True)


def _write(file: Path, data: bytes) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(data)


def run_case(base: Path, number: int, case: dict[str, Any]) -> dict[str, Any]:
    """Run one case in a fresh project folder; undo what it did to this process."""
    root = base / f"case{number}"
    write_project(root, case)
    args = ["--project", str(root), *(arg.replace(ROOT, str(root)) for arg in case["args"])]
    saved_path, saved_modules, cwd = list(sys.path), set(sys.modules), os.getcwd()
    os.chdir(root)
    try:
        result = CliRunner().invoke(app, args)
    finally:
        os.chdir(cwd)
        sys.path[:] = saved_path
        for name in set(sys.modules) - saved_modules:
            if _inside(sys.modules[name], root):
                del sys.modules[name]  # the project's modules (the next case has its own)
    escaped = ""
    if result.exc_info is not None and not isinstance(result.exception, (SystemExit, type(None))):
        escaped = "".join(traceback.format_exception(*result.exc_info))
    answer = {
        "exit_code": result.exit_code,
        "stdout": result.stdout[-OUTPUT_LIMIT:],
        "stderr": result.stderr[-OUTPUT_LIMIT:],
        "escaped": escaped[-OUTPUT_LIMIT:],
        "canary": (root / CANARY).exists(),
    }
    shutil.rmtree(root, ignore_errors=True)
    return answer


def _inside(module: Any, root: Path) -> bool:
    """Whether `module` was loaded from the case's project folder.

    Only those are forgotten after a case: the CLI imports heavy libraries on first use, and
    some (numpy's C core) cannot be imported a second time in one process.
    """
    places = [getattr(module, "__file__", None), *list(getattr(module, "__path__", []) or [])]
    return any(place and Path(place).is_relative_to(root) for place in places)


def main() -> None:
    """Answer cases from stdin until it closes."""
    base = Path(sys.argv[1])
    base.mkdir(parents=True, exist_ok=True)
    print(json.dumps({"ready": True}), flush=True)
    for number, line in enumerate(sys.stdin):
        answer = run_case(base, number, json.loads(line))
        sys.stdout.write(json.dumps(answer, ensure_ascii=True) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
