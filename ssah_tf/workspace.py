"""Where runs, exports, prepared copies and benchmarks go by default (WORKSPACE.md):
``$SSAH_WORKSPACE``, else ``workspace/`` under the current directory."""

from __future__ import annotations

import os
import time

WORKSPACE = os.environ.get("SSAH_WORKSPACE", "workspace")


def default_run_dir(name: str) -> str:
    """A new run directory under the workspace, named ``name`` and the time."""
    return os.path.join(WORKSPACE, "runs", f"{name}_{time.strftime('%Y%m%d-%H%M%S')}")
