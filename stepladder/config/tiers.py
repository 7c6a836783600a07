"""Tier settings: which runtime serves each model tier named by flows.

```yaml
tiers:
  small: {runtime: llamacpp, model: smollm2-135m}
  gpu: {runtime: sglang, model_path: HuggingFaceTB/SmolLM2-135M-Instruct}
  frontier: {runtime: litellm, model: openai/gpt-4.1-mini, api_key_env: OPENAI_API_KEY}
  local: {runtime: openai-compatible, base_url: "http://127.0.0.1:8000/v1", model: m}
```
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from stepladder.config.costs import MachineCost
from stepladder.specs.locations import near_miss, valid_choices

__all__ = [
    "DEFAULT_TIERS",
    "HUMAN",
    "LadderRung",
    "LiteLLMTier",
    "LlamaCppTier",
    "OpenAICompatibleTier",
    "SGLangTier",
    "TierSpec",
    "VariableName",
    "check_ladder",
    "check_tier_names",
]


class TierBase(BaseModel):
    """Settings every runtime shares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="Sampling temperature.")
    max_tokens: int = Field(default=512, ge=1, description="Most tokens one call may generate.")
    timeout_s: float = Field(default=120.0, gt=0, description="Seconds before a call times out.")
    cost: MachineCost | None = Field(
        default=None,
        description=(
            "Machine price of a self-hosted tier (default: $0.10/h for llamacpp, $2.50/h for "
            "sglang and openai-compatible); API tiers are priced per token from `prices`."
        ),
    )

    @property
    def model_name(self) -> str:
        """The tier's model as configured (`model`, else `model_path`), or empty."""
        return str(getattr(self, "model", None) or getattr(self, "model_path", None) or "")


class LlamaCppTier(TierBase):
    """The embedded llama.cpp server (xllamacpp), started in-process on a loopback port."""

    runtime: Literal["llamacpp"]
    model: str = Field(default="smollm2-135m", description="A known model name or a GGUF path.")
    timeout_s: float = Field(
        default=600.0,
        gt=0,
        description=(
            "Seconds before a call times out. Longer than a served tier's: on a busy CPU a "
            "request waits for a free slot behind the others."
        ),
    )
    threads: int = Field(default=2, ge=1, description="CPU threads for generation.")
    context_size: int = Field(default=4096, ge=256, description="Context tokens, all slots.")
    parallel: int = Field(default=2, ge=1, description="Parallel slots (concurrent requests).")


class SGLangTier(TierBase):
    """An SGLang server: connect to `base_url`, or launch one for `model_path` (GPU only)."""

    runtime: Literal["sglang"]
    base_url: str | None = Field(default=None, description="A running server's URL.")
    model_path: str | None = Field(default=None, description="Model to launch a server for.")
    host: str = "127.0.0.1"
    port: int | None = Field(default=None, description="Port to launch on (default: a free one).")
    grammar_backend: Literal["xgrammar", "outlines", "llguidance"] = "xgrammar"
    tp: int = Field(default=1, ge=1, description="Tensor parallelism (GPUs).")
    mem_fraction: float | None = Field(default=None, gt=0, le=1, description="GPU memory share.")
    quantization: str | None = Field(default=None, description="e.g. fp8, awq.")
    startup_timeout_s: float = Field(default=600.0, gt=0)
    served_model_name: str | None = None

    @model_validator(mode="after")
    def _connect_or_launch(self) -> SGLangTier:
        if (self.base_url is None) == (self.model_path is None):
            raise ValueError("an sglang tier needs either `base_url` (connect) or `model_path`")
        return self


def _variable_name(value: str) -> str:
    """`api_key_env` names an environment variable; a key written in its place is refused."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value) is None:
        raise ValueError(
            "`api_key_env` is the name of the environment variable that holds the key (for "
            "example OPENAI_API_KEY: letters, digits and '_'), not the key itself; never write a "
            "key in stepladder.yaml: export it (`export OPENAI_API_KEY=...`) and name the "
            "variable here"
        )
    return value


VariableName = Annotated[str, AfterValidator(_variable_name)]


class OpenAICompatibleTier(TierBase):
    """Any server speaking the OpenAI chat API (vLLM, llama.cpp, SGLang, ...)."""

    runtime: Literal["openai-compatible"]
    base_url: str = Field(description="Base URL, usually ending in /v1.")
    model: str = Field(description="The model name the server expects.")
    api_key_env: VariableName | None = Field(
        default=None, description="Variable holding the API key."
    )


class LiteLLMTier(TierBase):
    """A frontier API through LiteLLM-style model names (`openai/gpt-4.1-mini`)."""

    runtime: Literal["litellm"]
    model: str = Field(description="provider/model, e.g. anthropic/claude-sonnet-4-5.")
    api_key_env: VariableName = Field(description="The environment variable holding the API key.")
    base_url: str | None = None


TierSpec = Annotated[
    LlamaCppTier | SGLangTier | OpenAICompatibleTier | LiteLLMTier,
    Field(discriminator="runtime"),
]

DEFAULT_TIERS: dict[str, dict[str, object]] = {"small": {"runtime": "llamacpp"}}

HUMAN = "human"


def _rung(value: str, info: ValidationInfo) -> str:
    """A ladder item must be a bound tier or `human` (the tiers are validated before it)."""
    tiers: Mapping[str, Any] = (info.data or {}).get("tiers") or {}
    if value == HUMAN or value in tiers:
        return value
    choices = [*tiers, HUMAN]
    guess = near_miss(value, choices)
    hint = f"; did you mean '{guess}'?" if guess else "."
    raise ValueError(
        f"unknown tier '{value}'{hint} Valid: {valid_choices(choices)}. List tiers bound under "
        "`tiers:`, cheapest first; 'human' is the reserved last step"
    )


LadderRung = Annotated[str, AfterValidator(_rung)]


def check_ladder(ladder: list[str]) -> list[str]:
    """Each rung once, and `human` only last.

    Raises:
        ValueError: Naming the misplaced item.
    """
    for index, rung in enumerate(ladder):
        if rung in ladder[:index]:
            raise ValueError(f"ladder[{index}]: '{rung}' is listed twice; each rung appears once")
        if rung == HUMAN and index != len(ladder) - 1:
            raise ValueError(f"ladder[{index}]: '{HUMAN}' is the last step; move it to the end")
    return ladder


def check_tier_names(tiers: dict[str, Any]) -> dict[str, Any]:
    """No tier may be named `human` (the ladder's reserved last step).

    Raises:
        ValueError: When one is.
    """
    if HUMAN in tiers:
        raise ValueError(
            f"'{HUMAN}' is reserved for the ladder's human step; give the tier another name"
        )
    return tiers
