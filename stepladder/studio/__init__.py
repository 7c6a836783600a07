"""The studio: a local web app over a project's runs, traces, evals and flows.

`stepladder studio` serves it on its own; `stepladder serve` mounts it at `/studio`. Every
asset ships in the package (`static/`): no CDN, works offline.
"""

from stepladder.studio.app import create_studio_app

__all__ = ["create_studio_app"]
