"""Turning eval results into a better flow.

The flow as a DSPy program and the prompt optimizers (`flow_program`, `optimizers`,
`prompts`), and router training data from per-tier eval runs (`router_data`).
"""
