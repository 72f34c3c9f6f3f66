"""Docs match the code: README's preset table and console scripts, the changing guide."""

import configparser
import os
import re

from ssah_tf.config import preset_differences

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fmt(value):
    return ",".join(str(v) for v in value) if isinstance(value, tuple) else str(value)


def test_readme_preset_table_matches_config():
    text = open(os.path.join(REPO, "README.md")).read()
    table = text.split("<!-- preset-table-start -->")[1].split("<!-- preset-table-end -->")[0]
    rows = {
        m.group(1): (m.group(2).strip(), m.group(3).strip())
        for m in re.finditer(r"^\| `--(\w+)` \| ([^|]+) \| ([^|]+) \|", table, re.M)
    }
    expected = {name: (_fmt(a), _fmt(b)) for name, a, b in preset_differences()}
    assert rows == expected


def test_console_scripts_exist_and_are_documented():
    config = configparser.ConfigParser()
    config.read(os.path.join(REPO, "setup.cfg"))
    scripts = [
        line.split("=")[0].strip()
        for line in config["options.entry_points"]["console_scripts"].strip().splitlines()
    ]
    readme = open(os.path.join(REPO, "README.md")).read()
    for script in scripts:
        assert f"`{script}`" in readme, script
        module = (
            config["options.entry_points"]["console_scripts"].split(script + " = ")[1].split(":")[0]
        )
        assert os.path.exists(os.path.join(REPO, *module.split(".")) + ".py")


def test_python_api_example_runs_as_written(tmp_path, monkeypatch):
    """docs/python.md's worked example, executed as it stands (in a scratch folder)."""
    import runpy

    text = open(os.path.join(REPO, "docs", "python.md")).read()
    code = text.split("## A worked example")[1].split("```python\n")[1].split("```")[0]
    script = tmp_path / "example.py"
    script.write_text(code)
    monkeypatch.chdir(tmp_path)
    namespace = runpy.run_path(str(script))
    run = namespace["run"]
    assert run.results["last_epoch"]["epoch"] == 1  # resumed for its second epoch
    assert (
        tmp_path / "workspace" / "runs" / "notebook_demo" / "eval_best" / "report" / "index.html"
    ).exists()
    assert (tmp_path / "workspace" / "exports" / "notebook_demo" / "saved_model.pb").exists()
    # The codes are the run's: the same texts through its networks give the same codes.
    again = namespace["ssah_tf"].load_run(run.directory).encode(texts=namespace["texts"])
    assert (again == namespace["codes"]).all()


def test_the_changing_guide_names_files_and_names_that_exist():
    """docs/changing.md sends a newcomer to files and names: each must exist."""
    import importlib
    import pathlib

    root = pathlib.Path(REPO)
    text = (root / "docs" / "changing.md").read_text()
    paths = set(re.findall(r"`((?:ssah_tf|tests|docs)/[\w/.]+\.(?:py|md))`", text))
    paths |= {
        "ssah_tf/" + p
        for p in re.findall(r"`((?:config|data|evaluation|training|cli|models)/\w+\.py)`", text)
    }
    assert len(paths) > 15, paths  # the guide still names its files
    missing = sorted(p for p in paths if not (root / p).exists())
    assert not missing, missing
    # Names given as module.name or in the files named next to them.
    names = {
        "ssah_tf.losses": ["GENERATOR_TERMS", "generator_loss", "discriminator_loss"],
        "ssah_tf.training.run_record": ["LEGACY_VALUES"],
        "ssah_tf.data.readers": ["detect_and_read"],
        "ssah_tf.data.dataset": ["CrossModalDataset"],
        "ssah_tf.vocabulary": ["DATASETS", "PREPARED_DATASETS"],
        "ssah_tf.data.protocols": ["PROTOCOLS"],
        "ssah_tf.map_variants": ["map_key", "MAP_VARIANTS"],
        "ssah_tf.evaluation.codes": ["evaluate_codes"],
        "ssah_tf.evaluation.metrics": ["average_precisions"],
        "ssah_tf.training.settings": ["check_start"],
        "ssah_tf.training.runner": ["build_parts"],
        "ssah_tf.training.hooks": [
            "PassReport",
            "EvaluationReport",
            "default_pass_hooks",
            "default_evaluation_hooks",
        ],
        "ssah_tf.training.factory": ["build_trainer"],
        "ssah_tf.cli.tool": ["entry_point", "group_flags", "_SCRIPT_NAMES"],
    }
    for module, attributes in names.items():
        for attribute in attributes:
            assert attribute in text, (module, attribute)
            assert hasattr(importlib.import_module(module), attribute), (module, attribute)
