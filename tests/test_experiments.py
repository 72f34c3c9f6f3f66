"""Every flag file in experiments/ parses with ssah-train's flags; the paper-table files
set what their names say and are listed in experiments/RESULTS.md."""

import glob
import json
import os
import subprocess
import sys

from tests.helpers import REPO

PARSE = r"""
import json, sys
from absl import flags
import ssah_tf.cli.train  # defines the flags
FLAGS = flags.FLAGS
out = {}
for path in sys.argv[1:]:
    FLAGS.unparse_flags()
    FLAGS(["ssah-train", f"--flagfile={path}"])
    names = ("dataset", "backbone", "bits", "preset", "model_dir", "cnnf_path", "vgg19_weights")
    out[path] = {k: getattr(FLAGS, k) for k in names}
print(json.dumps(out))
"""


def test_flag_files_parse_and_match_their_names():
    files = sorted(
        glob.glob("experiments/*.flags", root_dir=REPO)
        + [
            p
            for p in glob.glob("experiments/tables/*.flags", root_dir=REPO)
            if os.path.basename(p).count("_") >= 3 and "base_" not in p
        ]
    )
    result = subprocess.run(
        [sys.executable, "-c", PARSE, *files],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=REPO),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    parsed = json.loads(result.stdout.strip().splitlines()[-1])
    tables = [p for p in files if p.startswith("experiments/tables/")]
    assert len(tables) == 3 * 2 * 3 * 2  # datasets x backbones x bits x presets
    results_md = open(os.path.join(REPO, "experiments", "RESULTS.md")).read()
    for path in tables:
        name = os.path.basename(path)[: -len(".flags")]
        dataset, rest = name.rsplit("_", 3)[0], name.rsplit("_", 3)[1:]
        backbone, bits, preset = rest
        values = parsed[path]
        assert (values["dataset"], values["backbone"], values["bits"], values["preset"]) == (
            dataset,
            backbone,
            int(bits),
            preset,
        ), path
        assert values["model_dir"].endswith(name)
        assert values["cnnf_path" if backbone == "cnnf" else "vgg19_weights"], path
        assert f"`{path}`" in results_md, f"{path} missing from RESULTS.md"


def _load_experiment(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        name, os.path.join(REPO, "experiments", f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_view_ceiling_block_average_precision():
    import numpy as np

    ceiling = _load_experiment("view_ceiling")
    counts = np.array([2, 1])
    # By hand: class 1 (one item) ranked after class 0's two items -> AP = 1/3;
    # class 0 ranked first -> both hits at the top, AP = 1.
    aps = ceiling.block_average_precision(
        np.array([1, 0]), np.array([[0, 1], [0, 1]]), np.array([1, 0]), counts
    )
    np.testing.assert_allclose(aps, [1 / 3, 1.0])
    # Against brute force: lay the database out block by block and average precision at hits.
    rng = np.random.default_rng(0)
    counts = rng.integers(1, 6, size=5)
    for _ in range(20):
        order = rng.permutation(5)
        true = int(rng.integers(5))
        rank = int(np.where(order == true)[0][0])
        relevant = np.concatenate([np.full(counts[c], c == true) for c in order])
        hits = np.flatnonzero(relevant)
        brute = np.mean(np.arange(1, len(hits) + 1) / (hits + 1))
        got = ceiling.block_average_precision(
            np.array([rank]), order[None], np.array([true]), counts
        )
        np.testing.assert_allclose(got, [brute])
