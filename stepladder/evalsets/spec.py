"""The eval spec: which flow, which cases, which metrics (`evalsets/NAME.yaml`).

```yaml
name: support-triage
flow: support_triage          # a flow in flows/, or a path relative to this file
cases: support.jsonl          # relative to this file
judge_tier: frontier
metrics:
  category: label             # shorthand for {kind: label}
  reply:
    kind: judge
    rubric: Polite, and says what happens next.
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from stepladder.config.settings import FLOW_SUFFIXES
from stepladder.errors import EvalSetError
from stepladder.evalsets.cases import EvalCase, load_cases
from stepladder.specs.explain import explain_validation_error
from stepladder.specs.locations import (
    LocatedDocument,
    describe_yaml_error,
    load_yaml,
    read_spec_text,
)
from stepladder.specs.references import REFERENCE_PATTERN

__all__ = [
    "EVALSETS_DIR",
    "METRIC_KINDS",
    "SPEC_SUFFIXES",
    "ContainsMetricSpec",
    "EvalSpec",
    "ExactMetricSpec",
    "ExpectedNull",
    "FunctionMetricSpec",
    "JsonFieldsMetricSpec",
    "JudgeMetricSpec",
    "LabelMetricSpec",
    "LoadedEvalSpec",
    "MetricSpec",
    "MetricSpecBase",
    "NumericMetricSpec",
    "TokenF1MetricSpec",
    "ToolCallsMetricSpec",
    "load_eval_spec",
]

MetricKind = Literal[
    "exact",
    "label",
    "token_f1",
    "contains",
    "numeric",
    "json_fields",
    "tool_calls",
    "judge",
    "function",
    "set_precision",
    "set_recall",
    "set_f1",
]
METRIC_KINDS: tuple[str, ...] = get_args(MetricKind)
EVALSETS_DIR = "evalsets"  # a project's eval specs and cases, under its root
SPEC_SUFFIXES = FLOW_SUFFIXES  # eval specs are YAML files, like flows


ExpectedNull = Literal["match", "skip"]
"""What a metric does with a case whose expected value is null (see `MetricSpecBase`)."""


class MetricSpecBase(BaseModel):
    """Options every metric has.

    `expected_null` says whether a `null` expected value matched by a `null` output counts as
    a pass: `match` (the default) scores such a case 1 (and 0 when the output has a value, a
    hallucinated one; judge and function metrics are handed the null and decide themselves);
    `skip` leaves every case whose expected value is null unscored by the metric, so it
    measures only the cases that expect a value. The report shows each metric apart for
    "present" and "absent" expected values either way.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str | None = Field(
        default=None, description="The state key scored (default: the metric's name)."
    )
    expected_null: ExpectedNull = Field(
        default="match",
        description="An expected null: `match` passes a null output and fails any value "
        "(judge and function metrics get the null and decide); `skip` leaves the case "
        "unscored by this metric.",
    )


class ExactMetricSpec(MetricSpecBase):
    """Output equals expected (strings stripped and casefolded when `normalize`)."""

    kind: Literal["exact"]
    normalize: bool = Field(default=True, description="Strip and casefold strings first.")


class LabelMetricSpec(MetricSpecBase):
    """Label accuracy: labels (or enum values) compared case-insensitively."""

    kind: Literal["label"]


class TokenF1MetricSpec(MetricSpecBase):
    """SQuAD-style token F1 between output and expected text (not binary)."""

    kind: Literal["token_f1"]


class ContainsMetricSpec(MetricSpecBase):
    """The expected text (or each text of a list) appears in the output."""

    kind: Literal["contains"]
    all: bool = Field(default=True, description="Every expected text must appear (else any).")
    normalize: bool = Field(default=True, description="Compare casefolded, whitespace-collapsed.")


class NumericMetricSpec(MetricSpecBase):
    """Output and expected are the same number, within a tolerance."""

    kind: Literal["numeric"]
    tolerance: float = Field(default=0.0, ge=0.0, description="Largest accepted difference.")
    relative: bool = Field(default=False, description="Tolerance as a share of expected.")


class JsonFieldsMetricSpec(MetricSpecBase):
    """The share of the named fields of a dict (or JSON, or model) that match exactly."""

    kind: Literal["json_fields"]
    fields: list[str] = Field(
        min_length=1, description="Fields compared (dotted paths reach nested ones)."
    )


class JudgeMetricSpec(MetricSpecBase):
    """An LLM judge on a tier says whether the answer is good, with a one-sentence reason."""

    kind: Literal["judge"]
    tier: str | None = Field(default=None, description="The judge's tier (default: judge_tier).")
    rubric: str = Field(min_length=1, description="What a good answer is.")


class ToolCallsMetricSpec(MetricSpecBase):
    """An agent's trajectory made the expected tool calls (each tool, with its arguments)."""

    kind: Literal["tool_calls"]


class SetMetricSpec(MetricSpecBase):
    """Set precision, recall or F1 of a list output's items against the expected items."""

    kind: Literal["set_precision", "set_recall", "set_f1"]
    key: str | None = Field(
        default=None,
        description="How items match: a field of dict items (dotted path), or 'module:function' "
        "returning an item's key; default: the item itself.",
    )
    normalize: bool = Field(default=True, description="Compare strings casefolded, stripped.")


class FunctionMetricSpec(MetricSpecBase):
    """A Python callable `(output, expected, case) -> float | bool | MetricScore`."""

    kind: Literal["function"]
    call: str = Field(pattern=REFERENCE_PATTERN, description="The callable, as 'module:attr'.")


_MetricUnion = Annotated[
    ExactMetricSpec
    | LabelMetricSpec
    | TokenF1MetricSpec
    | ContainsMetricSpec
    | NumericMetricSpec
    | JsonFieldsMetricSpec
    | ToolCallsMetricSpec
    | JudgeMetricSpec
    | SetMetricSpec
    | FunctionMetricSpec,
    Field(discriminator="kind"),
]


def _shorthand(value: Any) -> Any:
    """A plain kind name (`exact`) means `{kind: exact}`."""
    return {"kind": value} if isinstance(value, str) else value


MetricSpec = Annotated[
    _MetricUnion, BeforeValidator(_shorthand, json_schema_input_type=MetricKind | _MetricUnion)
]


class EvalSpec(BaseModel):
    """An eval: a flow run over a set of cases, scored by metrics on its state keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="The eval's name.")
    description: str = Field(default="", description="What the eval checks.")
    flow: str = Field(description="A flow name in flows/, or a path relative to this file.")
    cases: str = Field(description="The JSONL cases file, relative to this file.")
    metrics: dict[str, MetricSpec] = Field(
        description="Metrics by name; a kind name alone (`exact`) is shorthand."
    )
    splits: list[str] = Field(default_factory=list, description="Split names cases may use.")
    concurrency: int = Field(default=8, ge=1, description="Cases run at once.")
    cache: bool = Field(default=False, description="Cache model responses between runs.")
    judge_tier: str | None = Field(default=None, description="The tier of judge metrics.")

    @field_validator("metrics")
    @classmethod
    def _some_metric(cls, metrics: dict[str, Any]) -> dict[str, Any]:
        if not metrics:
            raise ValueError("an eval needs at least one metric, for example `category: exact`")
        return metrics

    def metric_field(self, name: str) -> str:
        """The state key metric `name` scores."""
        return self.metrics[name].field or name

    def judge_tier_of(self, name: str) -> str | None:
        """The tier judge metric `name` runs on (its own, else the spec's), if any."""
        metric = self.metrics[name]
        tier = metric.tier if isinstance(metric, JudgeMetricSpec) else None
        return tier or self.judge_tier


@dataclass(frozen=True)
class LoadedEvalSpec:
    """An eval spec and where it came from (paths in it are relative to `folder`).

    Attributes:
        spec: The validated spec.
        path: The spec file.
        folder: The spec file's folder.
        document: The YAML data with lines, to name items in errors.
    """

    spec: EvalSpec
    path: Path
    folder: Path
    document: LocatedDocument = field(default_factory=lambda: LocatedDocument(data=None))

    @property
    def cases_path(self) -> Path:
        """The cases file."""
        return self.folder / self.spec.cases

    def load_cases(self) -> list[EvalCase]:
        """Read the cases, checking their splits against the spec's.

        Raises:
            EvalSetError: If the cases file is missing, empty or has invalid lines.
        """
        return load_cases(self.cases_path, self.spec.splits)

    def flow_path(self, flows_dir: Path | None = None) -> Path:
        """The flow file: a path relative to the spec file, or a name in `flows_dir`.

        Raises:
            EvalSetError: If no such flow file exists.
        """
        relative = self.folder / self.spec.flow
        candidates = [relative] if relative.suffix in FLOW_SUFFIXES else []
        if flows_dir is not None:
            candidates += [flows_dir / f"{self.spec.flow}{suffix}" for suffix in FLOW_SUFFIXES]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        looked = ", ".join(str(c) for c in candidates) or "(no flows folder given)"
        raise EvalSetError(
            f"{self.document.where(['flow'])}: no flow '{self.spec.flow}'; looked for {looked}. "
            "Name a flow in the project's flows folder or give a path relative to the spec."
        )


def load_eval_spec(path: Path) -> LoadedEvalSpec:
    """Load and check an eval spec from a YAML file.

    Raises:
        EvalSetError: If the file is missing, is not YAML, or is not a valid eval spec (each
            problem named by its YAML path and line, with the valid choices).
    """
    try:
        text = read_spec_text(path)
    except FileNotFoundError as error:
        raise EvalSetError(f"{path}: eval spec not found.") from error
    except yaml.YAMLError as error:
        raise EvalSetError(describe_yaml_error(error, path)) from error
    except (OSError, UnicodeDecodeError) as error:
        raise EvalSetError(f"{path}: cannot read eval spec: {error}.") from error
    try:
        document = load_yaml(text, path)
    except yaml.YAMLError as error:
        raise EvalSetError(describe_yaml_error(error, path)) from error
    spec = _validate(document)
    loaded = LoadedEvalSpec(spec=spec, path=path, folder=path.parent, document=document)
    _check(loaded)
    return loaded


def _validate(document: LocatedDocument) -> EvalSpec:
    origin = str(document.source) if document.source else "eval spec"
    if not isinstance(document.data, dict):
        found = "empty" if document.data is None else f"a {type(document.data).__name__}"
        raise EvalSetError(
            f"{origin}: an eval spec must be a mapping with `name`, `flow`, `cases` and "
            f"`metrics`; this one is {found}."
        )
    try:
        return EvalSpec.model_validate(document.data)
    except ValidationError as error:
        raise EvalSetError(
            explain_validation_error(error, document, EvalSpec, "eval spec")
        ) from None


def _check(loaded: LoadedEvalSpec) -> None:
    """Checks beyond the schema: judge tiers and the cases file."""
    spec, document = loaded.spec, loaded.document
    problems: list[str] = []
    for name, metric in spec.metrics.items():
        if isinstance(metric, JudgeMetricSpec) and spec.judge_tier_of(name) is None:
            problems.append(
                f"{document.where(['metrics', name])}: judge metric '{name}' has no tier; "
                "set `tier:` on it or `judge_tier:` on the spec (for example `frontier`)."
            )
    if not loaded.cases_path.is_file():
        problems.append(
            f"{document.where(['cases'])}: cases file {loaded.cases_path} not found "
            f"(paths are relative to {loaded.folder})."
        )
    if problems:
        count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
        raise EvalSetError(f"{loaded.path}: invalid eval spec, {count}: " + " ".join(problems))
