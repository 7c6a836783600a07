"""How `Project.run` and `Project.eval` take recording and replay (`stepladder.replay`)."""

from __future__ import annotations

from pathlib import Path

from stepladder.config import Project as ProjectConfig
from stepladder.replay import HermeticPool, ReplaySession, replay_session
from stepladder.runtimes import ModelPool

__all__ = ["ReplayLike", "hermetic_models", "session_for"]

ReplayLike = str | Path | ReplaySession
"""What to replay: a run id, a record file, or a session made with `replay_session`."""


def session_for(
    config: ProjectConfig, record: bool, replay: ReplayLike | None, hermetic: bool
) -> ReplaySession | None:
    """The replay session of a call (None: neither recording nor replaying).

    Raises:
        RecordError: If `replay` names no readable record.
        UserError: If `hermetic` is asked without `replay`.
    """
    if isinstance(replay, ReplaySession):
        return replay
    if replay is None and not record and not hermetic:
        return None
    return replay_session(config, record=record, replay=replay, hermetic=hermetic)


def hermetic_models(session: ReplaySession | None, models: ModelPool) -> ModelPool:
    """`models`, or, for a hermetic session, the same tiers never started."""
    if session is None or not session.hermetic:
        return models
    return HermeticPool(models.tiers, prices=models.prices)
