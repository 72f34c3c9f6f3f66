"""Compatibility with the authors' original TF1 release (checkpoints, code files)."""

from ssah_tf.release.checkpoint import ReleaseModels, load_release_checkpoint

__all__ = ["ReleaseModels", "load_release_checkpoint"]
