"""The LLM call behind classify, extract, generate and agent nodes.

From the bottom up: the `escalate:` policy (`escalation`), what a rung answers (`answers`),
recording each model call (`model_calls`), verifiers (`verdicts`, `verify`), the call with
retries and the fields LLM nodes share (`call`), a node's rungs (`ladder`), and climbing
them up to the human rung (`climb`).
"""
