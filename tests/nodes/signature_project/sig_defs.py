from typing import Literal

import dspy


class Triage(dspy.Signature):
    """Sort the message."""

    message: str = dspy.InputField()
    category: Literal["ORDER", "REFUND"] = dspy.OutputField(desc="the category")
