"""Evaluating a set of networks on a split: encoding, the six directions, the label
prior, validation queries, model selection and the run's results records.

Used alike by training (after each epoch), ``ssah-eval`` and ``ssah-export``; it
holds no optimizer, bank or writer, only the networks it is given.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import tensorflow as tf

from ssah_tf.bits import codes_from_hash
from ssah_tf.data.files import load_json
from ssah_tf.data.pipeline import make_dataset
from ssah_tf.errors import UserError
from ssah_tf.evaluation.directions import direction_maps, label_prior_map

# Bulk text encoding folds TxtNet's first layer once for the fixed weights.
FOLDED_TEXT_ROWS = 2048


def selection_metric(maps: dict[str, float]) -> float:
    """Cross-modal mean (i2t, t2i) when both modalities exist, else label/self retrieval."""
    keys = [k for k in ("map_i2t", "map_t2i") if k in maps] or [
        k for k in ("map_l2t", "map_t2t", "map_l2i", "map_i2i") if k in maps]
    return float(np.mean([maps[k] for k in keys]))


class Evaluator:
    """Codes and mAPs of ``networks`` for the data's items."""

    def __init__(self, networks, data, split, *, modalities: tuple[str, ...],
                 feature_matrix: np.ndarray | None, pixel_images: bool, image_size: int,
                 batch_size: int = 256, top_k: int | None = None, val_size: int = 0,
                 jit_compile: bool = False):
        self.networks = networks
        self.data = data
        self.split = split
        self.modalities = ("label",) + tuple(m for m in ("image", "text") if m in modalities)
        self.feature_matrix = feature_matrix
        self.pixel_images = pixel_images
        self.image_size = image_size
        self.batch_size = batch_size
        self.top_k = top_k
        self.val_size = val_size
        self.jit_compile = jit_compile
        self._encoders: dict[str, Any] = {}
        self._label_prior: float | None = None

    # ------------------------------------------------------------------ encoding
    def _encoder(self, modality: str, folded: bool):
        key = modality + ("_folded" if folded else "")
        if key not in self._encoders:
            nets = self.networks
            net = {"label": nets.labnet, "text": nets.txtnet, "image": nets.imgnet}[modality]
            # The folded weights are an argument (not captured): they change with training.
            run_net = ((lambda x, w: nets.txtnet.call_folded(x, w).hash) if folded
                       else (lambda x, w: net(x).hash))
            self._encoders[key] = tf.function(run_net, reduce_retracing=True,
                                              jit_compile=self.jit_compile)
        return self._encoders[key]

    def encode(self, indices: np.ndarray, modality: str) -> np.ndarray:
        """Real-valued hash outputs H for dataset rows ``indices`` of one modality."""
        indices = np.asarray(indices)
        source = {"label": self.data.labels, "text": self.data.texts,
                  "image": None if self.pixel_images else self.feature_matrix}[modality]
        # Many texts: TxtNet's first layer folded once for the fixed weights, in the
        # transposed layout (TF's CPU matmul is faster that way round).
        folded = (self.networks.txtnet.folded_weights(transposed=True)
                  if modality == "text" and len(indices) >= FOLDED_TEXT_ROWS else None)
        encoder = self._encoder(modality, folded is not None)
        outputs = []
        if source is not None:
            for start in range(0, len(indices), self.batch_size):
                rows = indices[start:start + self.batch_size]
                outputs.append(encoder(tf.constant(source[rows]), folded).numpy())
        else:
            ds = make_dataset(self.data, indices, batch_size=self.batch_size, fields=("image",),
                              image_size=self.image_size,
                              preprocess=self.networks.imgnet.preprocess)
            for element in ds:
                outputs.append(encoder(element["image"], folded).numpy())
        if not outputs:
            return np.zeros((0, self.networks.labnet.hash_head.units), np.float32)
        return np.concatenate(outputs)

    def codes(self, indices: np.ndarray, modality: str) -> np.ndarray:
        """{-1, +1} codes of rows ``indices``."""
        return codes_from_hash(self.encode(indices, modality))

    # ------------------------------------------------------------------ scoring
    def evaluate(self, query: np.ndarray, database: np.ndarray) -> tuple[dict, dict]:
        """mAP for every direction available; also the query hash outputs."""
        q = {m: self.encode(query, m) for m in self.modalities}
        db = {m: self.encode(database, m) for m in self.modalities if m != "label"}
        maps = direction_maps(query_codes=q, database_codes=db,
                              query_labels=self.data.labels[query],
                              database_labels=self.data.labels[database], top_k=self.top_k)
        return maps, q

    def label_prior(self) -> float:
        """Baseline: mAP when every code is equal, i.e. a ranking that ignores the data
        (ties fall back to the database order): what the labels alone give."""
        if self._label_prior is None:
            self._label_prior = label_prior_map(
                query_labels=self.data.labels[np.asarray(self.split.query)],
                database_labels=self.data.labels[np.asarray(self.split.database)],
                top_k=self.top_k)
        return self._label_prior

    def validation_split(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(validation queries, their database): the last ``val_size`` database items
        outside the training set, against the rest of the database."""
        if not self.val_size:
            return None
        database = np.asarray(self.split.database)
        train = set(np.asarray(self.split.train).tolist())
        pool = np.array([i for i in database if i not in train])
        if len(pool) < self.val_size:
            raise UserError(f"--val_size {self.val_size} exceeds the {len(pool)} database items "
                            "outside the training set")
        queries = pool[-self.val_size:]
        return queries, np.setdiff1d(database, queries)

    def record(self, epoch: int) -> tuple[dict[str, Any], dict]:
        """The evaluation record of ``epoch`` (test, and validation when asked) and the
        test query hashes (for code statistics)."""
        started = time.time()
        maps, query_hashes = self.evaluate(np.asarray(self.split.query),
                                           np.asarray(self.split.database))
        record: dict[str, Any] = {"epoch": epoch, "test": maps,
                                  "test_selection": selection_metric(maps)}
        validation = self.validation_split()
        if validation is not None:
            val_maps, _ = self.evaluate(*validation)
            record["validation"] = val_maps
            record["validation_selection"] = selection_metric(val_maps)
        record["eval_seconds"] = time.time() - started
        return record, query_hashes


# ----------------------------------------------------------------------------- run records
def selection_of(record: dict) -> float:
    """The value model selection compares: validation when measured, else test."""
    return record.get("validation_selection", record["test_selection"])


def results_summary(record: dict, history: list[dict], label_prior: float) -> dict[str, Any]:
    """results.json: the latest evaluation, the best epoch (by :func:`selection_of`)
    and its test mAPs, and the label prior beside them."""
    best = max(history, key=selection_of)
    return {**record["test"], "epoch": record["epoch"], "best_epoch": best["epoch"],
            "label_prior_map": label_prior, "best": best.get("test"),
            "selected_on": "validation" if "validation" in record else "test",
            "validation": record.get("validation")}


def load_history(model_dir: str, before_epoch: int) -> list[dict]:
    """Evaluation records of the epochs before ``before_epoch`` (after a resume)."""
    folder = os.path.join(model_dir, "eval")
    history = []
    if os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            if name.startswith("epoch_") and name.endswith(".json"):
                path = os.path.join(folder, name)
                record = load_json(path)
                if not isinstance(record, dict) or not isinstance(record.get("epoch"), int):
                    raise UserError(f"{path} is damaged (no epoch record); restore it or remove it")
                if record["epoch"] < before_epoch:
                    history.append(record)
    return history
