"""The package version, in a module of its own so any module can read it without
importing the package's API (setup.cfg reads it as ``ssah_tf.version.__version__``)."""

__version__ = "0.1.0"
