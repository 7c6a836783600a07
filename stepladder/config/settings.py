"""Project settings: `stepladder.yaml` at the project root, overridden by `STEPLADDER_*`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from stepladder.config.costs import TokenPrice
from stepladder.config.mcp import MCP_SERVER_NAME_PATTERN, McpServerSettings
from stepladder.config.retrieval import ChromaSettings, EmbeddingSettings
from stepladder.config.secrets import register_environment
from stepladder.config.serving import ServeSettings
from stepladder.config.state import POSTGRES_URL_ENV, StateSettings
from stepladder.config.tiers import (
    DEFAULT_TIERS,
    LadderRung,
    LiteLLMTier,
    LlamaCppTier,
    OpenAICompatibleTier,
    TierSpec,
    check_ladder,
    check_tier_names,
)
from stepladder.config.tracing import TracingSettings
from stepladder.config.tune import TuneSettings
from stepladder.errors import ConfigError
from stepladder.specs.explain import explain_validation_error
from stepladder.specs.locations import (
    LocatedDocument,
    describe_yaml_error,
    load_yaml,
    read_spec_text,
)

__all__ = ["CONFIG_FILE", "Project", "Settings", "find_project_root", "load_project"]

CONFIG_FILE = "stepladder.yaml"
FLOW_SUFFIXES = (".yaml", ".yml")


class Settings(BaseSettings):
    """What `stepladder.yaml` may set. Environment variables `STEPLADDER_<FIELD>` win."""

    model_config = SettingsConfigDict(
        env_prefix="STEPLADDER_", env_nested_delimiter="__", extra="forbid"
    )

    name: str = Field(default="stepladder-project", description="The project's name.")
    flows_dir: str = Field(default="flows", description="Folder of flow files.")
    state_dir: str = Field(
        default=".stepladder", description="Folder for checkpoints, traces and run results."
    )
    allow_imports: list[str] = Field(
        default_factory=list,
        description="Module prefixes, besides the project folder, that flows may reference.",
    )
    embeddings: EmbeddingSettings = Field(
        default_factory=EmbeddingSettings, description="The embedding model for retrieval."
    )
    chroma: ChromaSettings = Field(
        default_factory=ChromaSettings, description="Where the Chroma store lives."
    )
    tiers: dict[str, TierSpec] = Field(
        default_factory=lambda: dict(_default_tiers()),
        description="Model tiers by name: which runtime serves each (default: small = llamacpp).",
    )
    ladder: list[LadderRung] = Field(
        default_factory=list,
        description="Escalation order of tier names, cheapest first; 'human' may end it "
        "(a person reviews the case). Nodes with `escalate:` climb it.",
    )
    prices: dict[str, TokenPrice] = Field(
        default_factory=dict,
        description="API model prices (USD per million tokens), overriding the built-in table.",
    )
    tracing: TracingSettings = Field(
        default_factory=TracingSettings, description="Where run traces go."
    )
    serve: ServeSettings = Field(
        default_factory=ServeSettings, description="Limits of `stepladder serve`."
    )
    tune: TuneSettings = Field(
        default_factory=TuneSettings,
        description="LoRA fine-tuning defaults for `stepladder tune` (its options win).",
    )
    state: StateSettings = Field(
        default_factory=StateSettings,
        description="Where checkpoint threads live: the project folder, or Postgres "
        f"(`state.postgres`, or `{POSTGRES_URL_ENV}`).",
    )

    mcp_servers: dict[str, McpServerSettings] = Field(
        default_factory=dict,
        description="MCP servers agents may take tools from, by name: `command` (stdio) or "
        "`url` (streamable HTTP). Flow files name them (`tools: [{mcp: NAME}]`).",
    )

    _tier_names = field_validator("tiers")(check_tier_names)

    @field_validator("mcp_servers")
    @classmethod
    def _mcp_server_names(
        cls, servers: dict[str, McpServerSettings]
    ) -> dict[str, McpServerSettings]:
        for name in servers:
            if not re.match(MCP_SERVER_NAME_PATTERN, name):
                raise ValueError(
                    f"MCP server name {name!r}: a name starts with a letter and holds only "
                    "letters, digits, '_' and '-'"
                )
        return servers

    _ladder_order = field_validator("ladder")(check_ladder)

    @model_validator(mode="after")
    def _postgres_from_environment(self) -> Settings:
        """`STEPLADDER_POSTGRES_URL` wins over `state.postgres`."""
        state = self.state.resolved()
        if state is not self.state:
            object.__setattr__(self, "state", state)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment first, then the file's values (passed as init arguments)."""
        return (env_settings, init_settings)

    def secret_variables(self) -> list[str | None]:
        """The environment variables these settings read keys from (`api_key_env`)."""
        named: list[str | None] = [
            tier.api_key_env
            for tier in self.tiers.values()
            if isinstance(tier, OpenAICompatibleTier | LiteLLMTier)
        ]
        return [*named, self.embeddings.api_key_env]


def _default_tiers() -> dict[str, TierSpec]:
    return {name: LlamaCppTier.model_validate(spec) for name, spec in DEFAULT_TIERS.items()}


@dataclass(frozen=True)
class Project:
    """A stepladder project: a folder with `stepladder.yaml`, `flows/`, `prompts/`, `evalsets/`.

    Attributes:
        root: The project folder.
        settings: Its settings.
    """

    root: Path
    settings: Settings

    @property
    def flows_dir(self) -> Path:
        """The folder holding flow files."""
        return self.root / self.settings.flows_dir

    @property
    def prompts_dir(self) -> Path:
        """The folder holding prompts, and optimized prompts under `compiled/`."""
        return self.root / "prompts"

    @property
    def state_dir(self) -> Path:
        """The folder for checkpoints and run data (created on demand)."""
        return self.root / self.settings.state_dir

    def flow_names(self) -> list[str]:
        """Names of the flow files in `flows/`."""
        if not self.flows_dir.is_dir():
            return []
        return sorted(p.stem for p in self.flows_dir.iterdir() if p.suffix in FLOW_SUFFIXES)

    def flow_path(self, name_or_path: str) -> Path:
        """Find a flow by file path or by name in `flows/`.

        Raises:
            ConfigError: If no such flow exists, listing the ones that do.
        """
        given = Path(name_or_path)
        if given.suffix in FLOW_SUFFIXES or given.is_file():
            return given
        for suffix in FLOW_SUFFIXES:
            candidate = self.flows_dir / f"{name_or_path}{suffix}"
            if candidate.is_file():
                return candidate
        names = ", ".join(self.flow_names()) or "(none)"
        raise ConfigError(
            f"no flow '{name_or_path}': it is neither a file nor a flow in {self.flows_dir}. "
            f"Flows here: {names}."
        )


def find_project_root(start: Path) -> Path | None:
    """Return the nearest folder at or above `start` holding `stepladder.yaml`."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    return None


def load_project(start: Path | None = None, root: Path | None = None) -> Project:
    """Load the project containing `start` (default: the working folder), or at `root`.

    Raises:
        ConfigError: If there is no `stepladder.yaml`, or it is not valid.
    """
    if root is None:
        here = (start or Path.cwd()).resolve()
        root = find_project_root(here)
        if root is None:
            raise ConfigError(
                f"no {CONFIG_FILE} found in {here} or any folder above it. Run the command "
                f"inside a project, pass --project DIR, or create one with `stepladder init DIR`."
            )
    file = root / CONFIG_FILE
    if not file.is_file():
        raise ConfigError(
            f"{file} not found: {root} is not a stepladder project. "
            f"Create one with `stepladder init {root}`."
        )
    settings = _load_settings(file)
    # The keys it names, and the environment's, are masked in traces from the first span.
    register_environment(settings.secret_variables())
    return Project(root=root.resolve(), settings=settings)


def _load_settings(file: Path) -> Settings:
    try:
        document = load_yaml(read_spec_text(file), file)
    except yaml.YAMLError as error:
        raise ConfigError(describe_yaml_error(error, file)) from error
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{file}: cannot read settings: {error}.") from error
    data: Any = document.data if document.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{file}: settings must be a mapping of keys, not a {type(data).__name__}."
        )
    try:
        return Settings(**data)
    except ValidationError as error:
        located = LocatedDocument(data=data, source=file, lines=document.lines)
        raise ConfigError(explain_validation_error(error, located, Settings, "settings")) from None
