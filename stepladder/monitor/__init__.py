"""Production: runs read back from traces, drift against eval sets, capture into eval cases."""

from stepladder.monitor.capture import CaptureFilters, capture_cases, label_cases, select_runs
from stepladder.monitor.drift import DriftOptions, DriftReport, analyze_drift
from stepladder.monitor.production import ProductionRun, ProductionRuns, load_production_runs

__all__ = [
    "CaptureFilters",
    "DriftOptions",
    "DriftReport",
    "ProductionRun",
    "ProductionRuns",
    "analyze_drift",
    "capture_cases",
    "label_cases",
    "load_production_runs",
    "select_runs",
]
