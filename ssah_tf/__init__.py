"""ssah_tf: a TensorFlow 2 reimplementation of SSAH (Li et al., CVPR 2018).

The Python API (docs/python.md): ``train`` (or resume) a run, ``load_run`` one, and
the ``Run``'s ``encode``, ``evaluate`` and ``export``.

Subpackages: ``data`` (readers, splits, tf.data), ``models`` (LabNet, ImgNet,
TxtNet, discriminators), ``losses`` (pure loss functions, both presets),
``release`` (the original TF1 release's checkpoints), ``evaluation``, ``training``
and ``cli`` (the command-line tools, thin layers over the API).
"""

from ssah_tf.api import Run, load_run, train
from ssah_tf.version import __version__

__all__ = ["Run", "load_run", "train", "__version__"]
