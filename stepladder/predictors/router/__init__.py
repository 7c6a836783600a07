"""Routers: predict which model tier gets an input right, from its embedding.

`Router.train` fits a router on texts and each tier's correctness; `save_router` and
`load_router` keep it as a versioned artifact under `<state_dir>/routers/`;
`calibrate_router` picks thresholds for a quality target on held-out predictions;
`stepladder.predictors.router.metrics` has RouteLLM's router metrics (PGR, APGR, CPT).

Training data from eval runs is in `stepladder.optimize.router_data`, which reads eval runs
and so is not imported here (nodes import this package; eval code sits above flows).
"""

from stepladder.predictors.router.artifacts import (
    ROUTERS,
    list_routers,
    load_router,
    read_router_manifest,
    router_path,
    routers_dir,
    save_router,
    write_router_manifest,
)
from stepladder.predictors.router.calibrate import calibrate_router, operating_points
from stepladder.predictors.router.fit import FitOptions
from stepladder.predictors.router.manifest import CalibrationRecord, OperatingPoint, RouterManifest
from stepladder.predictors.router.router import HeldOut, Router, choose_tiers

__all__ = [
    "ROUTERS",
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
