"""absl-flag command-line entry points (flags live here only)."""
