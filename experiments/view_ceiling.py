"""How far one view's queries can go: the cross-modal mAP a query view allows when the
database is coded perfectly, for single-label data.

    python experiments/view_ceiling.py --dataset=mfeat --data_path=../shared/data/mfeat
    python experiments/view_ceiling.py --dataset=npz \
        --data_path=workspace/data/mfeat_npz/kar_zer.npz

For each dense view, a query classifier is fitted on the training items (the
linear classifier of ssah-baseline, and k-nearest neighbours on training-standardised
features); each test query then ranks the database class by class in the order of
its predicted probabilities, with every database item of a class in one block. A
query's AP is then fixed by the rank r of its true class:
mean over k = 1..n_c of k / (s + k), where s is the number of database items in the
classes ranked before it. The mean over the queries is what any hash code
computed from that query view and that classifier can reach against a perfectly
clustered database (codes can order the classes no better than the classifier
does). It is an estimate for a classifier family, not a proof for every encoder.
It prints the query top-1 / top-2 accuracy and that mAP (docs/training.md, "Where
mfeat's Fourier view limits t→i").
"""

from __future__ import annotations

import argparse

import numpy as np


def block_average_precision(
    rank_of_true: np.ndarray,
    class_order: np.ndarray,
    true_class: np.ndarray,
    database_counts: np.ndarray,
) -> np.ndarray:
    """AP per query when the database is ranked class block by class block."""
    aps = np.empty(len(true_class))
    for i, (order, c, r) in enumerate(zip(class_order, true_class, rank_of_true)):
        before = database_counts[order[:r]].sum()
        k = np.arange(1, database_counts[c] + 1)
        aps[i] = np.mean(k / (before + k))
    return aps


def knn_probabilities(x_train, y_train, x_query, *, num_classes: int, k: int) -> np.ndarray:
    """Vote shares of the k nearest training items (Euclidean, training-standardised)."""
    from ssah_tf.data.scaling import fit_standardizer

    standardizer = fit_standardizer(x_train)
    a, b = (np.asarray(standardizer.apply(v), np.float64) for v in (x_train, x_query))
    distances = (b * b).sum(1)[:, None] - 2 * b @ a.T + (a * a).sum(1)[None]
    nearest = np.argsort(distances, axis=1)[:, :k]
    votes = np.stack([np.bincount(y_train[row], minlength=num_classes) for row in nearest])
    # Break vote ties towards the nearest neighbour's class.
    votes = votes + 1e-3 * np.eye(num_classes)[y_train[nearest[:, 0]]]
    return votes / votes.sum(1, keepdims=True)


def main() -> None:
    from ssah_tf.data import load_dataset, resolve_split
    from ssah_tf.data.registry import DataConfig
    from ssah_tf.evaluation.baselines import baseline_inputs, fit_modality

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="mfeat")
    parser.add_argument("--data_path", default="../shared/data/mfeat")
    parser.add_argument("--knn", type=int, default=10, help="neighbours of the k-NN classifier")
    args = parser.parse_args()
    data = load_dataset(DataConfig(dataset=args.dataset, data_path=args.data_path))
    if (data.labels.sum(1) != 1).any():
        parser.error("this estimate is for single-label data (one label per item)")
    split = resolve_split(data, DataConfig(dataset=args.dataset, data_path=args.data_path))
    train, query, database = (
        np.asarray(i, np.int64) for i in (split.train, split.query, split.database)
    )
    classes = data.labels.argmax(1)
    database_counts = np.bincount(classes[database], minlength=data.num_labels)
    print(
        f"{args.dataset}: {len(train)} training items, {len(query)} queries, "
        f"{len(database)} database items"
    )
    for modality, x in baseline_inputs(data).items():
        x = np.asarray(x, np.float64)
        classifiers = {
            "linear (ssah-baseline's)": fit_modality(
                x[train], data.labels[train], l2=None, seed=0
            ).probabilities(x[query]),
            f"{args.knn}-NN": knn_probabilities(
                x[train], classes[train], x[query], num_classes=data.num_labels, k=args.knn
            ),
        }
        for name, probabilities in classifiers.items():
            order = np.argsort(-probabilities, axis=1, kind="stable")
            rank = (order == classes[query][:, None]).argmax(1)
            aps = block_average_precision(rank, order, classes[query], database_counts)
            print(
                f"  {modality} queries, {name}: top-1 {np.mean(rank == 0):.3f}, "
                f"top-2 {np.mean(rank <= 1):.3f}, mAP against a perfect database "
                f"{aps.mean():.3f}"
            )


if __name__ == "__main__":
    main()
