"""A YAML loader for spec files that bounds its work, whatever the file holds.

Flow files, `stepladder.yaml` and eval specs are small, hand-written documents, so the loader
refuses what only a mistake or an attack produces, each with an error naming file and line:

- files over a size limit (1 MB unless `STEPLADDER_MAX_SPEC_BYTES` says otherwise), refused
  before any parsing: a bounded read, so even `/dev/zero` is refused at once;
- anchors and aliases (`&name`, `*name`): a few hundred bytes of aliases expand to billions of
  nodes ("billion laughs"), and an alias can refer to itself;
- nesting deeper than 100 levels (deeper documents would exhaust Python's recursion), and more
  than 100,000 items (hand-written spec files hold a few hundred);
- duplicate keys in a mapping (YAML would silently keep the last one).

The file is parsed once: composed into nodes under these limits, walked once for duplicate keys
and the line of every item, then constructed with PyYAML's safe constructor.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from stepladder.specs.encoding import guess_encoding

__all__ = [
    "DEFAULT_MAX_SPEC_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_SPEC_BYTES_ENV",
    "SpecYAMLError",
    "compose_spec",
    "max_spec_bytes",
    "read_spec_text",
]

DEFAULT_MAX_SPEC_BYTES = 1_000_000
MAX_SPEC_BYTES_ENV = "STEPLADDER_MAX_SPEC_BYTES"
MAX_DEPTH = 100
MAX_NODES = 100_000

ItemPath = tuple[str | int, ...]


class SpecYAMLError(yaml.YAMLError):
    """Valid (or unread) YAML that a spec file may not hold.

    Callers catch it with every `yaml.YAMLError`; `describe_yaml_error` renders it.

    Attributes:
        problem: What is wrong and what to change, as a sentence.
        line: The 1-based line it is on, if known.
        path: The YAML path of the item it concerns, if known (`nodes[2].reads`).
    """

    def __init__(self, problem: str, line: int | None = None, path: ItemPath | None = None):
        super().__init__(problem)
        self.problem = problem
        self.line = line
        self.path = path


def max_spec_bytes() -> int:
    """The size limit of a spec file: `STEPLADDER_MAX_SPEC_BYTES`, or 1 MB."""
    value = os.environ.get(MAX_SPEC_BYTES_ENV, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_MAX_SPEC_BYTES


def _too_big(limit: int) -> SpecYAMLError:
    return SpecYAMLError(
        f"the file is larger than the {limit:,}-byte limit for spec files; flow, settings and "
        f"eval spec files are small (keep data such as eval cases in their own files), or raise "
        f"the limit with the environment variable {MAX_SPEC_BYTES_ENV}"
    )


def read_spec_text(path: Path) -> str:
    """Read a spec file as UTF-8, reading no more than the size limit (plus one byte).

    Raises:
        SpecYAMLError: If the file is over the limit, or is not UTF-8 (naming the line).
        OSError: If it cannot be read.
    """
    limit = max_spec_bytes()
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise _too_big(limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _not_utf8(data, error.start) from None


def _not_utf8(data: bytes, start: int) -> SpecYAMLError:
    """Name the encoding a non-UTF-8 spec file seems to be in, and how to convert it."""
    found, source = guess_encoding(data, start)
    line = None if source == "UTF-16" else data.count(b"\n", 0, start) + 1
    return SpecYAMLError(
        f"spec files must be UTF-8 text, and {found}; save the file as UTF-8 (for example "
        f"`iconv -f {source} -t UTF-8 FILE > FILE.new`, then replace FILE with it)",
        line,
    )


def compose_spec(text: str) -> tuple[Any, dict[ItemPath, int]]:
    """Parse spec YAML under the limits: the data, and the 1-based line of each item's path.

    Raises:
        SpecYAMLError: For a file over the size limit, an anchor or alias, nesting deeper than
            `MAX_DEPTH`, or a duplicate key.
        yaml.YAMLError: For a syntax error or a tag the safe constructor refuses.
    """
    limit = max_spec_bytes()
    if len(text) > limit or len(text.encode("utf-8", "surrogatepass")) > limit:
        raise _too_big(limit)
    loader = _loader(text)
    try:
        root = loader.get_single_node()
        lines: dict[ItemPath, int] = {}
        if root is None:
            return None, lines
        _record_lines(root, (), lines)
        return loader.construct_document(root), lines
    finally:
        loader.dispose()


class _Limits(Composer):
    """Composes nodes as PyYAML does, refusing anchors, aliases, deep nesting, many nodes."""

    _depth = 0
    _nodes = 0

    if TYPE_CHECKING:  # given by the parser and constructor classes mixed in below

        def peek_event(self) -> yaml.Event: ...
        def construct_document(self, node: yaml.Node) -> Any: ...
        def dispose(self) -> None: ...

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        line = event.start_mark.line + 1 if event.start_mark else None
        anchor = getattr(event, "anchor", None)
        if isinstance(event, yaml.AliasEvent):
            raise _no_anchors(f"alias '*{anchor}'", line)
        if anchor is not None:
            raise _no_anchors(f"anchor '&{anchor}'", line)
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise SpecYAMLError(_TOO_MANY, line)
        if not isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        if self._depth >= MAX_DEPTH:
            raise SpecYAMLError(_TOO_DEEP, line)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_TOO_MANY = (
    f"the document has more than {MAX_NODES:,} items; spec files are small (keep data such as "
    "eval cases in their own files)"
)
_TOO_DEEP = (
    f"the document nests deeper than {MAX_DEPTH} levels here; spec files nest a few levels, so "
    "look for unclosed brackets or flatten the structure"
)


def _loader(text: str) -> _Limits:
    """A bounded safe loader over libyaml's parser when PyYAML has it (4x faster), else PyYAML's."""
    if not yaml.__with_libyaml__:
        return _PlainLoader(text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: PyYAML's reader refuses it with a YAMLError
        return _PlainLoader(text)
    return _FastLoader(text)


class _PlainLoader(_Limits, Reader, Scanner, Parser, SafeConstructor, Resolver):
    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _Limits.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)


if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _FastLoader(_Limits, CParser, SafeConstructor, Resolver):
        # `_Limits` (a Composer) comes before CParser, whose `get_single_node` composes in C.
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _Limits.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)


def _no_anchors(what: str, line: int | None) -> SpecYAMLError:
    return SpecYAMLError(
        f"spec files may not use YAML anchors or aliases (found {what}); write the repeated "
        "value out in full",
        line,
    )


def _record_lines(node: yaml.Node, path: ItemPath, lines: dict[ItemPath, int]) -> None:
    """Note the line of every item under `node`, refusing a key repeated in a mapping.

    Recursion is bounded by `MAX_DEPTH`, and each node is visited once (no aliases).
    """
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        first: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            child = (*path, str(key_node.value))
            if isinstance(key_node, yaml.ScalarNode):
                _check_unique(first, key_node, line, child)
            lines[child] = line
            _record_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*path, index), lines)


def _check_unique(
    first: dict[tuple[str, str], int], key_node: yaml.Node, line: int, path: ItemPath
) -> None:
    """Remember a mapping key's line; raise if the mapping already had it."""
    key = (key_node.tag, key_node.value)
    if key in first:
        raise SpecYAMLError(
            f"duplicate key '{key_node.value}', first at line {first[key]}; YAML would keep "
            "only the last one, so merge the two or remove one",
            line,
            path,
        )
    first[key] = line
