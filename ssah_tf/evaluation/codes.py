"""Code files in the original release's layout, and evaluating a set of codes.

The release saves ``Qi``, ``Qt`` (query image / text codes), ``Di``, ``Dt``
(database codes), all in {-1, +1}, with ``query_L`` and ``retrieval_L``.
"""

from __future__ import annotations

import csv
import os

import h5py
import numpy as np
import scipy.io

from ssah_tf.atomic import write_atomic
from ssah_tf.errors import UserError
from ssah_tf.evaluation.curves import (
    lookup_by_radius,
    precision_at_n,
)
from ssah_tf.evaluation.directions import DIRECTIONS, label_prior_map
from ssah_tf.evaluation.metrics import mean_average_precision, mean_average_precision_tie_aware
from ssah_tf.map_variants import (
    map_key,
    map_variant_and_k,
    precision_within_radius_key,
    queries_within_radius_key,
    tie_aware_key,
)

RELEASE_CODE_KEYS = ("Qi", "Qt", "Di", "Dt", "query_L", "retrieval_L")
# direction -> (query codes key, database codes key): Q/D + the modality's initial.
CODE_DIRECTIONS = {
    name: (f"Q{source[0]}", f"D{target[0]}") for name, (source, target) in DIRECTIONS.items()
}


def read_code_file(path: str) -> dict[str, np.ndarray]:
    """Read a release-layout code file (.mat v5 or v7.3); validates keys and shapes."""
    if not os.path.isfile(path):
        raise UserError(f"code file {path} does not exist")
    if h5py.is_hdf5(path):
        with h5py.File(path, "r") as f:
            arrays = {k: np.asarray(f[k]).T for k in f.keys() if not k.startswith("#")}
    else:
        try:
            arrays = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
        except Exception as error:  # scipy raises several types for non-MAT files
            raise UserError(f"{path} is not a MATLAB file ({error})") from None
    if "query_L" not in arrays or "retrieval_L" not in arrays:
        raise UserError(
            f"{path}: needs query_L and retrieval_L (keys: {', '.join(sorted(arrays))})"
        )
    codes = {k: np.asarray(arrays[k]) for k in arrays if k in RELEASE_CODE_KEYS + ("Ql",)}
    pairs = [(q, d) for q, d in CODE_DIRECTIONS.values() if q in codes and d in codes]
    if not pairs:
        raise UserError(
            f"{path}: no query/database code pair (expected {', '.join(RELEASE_CODE_KEYS)}; "
            f"keys: {', '.join(sorted(arrays))})"
        )
    for key in ("query_L", "retrieval_L"):
        if codes[key].ndim != 2:
            raise UserError(
                f"{path}: {key} must be 2-D [items, classes], got shape {codes[key].shape}"
            )
    nq, nd = len(codes["query_L"]), len(codes["retrieval_L"])
    if nq == 0 or nd == 0:
        raise UserError(
            f"{path}: {'query_L' if nq == 0 else 'retrieval_L'} has no rows; "
            "there is nothing to evaluate"
        )
    if codes["query_L"].shape[1] != codes["retrieval_L"].shape[1]:
        raise UserError(
            f"{path}: query_L has {codes['query_L'].shape[1]} classes but retrieval_L "
            f"{codes['retrieval_L'].shape[1]}; both must use the same label set"
        )
    bits = set()
    for key, value in codes.items():
        if key in ("query_L", "retrieval_L"):
            continue
        expected = nq if key.startswith("Q") else nd
        if value.ndim != 2 or value.shape[0] != expected:
            raise UserError(
                f"{path}: {key} has shape {value.shape}; expected {expected} rows "
                f"(the number of {'query' if key.startswith('Q') else 'retrieval'} labels)"
            )
        if not np.all(np.abs(value) == 1):
            raise UserError(f"{path}: {key} must hold codes in {{-1, +1}}")
        bits.add(value.shape[1])
    if len(bits) > 1:
        raise UserError(f"{path}: code lengths differ across variables: {sorted(bits)}")
    return codes


def write_code_file(path: str, codes: dict[str, np.ndarray]) -> None:
    """Write codes (+ labels) in the release's layout as MATLAB v5, atomically."""
    write_atomic(
        path,
        lambda f: scipy.io.savemat(
            f,
            {
                k: np.asarray(v, np.float64 if k.endswith("_L") else np.int8)
                for k, v in codes.items()
            },
        ),
        binary=True,
    )


def evaluate_codes(
    codes: dict[str, np.ndarray],
    *,
    map_variant: str | None = None,
    top_k: int | None = None,
    n_values=(1, 10, 50, 100, 500, 1000, 5000),
) -> tuple[dict, dict]:
    """Per available direction: mAP@all (``map_<d>``), the variant's figure with a k
    (``map_<d>@<k>``), the tie-aware mAP@all (``map_tie_aware_<d>``) and precision
    within radius 2, and the label prior's mAP@all; curves: PR by radius, precision@N."""
    variant, top_k = map_variant_and_k(map_variant, top_k)
    results: dict = {
        "label_prior_map": label_prior_map(
            query_labels=codes["query_L"], database_labels=codes["retrieval_L"]
        )
    }
    curves: dict = {}
    for name, (q, d) in CODE_DIRECTIONS.items():
        if q not in codes or d not in codes:
            continue
        kw = dict(
            query_codes=codes[q],
            database_codes=codes[d],
            query_labels=codes["query_L"],
            database_labels=codes["retrieval_L"],
        )
        results[map_key(name)] = mean_average_precision(**kw)
        if top_k is not None:
            results[map_key(name, variant, top_k)] = mean_average_precision(
                **kw, map_variant=variant, top_k=top_k
            )
        results[tie_aware_key(name)] = mean_average_precision_tie_aware(**kw)
        radii, precision, recall, retrieving = lookup_by_radius(**kw)
        radius = min(2, len(precision) - 1)  # precision_within_radius, without a second pass
        results[precision_within_radius_key(name)] = float(precision[radius])
        results[queries_within_radius_key(name)] = int(retrieving[radius])
        curves[f"pr_{name}"] = {"radius": radii, "precision": precision, "recall": recall}
        curves[f"precision_at_n_{name}"] = {
            "n": np.asarray(n_values),
            "precision": precision_at_n(**kw, n_values=n_values),
        }
    return results, curves


def write_curves(output_dir: str, curves: dict) -> list[str]:
    """One CSV per curve; PNG plots when matplotlib is installed (the ``plot`` extra)."""
    written = []
    for name, columns in curves.items():
        path = os.path.join(output_dir, f"{name}.csv")

        def write(f, columns=columns):
            writer = csv.writer(f)
            writer.writerow(list(columns))
            writer.writerows(zip(*[np.asarray(v).tolist() for v in columns.values()]))

        write_atomic(path, write)
        written.append(path)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return written
    for kind, x, y in (("pr", "recall", "precision"), ("precision_at_n", "n", "precision")):
        fig, ax = plt.subplots(figsize=(5, 4))
        for name, columns in curves.items():
            if name.startswith(kind + "_") and (kind != "pr" or not name.startswith("precision")):
                ax.plot(columns[x], columns[y], marker=".", label=name.split("_")[-1])
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        if kind == "precision_at_n":
            ax.set_xscale("log")
        ax.legend()
        ax.grid(alpha=0.3)
        path = os.path.join(output_dir, f"{kind}.png")
        write_atomic(path, lambda f, fig=fig: fig.savefig(f, format="png", dpi=100), binary=True)
        plt.close(fig)
        written.append(path)
    return written
