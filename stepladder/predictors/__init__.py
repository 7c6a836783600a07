"""Trained, versioned predictors over embeddings, used at run time.

`artifacts` keeps every kind of saved predictor the same way (versioned folders, `name@vN`
references, manifests, loading once per process, staleness checks), parameterised by an
`ArtifactKind`; `manifest` holds the fields all manifests share. Each kind keeps only what is
its own: `classifier/` (embedding classifiers: fit, calibrate, predict, train), `router/`
(routers: fit, calibrate, metrics, plots) and `adapters` (fine-tuned LoRA adapters' manifests
and exports, which the model runtimes serve).
"""
