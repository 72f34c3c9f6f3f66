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
from ssah_tf.evaluation.selection import selection_directions

# Bulk text encoding folds TxtNet's first layer once for the fixed weights.
FOLDED_TEXT_ROWS = 2048


class Evaluator:
    """Codes and mAPs of ``networks`` for the data's items."""

    def __init__(
        self,
        networks,
        data,
        split,
        *,
        modalities: tuple[str, ...],
        feature_matrix: np.ndarray | None,
        pixel_images: bool,
        image_size: int,
        batch_size: int = 256,
        map_variant: str | None = None,
        top_k: int | None = None,
        jit_compile: bool = False,
    ):
        self.networks = networks
        self.data = data
        self.split = split
        self.modalities = ("label",) + tuple(m for m in ("image", "text") if m in modalities)
        self.feature_matrix = feature_matrix
        self.pixel_images = pixel_images
        self.image_size = image_size
        self.batch_size = batch_size
        self.map_variant = map_variant
        self.top_k = top_k
        self.jit_compile = jit_compile
        self._encoders: dict[str, Any] = {}
        self._label_prior: float | None = None

    # ------------------------------------------------------------------ encoding
    def _encoder(self, modality: str, folded: bool, output: str):
        key = (modality, folded, output)
        if key not in self._encoders:
            nets = self.networks
            net = nets.for_modality(modality)
            # The folded weights are an argument (not captured): they change with training.
            run_net = (
                (lambda x, w: getattr(nets.txtnet.call_folded(x, w), output))
                if folded
                else (lambda x, w: getattr(net(x), output))
            )
            self._encoders[key] = tf.function(
                run_net, reduce_retracing=True, jit_compile=self.jit_compile
            )
        return self._encoders[key]

    def encode(self, indices: np.ndarray, modality: str, output: str = "hash") -> np.ndarray:
        """Real-valued hash outputs H (``output="feature"``: the semantic features F) for
        dataset rows ``indices`` of one modality."""
        indices = np.asarray(indices)
        source = {
            "label": self.data.labels,
            "text": self.data.texts,
            "image": None if self.pixel_images else self.feature_matrix,
        }[modality]
        # Many texts: TxtNet's first layer folded once for the fixed weights, in the
        # transposed layout (TF's CPU matmul is faster that way round).
        folded = (
            self.networks.txtnet.folded_weights(transposed=True)
            if modality == "text" and len(indices) >= FOLDED_TEXT_ROWS
            else None
        )
        encoder = self._encoder(modality, folded is not None, output)
        outputs = []
        if source is not None:
            for start in range(0, len(indices), self.batch_size):
                rows = indices[start : start + self.batch_size]
                outputs.append(encoder(tf.constant(source[rows]), folded).numpy())
        else:
            ds = make_dataset(
                self.data,
                indices,
                batch_size=self.batch_size,
                fields=("image",),
                image_size=self.image_size,
                preprocess=self.networks.imgnet.preprocess,
            )
            for element in ds:
                outputs.append(encoder(element["image"], folded).numpy())
        if not outputs:
            width = (
                self.networks.labnet.hash_head.units
                if output == "hash"
                else self.networks.labnet.semantic.units
            )
            return np.zeros((0, width), np.float32)
        return np.concatenate(outputs)

    def codes(self, indices: np.ndarray, modality: str) -> np.ndarray:
        """{-1, +1} codes of rows ``indices``."""
        return codes_from_hash(self.encode(indices, modality))

    # ------------------------------------------------------------------ scoring
    def _encode_rows(self, query_sets: list[np.ndarray], database: np.ndarray):
        """Each modality's H for every row any of ``query_sets`` or the database needs,
        encoded once (validation queries are database items): modality -> (rows, H)."""
        encoded = {}
        for modality in self.modalities:
            parts = query_sets + ([] if modality == "label" else [database])
            rows = np.unique(np.concatenate(parts))
            encoded[modality] = (rows, self.encode(rows, modality))
        return encoded

    @staticmethod
    def _take(encoded, modality: str, indices: np.ndarray) -> np.ndarray:
        rows, hashes = encoded[modality]
        return hashes[np.searchsorted(rows, indices)]

    def _maps(self, encoded, query: np.ndarray, database: np.ndarray) -> tuple[dict, dict]:
        q = {m: self._take(encoded, m, query) for m in self.modalities}
        db = {m: self._take(encoded, m, database) for m in self.modalities if m != "label"}
        maps = direction_maps(
            query_codes=q,
            database_codes=db,
            query_labels=self.data.labels[query],
            database_labels=self.data.labels[database],
            map_variant=self.map_variant,
            top_k=self.top_k,
        )
        return maps, q

    def evaluate(self, query: np.ndarray, database: np.ndarray) -> tuple[dict, dict]:
        """mAP for every direction available; also the query hash outputs."""
        query, database = np.asarray(query), np.asarray(database)
        return self._maps(self._encode_rows([query], database), query, database)

    def label_prior(self) -> float:
        """Baseline: mAP when every code is equal, i.e. a ranking that ignores the data
        (ties fall back to the database order): what the labels alone give."""
        if self._label_prior is None:
            self._label_prior = label_prior_map(
                query_labels=self.data.labels[np.asarray(self.split.query)],
                database_labels=self.data.labels[np.asarray(self.split.database)],
                map_variant=self.map_variant,
                top_k=self.top_k,
            )
        return self._label_prior

    def record(self, epoch: int) -> tuple[dict[str, Any], dict]:
        """The evaluation record of ``epoch``: test mAPs and, when the split has
        validation queries, their mAPs against the rest of the database; also the
        test query hashes (for code statistics). Every item is encoded once."""
        started = time.time()
        split = self.split
        query, database = np.asarray(split.query), np.asarray(split.database)
        validation = None if split.validation is None else np.asarray(split.validation)
        encoded = self._encode_rows(
            [query] + ([validation] if validation is not None else []), database
        )
        maps, query_hashes = self._maps(encoded, query, database)
        record: dict[str, Any] = {"epoch": epoch, "test": maps}
        if validation is not None:
            record["validation"], _ = self._maps(encoded, validation, split.validation_database)
        record["eval_seconds"] = time.time() - started
        return record, query_hashes


# ----------------------------------------------------------------------------- run records
def results_summary(
    history: list[dict],
    *,
    selection,
    label_prior: float,
    split,
    stopped: dict | None = None,
    protocol: dict | None = None,
) -> dict[str, Any]:
    """results.json: the test mAPs of the selected checkpoint (the one ``best/`` holds
    and ``ssah-eval`` / ``ssah-export`` use by default) at the top level, how and where
    it was selected, the last evaluated epoch's test mAPs under ``last_epoch``, the
    label prior, and why training stopped."""
    best, last = selection.best(history), history[-1]
    how = {
        "criterion": selection.criterion,
        "tolerance": selection.tolerance,
        "directions": selection_directions(best["test"]),
        "description": selection.describe(),
    }
    if selection.select_on != "last":
        how["value"] = selection.value(best)
    if split.validation is not None:
        how.update(
            validation_queries=int(len(split.validation)), validation_from=split.validation_from
        )
    return {
        **best["test"],
        "selected_epoch": best["epoch"],
        "selected_on": selection.select_on,
        "selection": how,
        "validation": best.get("validation"),
        "last_epoch": {"epoch": last["epoch"], **last["test"]},
        "label_prior_map": label_prior,
        "evaluations": len(history),
        "stopped": stopped,
        "protocol": protocol,
    }


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
