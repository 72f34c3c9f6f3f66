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
    out[path] = {k: getattr(FLAGS, k) for k in ("dataset", "backbone", "bits", "preset", "model_dir",
                                                "cnnf_path", "vgg19_weights")}
print(json.dumps(out))
"""


def test_flag_files_parse_and_match_their_names():
    files = sorted(glob.glob("experiments/*.flags", root_dir=REPO) +
                   [p for p in glob.glob("experiments/tables/*.flags", root_dir=REPO)
                    if os.path.basename(p).count("_") >= 3 and "base_" not in p])
    result = subprocess.run([sys.executable, "-c", PARSE, *files], capture_output=True, text=True,
                            cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    parsed = json.loads(result.stdout.strip().splitlines()[-1])
    tables = [p for p in files if p.startswith("experiments/tables/")]
    assert len(tables) == 3 * 2 * 3 * 2  # datasets x backbones x bits x presets
    results_md = open(os.path.join(REPO, "experiments", "RESULTS.md")).read()
    for path in tables:
        name = os.path.basename(path)[:-len(".flags")]
        dataset, rest = name.rsplit("_", 3)[0], name.rsplit("_", 3)[1:]
        backbone, bits, preset = rest
        values = parsed[path]
        assert (values["dataset"], values["backbone"], values["bits"], values["preset"]) == (
            dataset, backbone, int(bits), preset), path
        assert values["model_dir"].endswith(name)
        assert values["cnnf_path" if backbone == "cnnf" else "vgg19_weights"], path
        assert f"`{path}`" in results_md, f"{path} missing from RESULTS.md"
