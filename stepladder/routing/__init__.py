"""Routers: predict which model tier gets an input right, from its embedding.

`Router.train` fits a router on texts and each tier's correctness; `save_router` and
`load_router` keep it as a versioned artifact under `<state_dir>/routers/`;
`calibrate_router` picks thresholds for a quality target on held-out predictions;
`stepladder.routing.metrics` has RouteLLM's router metrics (PGR, APGR, CPT).

Training data from eval runs is in `stepladder.routing.training_data`, which reads eval runs
and so is not imported here (nodes import this package; eval code sits above flows).
"""

from stepladder.routing.artifacts import (
    list_routers,
    load_router,
    read_router_manifest,
    router_path,
    routers_dir,
    save_router,
    write_router_manifest,
)
from stepladder.routing.calibrate import calibrate_router, operating_points
from stepladder.routing.fit import FitOptions
from stepladder.routing.manifest import CalibrationRecord, OperatingPoint, RouterManifest
from stepladder.routing.router import HeldOut, Router, choose_tiers

__all__ = [
    "CalibrationRecord",
    "FitOptions",
    "HeldOut",
    "OperatingPoint",
    "Router",
    "RouterManifest",
    "calibrate_router",
    "choose_tiers",
    "list_routers",
    "load_router",
    "operating_points",
    "read_router_manifest",
    "router_path",
    "routers_dir",
    "save_router",
    "write_router_manifest",
]
