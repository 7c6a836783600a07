"""`stepladder serve`: a project's flows over HTTP (FastAPI), with health, metrics and reviews.

```
POST /flows/{flow}/runs[?stream=true][&thread_id=ID]  200 | 404 409 413 415 422 500 503
GET  /runs/{run_id}                                   200 | 404
POST /runs/{run_id}/resume  {"answer": {...}}          200 | 404 409 413 415 422 503
GET  /flows   GET /healthz[?strict=true]   GET /metrics   GET /openapi.json   GET /docs
```
With `STEPLADDER_API_TOKEN` set, every request but `/healthz` needs
`Authorization: Bearer <token>` (401 otherwise). A thread has one run at a time (in any
process) and belongs to one flow (409 otherwise); bodies over `serve.max_body` are a 413.

```python
project = load_project()
app = create_app(Service(project, load_flows(project)), token=read_token())
```
"""

from stepladder.serve.app import create_app
from stepladder.serve.auth import TOKEN_VARIABLE, BearerAuth, read_token
from stepladder.serve.errors import ServeError
from stepladder.serve.loading import ServedFlows, load_flows, with_flows_dir
from stepladder.serve.metrics import Metrics
from stepladder.serve.runs import RunRecord, RunRegistry
from stepladder.serve.server import listen, run_server, url_of
from stepladder.serve.service import Service

__all__ = [
    "TOKEN_VARIABLE",
    "BearerAuth",
    "Metrics",
    "RunRecord",
    "RunRegistry",
    "ServeError",
    "ServedFlows",
    "Service",
    "create_app",
    "listen",
    "load_flows",
    "read_token",
    "run_server",
    "url_of",
    "with_flows_dir",
]
