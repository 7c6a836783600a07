"""The tools one agent may call, by name; nothing outside it is callable."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from stepladder.errors import UnknownToolError
from stepladder.tools.tool import Tool

__all__ = ["FINISH", "ToolRegistry"]

FINISH = "finish"


class ToolRegistry:
    """Tools by name, in the order they were given.

    Raises:
        ValueError: On construction, for duplicate names or a tool named `finish`.
    """

    def __init__(self, tools: Iterable[Tool]) -> None:
        self._tools: dict[str, Tool] = {}
        for item in tools:
            if item.name == FINISH:
                raise ValueError(f"'{FINISH}' is reserved for ending the loop; rename the tool.")
            if item.name in self._tools:
                raise ValueError(f"two tools are named '{item.name}'; tool names must differ.")
            self._tools[item.name] = item

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def names(self) -> list[str]:
        """The tool names, in order."""
        return list(self._tools)

    def get(self, name: str) -> Tool:
        """The tool `name`.

        Raises:
            UnknownToolError: Naming the valid tools.
        """
        found = self._tools.get(name)
        if found is None:
            valid = ", ".join(self._tools) or "(none)"
            raise UnknownToolError(f"unknown tool '{name}'; valid tools: {valid}")
        return found
