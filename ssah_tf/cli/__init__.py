"""absl-flag command-line entry points (flags live here only)."""

import os

# TensorFlow's default CPU allocator hands large tensors straight back to the OS, so
# every step pays page faults on fresh multi-MB buffers (the 20 MB memory-bank
# copies, the [n, batch] loss products, TxtNet's 34M-weight optimizer update). Its
# BFC allocator keeps and reuses them: LabNet step 0.075-0.080 -> 0.065-0.067 s and
# TxtNet 0.31 -> 0.23 s measured on 2 CPU cores. Read once, before TensorFlow makes
# its first CPU allocation; set TF_CPU_ALLOCATOR_USE_BFC=false to opt out.
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
