"""Mutations of valid documents: by structure (parsed YAML or JSON) and by text (bytes).

Each mutation takes a `random.Random` (hypothesis hands the test one it controls, the benchmark
a seeded one) and returns a new document. Structural mutations edit the parsed data and dump it
back; textual ones edit the raw text, including the hostile shapes seen in the wild: alias bombs,
deep nesting, oversized files, other encodings, duplicate keys.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from typing import Any

import yaml

__all__ = ["HOSTILE_REFERENCES", "WEIRD_VALUES", "mutate_data", "mutate_json", "mutate_text"]

HOSTILE_REFERENCES = (
    "os:system",
    "subprocess:getoutput",
    "builtins:eval",
    "builtins:exec",
    "stepladder.serve.auth:os.system",
    "stepladder.runtimes.models:subprocess.run",
    "stepladder.specs.references:importlib.import_module",
    "stepladder.flows.run:asyncio.subprocess.create_subprocess_shell",
    "test.support:os.system",
    "posix:system",
    "shutil:rmtree",
    "flows.fuzz_steps:__builtins__",
    "flows.fuzz_steps:up.__globals__",
    "flows.support_steps:re.compile",
)
"""References a flow file must never get resolved: each reaches code outside the allowlist."""

WEIRD_VALUES: tuple[Any, ...] = (
    None, 0, -1, 2**63, 10**400, 1.5, float("inf"), True, "", " ", "x" * 5000,
    "\u202eevil", "🙂", "ß\u0301", "\x00", "START", "END", "__interrupt__", "a:b", "module:attr",
    [], [None], {}, {"x": 1}, [[[]]], "list[list[dict[str, optional[int]]]]", "enum",
    "optional[]", "dict[int, str]", "tests.nope:Model", "1e999", "${HOME}", "../../etc/passwd",
    "%s%n", "{{7*7}}", "🙂" * 300,
)  # fmt: skip
"""Values dropped in place of any scalar, list or mapping."""

KEY_WORDS = (
    "id", "kind", "call", "reads", "writes", "from", "to", "when", "cases", "default",
    "router", "state", "nodes", "edges", "type", "values", "input", "reducer", "name",
    "tiers", "runtime", "model", "allow_imports", "ladder", "flow", "metrics", "splits",
    "concurrency", "escalate", "tier", "labels", "collection", "tools", "max_steps",
)  # fmt: skip
"""Keys that mean something somewhere in a spec, used for renames and additions."""

KINDS = ("function", "classify", "extract", "generate", "retrieve", "route", "agent", "human", "?")


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into `data` (mapping keys and list indexes), the root included."""
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, (*prefix, index))
    return found


def _parent(data: Any, path: tuple[Any, ...]) -> tuple[Any, Any]:
    node = data
    for part in path[:-1]:
        node = node[part]
    return node, path[-1]


def _replace(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent, last = _parent(data, path)
    parent[last] = value
    return data


def _delete(data: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return None
    parent, last = _parent(data, path)
    del parent[last]
    return data


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def _structural_ops(rng: random.Random) -> list[Callable[[Any, tuple[Any, ...]], Any]]:
    def weird(data: Any, path: tuple[Any, ...]) -> Any:
        return _replace(data, path, copy.deepcopy(rng.choice(WEIRD_VALUES)))

    def hostile(data: Any, path: tuple[Any, ...]) -> Any:
        return _replace(data, path, rng.choice(HOSTILE_REFERENCES))

    def delete(data: Any, path: tuple[Any, ...]) -> Any:
        return _delete(data, path)

    def rename(data: Any, path: tuple[Any, ...]) -> Any:
        if not path or not isinstance(path[-1], str):
            return data
        parent, last = _parent(data, path)
        parent[rng.choice(KEY_WORDS)] = parent.pop(last)
        return data

    def add(data: Any, path: tuple[Any, ...]) -> Any:
        node = _get(data, path)
        if isinstance(node, dict):
            node[rng.choice(KEY_WORDS)] = copy.deepcopy(rng.choice(WEIRD_VALUES))
        elif isinstance(node, list):
            node.insert(rng.randint(0, len(node)), copy.deepcopy(rng.choice(node or [None])))
        return data

    def kind(data: Any, path: tuple[Any, ...]) -> Any:
        node = _get(data, path)
        if isinstance(node, dict) and "kind" in node:
            node["kind"] = rng.choice(KINDS)
        return data

    def nest(data: Any, path: tuple[Any, ...]) -> Any:
        node = _get(data, path)
        for _ in range(rng.randint(1, 200)):
            node = rng.choice([[node], {"x": node}])
        return _replace(data, path, node)

    return [weird, weird, hostile, delete, delete, rename, add, add, kind, nest]


def mutate_data(data: Any, rng: random.Random, steps: int = 3) -> Any:
    """Apply `steps` structural mutations at random paths of a deep copy of `data`."""
    data = copy.deepcopy(data)
    ops = _structural_ops(rng)
    for _ in range(steps):
        path = rng.choice(_paths(data))
        try:
            data = rng.choice(ops)(data, path)
        except (KeyError, IndexError, TypeError):
            continue  # the path went away under an earlier mutation
    return data


def dump_yaml(data: Any) -> str:
    """YAML text of `data` (anything yaml.safe_dump refuses becomes its repr, quoted)."""
    try:
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    except (yaml.YAMLError, RecursionError):
        return yaml.safe_dump(repr(data))


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)
"""The 'billion laughs' shape: nine levels of nine aliases each (under 1 KB of text)."""


def _text_ops(rng: random.Random) -> list[Callable[[str], str | bytes]]:
    def flip(text: str) -> str:
        if not text:
            return "\x00"
        at = rng.randrange(len(text))
        char = chr(rng.choice([0, 9, 10, 34, 38, 42, 58, 91, 123, 0x85, 0xFEFF]))
        return text[:at] + char + text[at + 1 :]

    def drop_line(text: str) -> str:
        lines = text.splitlines(keepends=True)
        if lines:
            del lines[rng.randrange(len(lines))]
        return "".join(lines)

    def repeat_line(text: str) -> str:  # often a duplicate key
        lines = text.splitlines(keepends=True)
        if not lines:
            return text
        at = rng.randrange(len(lines))
        return "".join([*lines[: at + 1], lines[at], *lines[at + 1 :]])

    def repeat_block(text: str) -> str:  # a second `nodes:` or `state:`
        lines = text.splitlines(keepends=True)
        tops = [i for i, line in enumerate(lines) if line[:1].isalpha()]
        if not tops:
            return text + text
        start = rng.choice(tops)
        end = next((i for i in tops if i > start), len(lines))
        return "".join([*lines, *lines[start:end]])

    def truncate(text: str) -> str:
        return text[: rng.randrange(len(text) + 1)]

    def indent(text: str) -> str:
        lines = text.splitlines(keepends=True)
        if lines:
            at = rng.randrange(len(lines))
            lines[at] = rng.choice(["\t", "   ", ""]) + lines[at].lstrip(" ")
        return "".join(lines)

    def bomb(text: str) -> str:
        return rng.choice([ALIAS_BOMB, text + "\n" + ALIAS_BOMB, "a: &a [*a]\n", "&a [*a, *a]"])

    def deep(text: str) -> str:
        depth = rng.choice([100, 1000, 20_000])
        blocks = "a:\n" + "".join(" " * i + "b:\n" for i in range(1, min(depth, 2000)))
        return rng.choice(["[" * depth + "]" * depth, blocks, "{a: " * depth + "1" + "}" * depth])

    def huge(text: str) -> str:
        return text + "\n# " + "x" * rng.choice([1_100_000, 3_000_000]) + "\n"

    def encoding(text: str) -> bytes:
        codec = rng.choice(["latin-1", "utf-16", "utf-32", "cp1252", "utf-8-sig"])
        return (text + "\n# café ñ\n").encode(codec, errors="replace")

    def garbage(text: str) -> bytes:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 400)))

    def tag(text: str) -> str:
        return (
            rng.choice(
                [
                    "!!python/object/apply:os.system ['true']\n",
                    "a: !!binary AAAA\n",
                    "a: !!set {x}\n",
                    "a: !custom x\n",
                    "a: !!omap [b: 1]\n",
                ]
            )
            + text
        )

    return [flip, flip, drop_line, repeat_line, repeat_line, repeat_block, truncate, indent,
            bomb, deep, huge, encoding, garbage, tag]  # fmt: skip


def mutate_text(text: str, rng: random.Random, steps: int = 1) -> str | bytes:
    """Apply `steps` textual mutations to `text` (bytes out for other encodings)."""
    result: str | bytes = text
    ops = _text_ops(rng)
    for _ in range(steps):
        if isinstance(result, bytes):
            break
        result = rng.choice(ops)(result)
    return result


def mutate_json(value: dict[str, Any], rng: random.Random) -> str | bytes:
    """A run input: a mutated JSON object, as text (or bytes in another encoding)."""
    choice = rng.randrange(8)
    if choice == 0:
        depth = rng.choice([1000, 100_000])
        return '{"text": ' + "[" * depth + "]" * depth + "}"
    if choice == 1:
        lone = ['{"text": "\\ud800"}', '{"text": "\\udfff x"}', '{"message": "\\ud83d"}']
        return rng.choice(lone)
    if choice == 2:
        return rng.choice(["", "null", "[]", "42", '"text"', "{", '{"text": }', "NaN", "{'a': 1}"])
    if choice == 3:
        text = json.dumps(value)
        return text.encode(rng.choice(["latin-1", "utf-16", "utf-32"]), errors="replace")
    data = mutate_data(value, rng, steps=rng.randint(1, 3))
    try:
        return json.dumps(data, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        return json.dumps(repr(data))
