"""Where shared state lives: the project folder (default) or a Postgres database.

```yaml
state:
  postgres: postgresql://stepladder:secret@db.internal:5432/stepladder
```
`STEPLADDER_POSTGRES_URL` in the environment sets (and wins over) `state.postgres`. Without
either, checkpoints stay in `.stepladder/checkpoints.sqlite` and nothing changes. With it,
checkpoint threads are written to Postgres (`langgraph-checkpoint-postgres`, install the
`postgres` extra), so a run started by one process can be continued by another.
"""

from __future__ import annotations

import os
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from stepladder.errors import StateStoreError

__all__ = ["POSTGRES_URL_ENV", "StateSettings", "masked_url", "missing_driver"]

POSTGRES_URL_ENV = "STEPLADDER_POSTGRES_URL"
_SCHEMES = ("postgresql://", "postgres://")
_PASSWORD = re.compile(r"^(?P<head>[a-z]+://[^:/@]*):[^@]*@", re.IGNORECASE)


class StateSettings(BaseModel):
    """Where checkpoint threads are kept."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    postgres: str | None = Field(
        default=None,
        description="A Postgres connection URL (postgresql://user:password@host:port/db); "
        f"unset keeps state in the project folder. `{POSTGRES_URL_ENV}` wins over it.",
    )

    @field_validator("postgres")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not value.lower().startswith(_SCHEMES):
            raise ValueError(
                f"'{masked_url(value)}' is not a Postgres URL: write "
                "postgresql://user:password@host:port/database"
            )
        return value

    def resolved(self) -> StateSettings:
        """These settings with `STEPLADDER_POSTGRES_URL` applied when it is set.

        Raises:
            ValueError: If the variable holds something other than a Postgres URL.
        """
        url = os.environ.get(POSTGRES_URL_ENV, "").strip()
        if not url:
            return self
        if not url.lower().startswith(_SCHEMES):
            raise ValueError(
                f"{POSTGRES_URL_ENV}='{masked_url(url)}' is not a Postgres URL: write "
                "postgresql://user:password@host:port/database"
            )
        return StateSettings(postgres=url)


def masked_url(url: str) -> str:
    """`url` with its password replaced by `***` (for messages and logs)."""
    return _PASSWORD.sub(r"\g<head>:***@", url)


def missing_driver(error: ImportError) -> StateStoreError:
    """The error for `state.postgres` set without the Postgres driver installed."""
    return StateStoreError(
        f"state.postgres is set but the Postgres driver is missing ({error.name}): "
        "install stepladder with the postgres extra (pip install 'stepladder[postgres]')."
    )
