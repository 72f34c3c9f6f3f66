"""A simple supervised hashing baseline to put beside every SSAH result.

Per modality an L2-regularised linear classifier (softmax for single-label
data, one logistic output per label for multi-label data) on the training
items, inputs standardised with training statistics (0/1 tag vectors as they
are); codes are sign((P - prior) R) with P the predicted label probabilities,
prior the training items' label frequencies and R ~ N(0, 1) of shape
[classes, bits]. Label queries use sign((L - prior) R). Anything SSAH learns
should beat it: it sees the same labels and features, through a linear model.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import scipy.optimize
import scipy.special
from absl import logging
from threadpoolctl import threadpool_limits

from ssah_tf.bits import codes_from_hash
from ssah_tf.data.scaling import Standardizer, fit_standardizer, is_binary
from ssah_tf.evaluation.directions import direction_maps, label_prior_map

L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


@dataclasses.dataclass(frozen=True)
class LinearClassifier:
    """Weights [d, c], bias [c]; ``multi_label`` selects sigmoid outputs over softmax."""

    weights: np.ndarray
    bias: np.ndarray
    multi_label: bool
    l2: float

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        logits = np.asarray(x, np.float64) @ self.weights + self.bias
        if self.multi_label:
            return scipy.special.expit(logits)
        return scipy.special.softmax(logits, axis=1)


def _objective(params, x, y, l2, multi_label):
    """Mean negative log-likelihood + l2 / 2 * ||W||^2 and its gradient (bias unpenalised)."""
    d, c = x.shape[1], y.shape[1]
    w, b = params[: d * c].reshape(d, c), params[d * c :]
    logits = x @ w + b
    n = len(x)
    if multi_label:
        loss = np.sum(np.logaddexp(0.0, logits) - y * logits) / n
        residual = (scipy.special.expit(logits) - y) / n
    else:
        log_norm = scipy.special.logsumexp(logits, axis=1, keepdims=True)
        loss = -np.sum(y * (logits - log_norm)) / n
        residual = (np.exp(logits - log_norm) - y) / n
    loss += 0.5 * l2 * np.sum(w * w)
    grad_w = x.T @ residual + l2 * w
    return loss, np.concatenate([grad_w.ravel(), residual.sum(0)])


def fit_linear_classifier(
    x: np.ndarray,
    labels: np.ndarray,
    *,
    l2: float,
    multi_label: bool | None = None,
    max_iter: int = 500,
) -> LinearClassifier:
    """Minimise the regularised mean log-loss with L-BFGS (deterministic)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(labels, np.float64)
    if multi_label is None:
        multi_label = bool(np.any(y.sum(1) != 1))
    if not multi_label:
        y = y / np.maximum(y.sum(1, keepdims=True), 1.0)
    d, c = x.shape[1], y.shape[1]
    # One BLAS thread: the matrices are small, and OpenBLAS's threads spin waiting for
    # work, so beside TensorFlow, a second test worker or another run on the machine
    # they slow the fit down several times over (measured in experiments/RESULTS.md).
    with threadpool_limits(limits=1, user_api="blas"):
        result = scipy.optimize.minimize(
            _objective,
            np.zeros(d * c + c),
            args=(x, y, l2, multi_label),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": max_iter, "gtol": 1e-7},
        )
    params = result.x
    return LinearClassifier(params[: d * c].reshape(d, c), params[d * c :], multi_label, l2)


def mean_log_likelihood(classifier: LinearClassifier, x: np.ndarray, labels: np.ndarray) -> float:
    """Per-item log-likelihood of ``labels`` (higher is better)."""
    p = np.clip(classifier.probabilities(x), 1e-12, 1 - 1e-12)
    y = np.asarray(labels, np.float64)
    if classifier.multi_label:
        return float(np.mean(np.sum(y * np.log(p) + (1 - y) * np.log(1 - p), axis=1)))
    y = y / np.maximum(y.sum(1, keepdims=True), 1.0)
    return float(np.mean(np.sum(y * np.log(p), axis=1)))


def select_l2(
    x: np.ndarray, labels: np.ndarray, *, seed: int, grid=L2_GRID, holdout: float = 0.2
) -> float:
    """The grid value with the best held-out log-likelihood on a seeded 20 % of the
    training items (the test queries are never looked at)."""
    n = len(x)
    order = np.random.default_rng(seed).permutation(n)
    cut = max(1, int(round(n * holdout)))
    held, kept = order[:cut], order[cut:]
    if len(kept) == 0:
        return float(grid[len(grid) // 2])
    scores = [
        mean_log_likelihood(
            fit_linear_classifier(x[kept], labels[kept], l2=l2), x[held], labels[held]
        )
        for l2 in grid
    ]
    return float(grid[int(np.argmax(scores))])


def random_projection(num_labels: int, bits: int, seed: int) -> np.ndarray:
    """R ~ N(0, 1), [classes, bits], from ``seed``."""
    return np.random.default_rng(seed).standard_normal((num_labels, bits))


def codes_from_scores(
    scores: np.ndarray, *, prior: np.ndarray, projection: np.ndarray
) -> np.ndarray:
    """sign((scores - prior) R) in {-1, +1} (0 -> +1)."""
    projected = (np.asarray(scores, np.float64) - prior) @ projection
    return codes_from_hash(projected)


@dataclasses.dataclass(frozen=True)
class ModalityModel:
    """One modality's baseline: its input scaling (or None) and classifier."""

    standardizer: Standardizer | None
    classifier: LinearClassifier

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        if self.standardizer is not None:
            x = self.standardizer.apply(x)
        return self.classifier.probabilities(x)


def fit_modality(
    x_train: np.ndarray, labels_train: np.ndarray, *, l2: float | None, seed: int
) -> ModalityModel:
    """Standardise (unless 0/1), choose l2 when None, fit."""
    standardizer = None if is_binary(x_train) else fit_standardizer(x_train)
    x = standardizer.apply(x_train) if standardizer is not None else np.asarray(x_train, np.float32)
    if l2 is None:
        l2 = select_l2(x, labels_train, seed=seed)
    return ModalityModel(standardizer, fit_linear_classifier(x, labels_train, l2=l2))


class PictureRows:
    """A data set's pictures as rows of flattened pixels in [0, 1] at ``size``, read
    (and decoded) for the rows asked for only: what the baseline's image classifier
    reads, the same pictures (and pixels) the mlp backbone reads."""

    def __init__(self, data, size: int):
        self.data, self.size = data, size
        self.shape = (data.num_items, size * size * 3)

    def __getitem__(self, rows) -> np.ndarray:
        from ssah_tf.data.pipeline import make_dataset  # TF: only when pictures are read

        rows = np.asarray(rows, np.int64)
        out = np.empty((len(rows), self.shape[1]), np.float32)
        dataset = make_dataset(
            self.data, rows, batch_size=256, fields=("image",), image_size=self.size
        )
        start = 0
        for batch in dataset:
            pixels = batch["image"].numpy()
            out[start : start + len(pixels)] = pixels.reshape(len(pixels), -1) / 255.0
            start += len(pixels)
        return out


def baseline_inputs(data, image_size: int = 32) -> dict[str, object]:
    """modality -> [items, d] inputs the baseline can use, indexable by rows: dense
    image features, or the pictures flattened at ``image_size`` (PictureRows, read
    when indexed); texts."""
    out: dict[str, object] = {}
    if data.image_features is not None:
        out["image"] = data.image_features
    elif data.images is not None:
        out["image"] = PictureRows(data, image_size)
    if data.texts is not None:
        out["text"] = data.texts
    return out


def _chunked(fn, x, rows: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """fn(x[rows]) a chunk of rows at a time (pictures are read only for the chunk)."""
    parts = [fn(x[rows[i : i + chunk]]) for i in range(0, len(rows), chunk)]
    return np.concatenate(parts) if parts else fn(x[rows[:0]])


def run_baseline(
    data,
    split,
    *,
    bits: int,
    seed: int,
    l2: float | None = None,
    map_variant: str | None = None,
    top_k: int | None = None,
    image_size: int = 32,
) -> dict:
    """Fit every modality on ``split.train``, code query and database, score all directions.

    Returns the ``map_*`` keys (as ``ssah-train``'s results.json), the label prior's mAP,
    under ``validation`` the mAPs of the split's validation queries (against the rest of
    the database, as ssah-train measures them) and, per modality, the regularisation used
    and the query accuracy of the classifier's top label. Pictures are read at
    ``image_size`` (flattened pixels); the training items' inputs are held in memory,
    queries and database are coded a chunk at a time.
    """

    train = np.asarray(split.train, np.int64)
    labels = data.labels
    prior = labels[train].mean(0)
    projection = random_projection(data.num_labels, bits, seed)
    inputs = baseline_inputs(data, image_size)
    models = {}
    for modality, x in inputs.items():
        started = time.time()
        x_train = x[train]
        logging.info(
            "ssah-baseline: fitting the %s classifier on %d items x %d inputs%s",
            modality,
            len(train),
            x_train.shape[1],
            "" if l2 is not None else f" (l2 chosen from {len(L2_GRID)} values)",
        )
        models[modality] = fit_modality(x_train, labels[train], l2=l2, seed=seed)
        logging.info(
            "ssah-baseline: %s classifier fitted in %.0f s", modality, time.time() - started
        )
    coded: dict[str, dict[int, np.ndarray]] = {m: {} for m in inputs}

    def codes(modality: str, rows: np.ndarray) -> np.ndarray:
        """Codes of rows, each row coded once however many splits use it."""
        known = coded[modality]
        new = np.setdiff1d(rows, np.fromiter(known, np.int64, len(known)))
        if len(new):
            logging.info("ssah-baseline: coding %d %s items", len(new), modality)
            fresh = _chunked(
                lambda rows_x: codes_from_scores(
                    models[modality].probabilities(rows_x), prior=prior, projection=projection
                ),
                inputs[modality],
                new,
            )
            known.update(zip(new.tolist(), fresh))
        return np.stack([known[int(r)] for r in rows]) if len(rows) else np.zeros((0, bits))

    def maps(query: np.ndarray, database: np.ndarray) -> dict:
        query_codes = {
            "label": codes_from_scores(labels[query], prior=prior, projection=projection)
        }
        database_codes = {}
        for modality in inputs:
            query_codes[modality] = codes(modality, query)
            database_codes[modality] = codes(modality, database)
        return direction_maps(
            query_codes=query_codes,
            database_codes=database_codes,
            query_labels=labels[query],
            database_labels=labels[database],
            map_variant=map_variant,
            top_k=top_k,
        )

    query, database = np.asarray(split.query, np.int64), np.asarray(split.database, np.int64)
    results: dict = maps(query, database)
    results["label_prior_map"] = label_prior_map(
        query_labels=labels[query],
        database_labels=labels[database],
        map_variant=map_variant,
        top_k=top_k,
    )
    if split.validation is not None:
        results["validation"] = maps(
            np.asarray(split.validation, np.int64), np.asarray(split.validation_database, np.int64)
        )
    details = {}
    for modality, x in inputs.items():
        model = models[modality]
        scores = _chunked(model.probabilities, x, query)
        hit = labels[query][np.arange(len(query)), scores.argmax(1)] > 0
        details[modality] = {
            "l2": model.classifier.l2,
            "query_top1_correct": float(hit.mean()),
            "multi_label": model.classifier.multi_label,
        }
    results["classifiers"] = details
    if "image" in inputs and isinstance(inputs["image"], PictureRows):
        results["image_input"] = f"pictures flattened at {image_size} x {image_size}"
    return results
