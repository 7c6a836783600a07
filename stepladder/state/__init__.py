"""Shared state in Postgres: the pooled connection, its migrations, and retries.

The low room every store built on Postgres shares (`state.postgres` in `stepladder.yaml`):
the checkpoints, reviews and threads of `stepladder.flows`, the trace store of
`stepladder.tracing`, eval runs of `stepladder.evalsets` and the service's run registry.
"""
