"""ssah_tf: a TensorFlow 2 reimplementation of SSAH (Li et al., CVPR 2018).

Subpackages: ``data`` (readers, splits, tf.data), ``models`` (LabNet, ImgNet,
TxtNet, discriminators), ``losses`` (pure loss functions, both presets),
``release`` (the original TF1 release's checkpoints), ``training`` and ``cli``.
"""

__version__ = "0.1.0"
