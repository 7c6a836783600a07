"""How long `stepladder --help` takes, against bare interpreters started the same way.

Each round runs, as subprocesses, `stepladder --help` (as `python -m stepladder --help`),
`python -c pass` and `python -c "import typer"` in turn (the order rotating), and times each one
from start to exit (wall time) and by the CPU time it used (user + system, from `wait4`).
Machine load hits all of them alike: the medians and the ratios against the baselines are what
to compare; on a loaded machine the CPU times move least. `--compare OTHER_CHECKOUT` also
times that checkout's `--help` in the same rounds (e.g. a `git archive` of an older commit),
as `help_compare`.

The last line of stdout is `{"benchmark": "cli_startup", "help_s": .., "python_s": ..,
"typer_s": .., "help_over_python": .., "help_over_typer": .., "help_cpu_s": ..,
"python_cpu_s": .., "rounds": ..}` (with `help_compare_s`, `help_compare_over_help` and
`help_compare_cpu_s` when comparing).

    .venv/bin/python benchmarks/cli_startup.py [--rounds 15] [--compare OTHER_CHECKOUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

Command = tuple[list[str], dict[str, str], Path]
"""A command line, its environment and its working directory (which `python -m` imports from)."""


def commands(compare: Path | None) -> dict[str, Command]:
    """The command lines timed and their environments, by name."""

    def env(root: Path) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(root.resolve()), "HF_HUB_OFFLINE": "1"}

    help_command = [sys.executable, "-m", "stepladder", "--help"]
    named = {
        "help": (help_command, env(ROOT), ROOT),
        "python": ([sys.executable, "-c", "pass"], env(ROOT), ROOT),
        "typer": ([sys.executable, "-c", "import typer"], env(ROOT), ROOT),
    }
    if compare is not None:
        named["help_compare"] = (help_command, env(compare), compare)
    return named


def time_once(command: Command) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of a command (its output discarded)."""
    argv, env, cwd = command
    start = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, cwd=cwd)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {process.returncode}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--compare", type=Path, help="another checkout whose --help to time")
    args = parser.parse_args()
    named = commands(args.compare)
    for command in named.values():  # warm the file cache once, untimed
        time_once(command)
    names = list(named)
    walls: dict[str, list[float]] = {name: [] for name in names}
    cpus: dict[str, list[float]] = {name: [] for name in names}
    for index in range(args.rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            wall, cpu = time_once(named[name])
            walls[name].append(wall)
            cpus[name].append(cpu)
    medians = {name: statistics.median(values) for name, values in walls.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpus.items()}
    for name, value in medians.items():
        print(
            f"{name:>12}: median {value * 1000:7.1f} ms wall, {cpu_medians[name] * 1000:7.1f} ms "
            f"CPU over {args.rounds} runs"
        )
    result: dict[str, object] = {
        "benchmark": "cli_startup",
        "help_s": round(medians["help"], 4),
        "python_s": round(medians["python"], 4),
        "typer_s": round(medians["typer"], 4),
        "help_over_python": round(medians["help"] / medians["python"], 2),
        "help_over_typer": round(medians["help"] / medians["typer"], 2),
        "help_cpu_s": round(cpu_medians["help"], 4),
        "python_cpu_s": round(cpu_medians["python"], 4),
        "rounds": args.rounds,
    }
    if "help_compare" in medians:
        result["help_compare_s"] = round(medians["help_compare"], 4)
        result["help_compare_over_help"] = round(medians["help_compare"] / medians["help"], 2)
        result["help_compare_cpu_s"] = round(cpu_medians["help_compare"], 4)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
