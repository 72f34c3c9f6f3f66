"""Training: the Trainer (loop.py) and its parts: the session that validates a start,
the stage runner and steps, optimizers, banks, checkpoints, hooks, monitors, summaries,
the run directory's records and its binding to data and split (README, "Package layout")."""
