"""ssah-bench --quick runs every measurement and writes JSON + Markdown (no timing asserts)."""

import json
import os

from tests.helpers import run_cli

KEYS = (
    "lab_step_s",
    "dis_step_s",
    "img_step_s_fp32",
    "img_step_s_bf16",
    "txt_step_s",
    "monitor_loss_s",
    "peak_rss_gb",
    "text_encode_per_s",
    "image_encode_per_s",
    "map_eval_s",
    "map_eval_s_16bits",
    "map_speedup_vs_release_loop",
    "matmul_gflops_fp32",
    "matmul_gflops_bf16",
    "search_s",
)


def test_quick_bench_writes_every_key(tmp_path):
    output = tmp_path / "out" / "bench.json"
    result = run_cli("ssah_tf.cli.bench", "--quick", f"--output={output}")
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(output.read_text())
    for key in KEYS:
        assert results[key] > 0, key
    assert results["device"]["cpu_cores"] >= 1
    assert "| `img_step_s_fp32` |" in (tmp_path / "out" / "bench.md").read_text()


def test_bad_flags_fail_cleanly(tmp_path):
    output = tmp_path / "bench.json"
    result = run_cli("ssah_tf.cli.bench", "--quick", "--repeats=0", f"--output={output}")
    assert result.returncode == 2
    assert "--repeats" in result.stderr.strip().splitlines()[-1]
    result = run_cli(
        "ssah_tf.cli.bench", "--quick", f"--workdir={tmp_path}/missing", f"--output={output}"
    )
    assert result.returncode == 2 and "--workdir" in result.stderr.strip().splitlines()[-1]
    assert not os.path.exists(output)
