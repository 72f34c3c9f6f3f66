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

import numpy as np
import scipy.optimize
import scipy.special
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


def baseline_inputs(data) -> dict[str, np.ndarray]:
    """modality -> [items, d] inputs the baseline can use: dense image features (or the
    demo's flattened pixels), texts. CNN-F / VGG pixel images are out of its scope."""
    from ssah_tf.data.pipeline import image_feature_matrix  # TF, for the demo's pixels only

    out = {}
    if data.image_features is not None or (data.images is not None and data.name == "demo"):
        out["image"] = image_feature_matrix(data)
    if data.texts is not None:
        out["text"] = data.texts
    return out


def run_baseline(
    data,
    split,
    *,
    bits: int,
    seed: int,
    l2: float | None = None,
    map_variant: str | None = None,
    top_k: int | None = None,
) -> dict:
    """Fit every modality on ``split.train``, code query and database, score all directions.

    Returns the ``map_*`` keys (as ``ssah-train``'s results.json), the label prior's mAP,
    under ``validation`` the mAPs of the split's validation queries (against the rest of
    the database, as ssah-train measures them) and, per modality, the regularisation used
    and the query accuracy of the classifier's top label.
    """

    train = np.asarray(split.train, np.int64)
    labels = data.labels
    prior = labels[train].mean(0)
    projection = random_projection(data.num_labels, bits, seed)
    models = {
        modality: fit_modality(x[train], labels[train], l2=l2, seed=seed)
        for modality, x in baseline_inputs(data).items()
    }

    def maps(query: np.ndarray, database: np.ndarray) -> dict:
        query_codes = {
            "label": codes_from_scores(labels[query], prior=prior, projection=projection)
        }
        database_codes = {}
        for modality, x in baseline_inputs(data).items():
            query_codes[modality] = codes_from_scores(
                models[modality].probabilities(x[query]), prior=prior, projection=projection
            )
            database_codes[modality] = codes_from_scores(
                models[modality].probabilities(x[database]), prior=prior, projection=projection
            )
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
    for modality, x in baseline_inputs(data).items():
        model = models[modality]
        hit = labels[query][np.arange(len(query)), model.probabilities(x[query]).argmax(1)] > 0
        details[modality] = {
            "l2": model.classifier.l2,
            "query_top1_correct": float(hit.mean()),
            "multi_label": model.classifier.multi_label,
        }
    results["classifiers"] = details
    return results
