"""Stopping a training run on request: SIGTERM or Ctrl-C.

The first signal asks the running stage loop to end after its step (the trainer then
checkpoints and raises :class:`Preempted`); a second stops the process at once without
a checkpoint. Steps run in a worker thread (:func:`run_in_worker`) so the handler runs
without waiting for a long TensorFlow call.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

from absl import logging


class Preempted(Exception):
    """Training stopped on SIGTERM or Ctrl-C after writing a checkpoint."""


def run_in_worker(fn):
    """``fn()`` in a daemon thread while this (main) thread waits in short slices, so
    signal handlers run at once: Python runs them only in the main thread between
    bytecodes, never inside a long TensorFlow call. A second stop signal can then end
    the process without waiting for the call (a daemon thread does not hold it)."""
    outcome: dict[str, Any] = {}

    def target():
        try:
            outcome["value"] = fn()
        except BaseException as error:  # re-raised in the calling thread
            outcome["error"] = error

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.2)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class StopSignals:
    """The stop requests of one training run, handled while :meth:`installed` is active.

    ``stop_requested``: the runner's variable its loops read every step;
    ``latest_checkpoint``: where a ``--resume`` would continue, for the messages."""

    def __init__(self, stop_requested, latest_checkpoint: Callable[[], str | None]):
        self.stop_requested = stop_requested
        self.latest_checkpoint = latest_checkpoint
        self.requested = False
        self.name = "SIGTERM"  # the signal that asked (for the closing message)
        self.step_seconds = 0.0  # the last measured step time, for the message

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Handle SIGTERM and SIGINT inside the block; the previous handlers after it."""
        previous = {sig: signal.signal(sig, self.handle) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle(self, signum, frame):  # (signal handler signature)
        if self.requested:
            # A second stop signal: stop now, without a checkpoint (the step in progress
            # runs in a worker thread and would hold the process until it ends).
            logging.warning(
                "%s again: stopping now without a checkpoint; --resume continues from %s",
                signal.Signals(signum).name,
                self.latest_checkpoint() or "the start (no checkpoint yet)",
            )
            logging.flush()
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            os._exit(128 + signum)
        self.name = signal.Signals(signum).name
        self.stop_requested.assign(True)  # the running loop ends after its step
        logging.warning(
            "%s: checkpointing at the next step boundary (steps take about %.1f s here; "
            "Ctrl-C or SIGTERM again to stop at once without a checkpoint)",
            self.name,
            self.step_seconds,
        )
        self.requested = True
