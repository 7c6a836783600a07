"""Explaining pydantic validation errors as one paragraph that names YAML paths and lines."""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from stepladder.specs.locations import LocatedDocument, near_miss, valid_choices

__all__ = ["describe_pattern", "explain_validation_error"]

MAX_PROBLEMS = 5
_PATTERN_MEANINGS: dict[str, str] = {}


def describe_pattern(pattern: str, meaning: str) -> str:
    """Register what a regex constraint means, for messages; returns the pattern."""
    _PATTERN_MEANINGS[pattern] = meaning
    return pattern


def explain_validation_error(
    error: ValidationError, document: LocatedDocument, model: type[BaseModel], what: str
) -> str:
    """Describe every problem in `error`, each with its YAML path, line and valid choices.

    Args:
        error: The pydantic error raised validating `document.data` against `model`.
        document: The data and where each item of it came from.
        model: The model validated against (to list valid fields and kinds).
        what: A short name for the document ("flow", "settings").
    """
    problems: list[str] = []
    seen: set[tuple[Any, ...]] = set()
    for detail in error.errors(include_url=False):
        path = _data_path(detail, document.data)
        key = (tuple(path), detail["type"])
        if key in seen:
            continue
        seen.add(key)
        problems.append(_describe(detail, path, document, model))
    origin = str(document.source) if document.source else f"the {what}"
    shown = problems[:MAX_PROBLEMS]
    more = len(problems) - len(shown)
    count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
    text = f"{origin}: invalid {what}, {count}: " + " ".join(shown)
    return text + (f" (and {more} more)" if more > 0 else "")


def _data_path(detail: ErrorDetails, data: Any) -> list[str | int]:
    """Map pydantic's location onto the data, dropping union tags and member labels."""
    loc = list(detail["loc"])
    path: list[str | int] = []
    current = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if _has_item(current, part):
            path.append(part)
            current = current[part]
        elif last and detail["type"] == "missing":
            path.append(part)
        elif isinstance(current, dict) and isinstance(part, str) and _by_alias(current, part):
            path.append(_by_alias(current, part) or part)
            current = current[path[-1]]
    return path


def _has_item(container: Any, part: str | int) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container)


def _by_alias(mapping: dict[Any, Any], name: str) -> str | None:
    aliases = {"source": "from"}
    alias = aliases.get(name)
    return alias if alias in mapping else None


def _describe(
    detail: ErrorDetails, path: list[str | int], document: LocatedDocument, model: type[BaseModel]
) -> str:
    kind = detail["type"]
    where = document.where(path)
    if kind == "extra_forbidden":
        name = str(path[-1])
        fields = _field_names(_annotation_at(model, path[:-1], document.data))
        guess = near_miss(name, fields)
        hint = f"; did you mean '{guess}'?" if guess else "."
        return f"{where}: unknown field '{name}'{hint} Valid fields: {valid_choices(fields)}."
    if kind == "missing":
        fields = _field_names(_annotation_at(model, path[:-1], document.data))
        return (
            f"{where}: required field '{path[-1]}' is missing. "
            f"Fields here: {valid_choices(fields)}."
        )
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return _describe_tag(detail, path, document, model)
    message = detail["msg"]
    pattern = str((detail.get("ctx") or {}).get("pattern", ""))
    if kind == "string_pattern_mismatch" and pattern in _PATTERN_MEANINGS:
        return f"{where}: {detail.get('input')!r} is not valid: {_PATTERN_MEANINGS[pattern]}."
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    got = detail.get("input")
    shown = (
        "" if isinstance(got, dict | list) or kind.startswith("value_error") else f" (got {got!r})"
    )
    return f"{where}: {message}{shown}."


def _describe_tag(
    detail: ErrorDetails, path: list[str | int], document: LocatedDocument, model: type[BaseModel]
) -> str:
    """A missing or unknown discriminator (a node's `kind`, a tier's `runtime`)."""
    ctx = detail.get("ctx") or {}
    field = str(ctx.get("discriminator", "kind")).strip("'")
    tags = _union_tags(model, path, document.data, field)
    given = ctx.get("tag")
    if given is None:
        return f"{document.where(path)}: missing '{field}'. Valid {field}s: {valid_choices(tags)}."
    guess = near_miss(str(given), tags)
    hint = f"; did you mean '{guess}'?" if guess else "."
    return (
        f"{document.where([*path, field])}: unknown {field} '{given}'{hint} "
        f"Valid {field}s: {valid_choices(tags)}."
    )


def _field_names(annotation: Any) -> list[str]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [f.alias or name for name, f in annotation.model_fields.items()]
    return []


def _union_tags(
    model: type[BaseModel], path: list[str | int], data: Any, discriminator: str
) -> list[str]:
    annotation = _strip(_annotation_at(model, path, data, pick=False))
    tags: list[str] = []
    for member in get_args(annotation) or (annotation,):
        if isinstance(member, type) and issubclass(member, BaseModel):
            field = member.model_fields.get(discriminator)
            if field is not None and get_origin(field.annotation) is Literal:
                tags.extend(str(a) for a in get_args(field.annotation))
    return tags


def _annotation_at(
    model: type[BaseModel], path: list[str | int], data: Any, pick: bool = True
) -> Any:
    """Return the type expected at `path` (choosing union members by the data's `kind`)."""
    annotation: Any = model
    current = data
    for part in path:
        annotation = _pick_member(_strip(annotation), current)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields = {f.alias or name: f for name, f in annotation.model_fields.items()}
            field = fields.get(str(part))
            if field is None:
                return None
            annotation = field.annotation
        elif get_origin(annotation) in (list, tuple):
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        else:
            return None
        current = (
            current.get(part)
            if isinstance(current, dict)
            else (
                current[part]
                if isinstance(current, list) and isinstance(part, int) and part < len(current)
                else None
            )
        )
    stripped = _strip(annotation)
    return _pick_member(stripped, current) if pick else stripped


def _strip(annotation: Any) -> Any:
    while get_origin(annotation) is typing.Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _pick_member(annotation: Any, current: Any) -> Any:
    if get_origin(annotation) not in (Union, types.UnionType):
        return annotation
    members = [m for m in get_args(annotation) if m is not type(None)]
    models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
    if isinstance(current, dict):
        for member in models:
            if _tagged_as(member, current):
                return member
    if len(models) == 1 and (isinstance(current, dict) or current is None):
        return models[0]
    return _strip(members[0]) if len(members) == 1 else annotation


def _tagged_as(member: type[BaseModel], data: dict[Any, Any]) -> bool:
    """Whether `data` carries `member`'s tag (its `kind`, `runtime`: a one-value Literal field)."""
    for name, field in member.model_fields.items():
        if get_origin(field.annotation) is not Literal or len(get_args(field.annotation)) != 1:
            continue
        if data.get(field.alias or name) in get_args(field.annotation):
            return True
    return False
