"""Fine-tuning the small tier: LoRA adapters trained from the project's own data.

- `examples`: one supervised example, the messages a node sends and the answer it should give.
- `data`: examples built from eval set cases, captured cases and answered reviews.
- `base_model`, `trainer`: the base model from its GGUF, a LoRA trained on it (PEFT);
  `encoding` (prompt and answer tokens, batches), `loss`, `checkpoints`, `results` serve it.
- `gguf_export`: the adapter written for llama.cpp as well as in PEFT's format.

Everything that needs torch, transformers or PEFT imports them inside functions, so the package
imports without the `tune` extra and says how to install it when it is needed.
"""
