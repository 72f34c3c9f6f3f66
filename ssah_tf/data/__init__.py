"""Datasets: readers for every SSAH format, the demo, splits and tf.data pipelines."""

from ssah_tf.data.dataset import CrossModalDataset
from ssah_tf.data.protocols import Split, load_split, make_split, save_split
from ssah_tf.data.registry import DataConfig, load_dataset, resolve_split

__all__ = [
    "CrossModalDataset",
    "DataConfig",
    "Split",
    "load_dataset",
    "load_split",
    "make_split",
    "resolve_split",
    "save_split",
]
