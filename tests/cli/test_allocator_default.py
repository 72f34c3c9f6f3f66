"""The CLIs switch TensorFlow's CPU allocator to BFC unless the user chose otherwise."""

import os
import subprocess
import sys

PROBE = "import os, ssah_tf.cli; print(os.environ['TF_CPU_ALLOCATOR_USE_BFC'])"


def _probe(env_value):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPU_ALLOCATOR_USE_BFC"}
    if env_value is not None:
        env["TF_CPU_ALLOCATOR_USE_BFC"] = env_value
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_bfc_is_the_default_and_the_user_can_opt_out():
    assert _probe(None) == "true"
    assert _probe("false") == "false"
