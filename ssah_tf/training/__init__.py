"""Training: optimizers and per-stage steps (the full trainer builds on these)."""
