"""The Python API for whole projects: `open_project(path)`, then run flows and evals.

```python
import stepladder

with stepladder.open_project("examples") as project:
    result = project.run("support_triage", {"message": "Where is my refund?"})
    evaluated = project.eval("support", limit=4)
```
"""

from stepladder.api.evals import EvalResult
from stepladder.api.project import FlowLike, Project, open_project

__all__ = ["EvalResult", "FlowLike", "Project", "open_project"]
