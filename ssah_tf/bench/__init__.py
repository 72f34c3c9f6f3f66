"""Benchmarks: the release-configuration suite (``ssah-bench``) and its random CNN-F file."""
