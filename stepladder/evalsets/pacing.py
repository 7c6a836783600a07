"""Spacing case starts (`StartPacer`), which lives with the flows: a map spaces its elements too."""

from stepladder.flows.pacing import (
    FIRST_GUESS_S,
    LONGEST_SPACING_S,
    SHARE_OF_CASE_CPU,
    StartPacer,
)

__all__ = ["FIRST_GUESS_S", "LONGEST_SPACING_S", "SHARE_OF_CASE_CPU", "StartPacer"]
