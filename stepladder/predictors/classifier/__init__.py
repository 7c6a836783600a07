"""Embedding classifiers: a label from an input's embedding.

Train, predict, and keep versioned artifacts under `<state_dir>/classifiers/`.
"""
