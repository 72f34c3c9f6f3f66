"""Build `--dataset=npz` files from two views of the UCI mfeat digits, features raw.

    python experiments/make_mfeat_npz.py --mfeat=../shared/data/mfeat --out=workspace/data/mfeat_npz

writes one `<image view>_<text view>.npz` per pair asked for (`--pairs=fac:kar,...`,
default: every pair used in experiments/RESULTS.md) with `image_features`, `texts`
(the second view, dense), one-hot `labels` and its own split: a seeded permutation
(`--seed`), the first 400 items are the queries, the other 1,600 both the training
set and the database. The features are written exactly as the CSV files hold them
(no scaling): the point is to train on views with no natural scale. The data stays
out of the repository (../shared/data/README.md).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

VIEWS = ("pix", "fou", "fac", "kar", "zer", "mor")
DEFAULT_PAIRS = "zer:fou,mor:fou,kar:zer,mor:kar,zer:kar,fou:zer,fac:kar,pix:zer,fac:fou,kar:fou"


def read_view(folder: str, view: str) -> tuple[np.ndarray, np.ndarray]:
    """(features [2000, d], class [2000]) of one mfeat CSV (last column = class)."""
    table = np.loadtxt(os.path.join(folder, f"mfeat-{view}.csv"), delimiter=",", skiprows=1)
    return table[:, :-1].astype(np.float32), table[:, -1].astype(np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mfeat", default="../shared/data/mfeat", help="folder of mfeat-*.csv")
    parser.add_argument("--out", default="workspace/data/mfeat_npz", help="output folder")
    parser.add_argument("--pairs", default=DEFAULT_PAIRS, help="image:text view pairs")
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for pair in args.pairs.split(","):
        image_view, text_view = pair.split(":")
        if image_view not in VIEWS or text_view not in VIEWS:
            parser.error(f"unknown view in {pair!r}; views are {', '.join(VIEWS)}")
        image, classes = read_view(args.mfeat, image_view)
        text, text_classes = read_view(args.mfeat, text_view)
        assert np.array_equal(classes, text_classes), "views disagree on the classes"
        labels = np.eye(classes.max() + 1, dtype=np.float32)[classes]
        perm = np.random.default_rng(args.seed).permutation(len(labels))
        query, rest = perm[: args.queries], perm[args.queries :]
        path = os.path.join(args.out, f"{image_view}_{text_view}.npz")
        np.savez(
            path,
            image_features=image,
            texts=text,
            labels=labels,
            query_index=query,
            train_index=rest,
            database_index=rest,
        )
        print(
            f"{path}: image {image.shape[1]}-d ({image_view}), text {text.shape[1]}-d "
            f"({text_view}), {len(query)} queries, {len(rest)} train = database"
        )


if __name__ == "__main__":
    main()
