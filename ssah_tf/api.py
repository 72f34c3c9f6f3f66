"""The Python API: train, resume, load, encode, evaluate and export (docs/python.md).

    import ssah_tf
    run = ssah_tf.train("runs/demo", dataset="demo", bits=16, epochs=5, batch_size=64)
    codes = run.encode(texts=texts)              # {-1, +1}, the run's input scaling inside
    results = run.evaluate()                     # what ssah-eval writes and prints
    run.export("exports/demo")                   # a SavedModel, as ssah-export

The settings of :func:`train` are the fields of the configuration dataclasses by name
(the flags of ``ssah-train`` are named after them), or the dataclasses themselves;
``ssah-train`` calls the same code, so both give the same run.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ssah_tf import config as config_lib
from ssah_tf.bits import codes_from_hash
from ssah_tf.data.dataset import resize_uint8
from ssah_tf.data.files import load_json
from ssah_tf.errors import UserError
from ssah_tf.training.run_record import flatten_sections

# TensorFlow and the training and evaluation modules load inside the calls that use
# them: ``import ssah_tf`` stays light.


def _array(name: str, value) -> np.ndarray:
    """``value`` as a real numeric array; UserError naming ``name`` otherwise."""
    if isinstance(value, (str, bytes)):
        raise UserError(f"`{name}` must be an array, not the string {value!r}")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:
        raise UserError(f"`{name}` is not an array ({error})") from None
    if array.dtype.kind not in "biuf":
        raise UserError(f"`{name}` must hold real numbers, not {array.dtype} values")
    return array


def _matrix(name: str, value, width: int, *, binary: bool = False) -> np.ndarray:
    """A float32 [n, width] matrix of finite values (0/1 with ``binary``), checked
    before TensorFlow sees it."""
    array = _array(name, value)
    if array.ndim != 2 or array.shape[1] != width:
        raise UserError(
            f"`{name}` must be a 2-D array [items, {width}] for this run, got shape "
            f"{tuple(array.shape)}"
        )
    matrix = array.astype(np.float32)
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        raise UserError(f"`{name}` row {int(np.argmin(finite))} has NaN or inf")
    if binary:
        wrong = ~((matrix == 0) | (matrix == 1)).all(axis=1)
        if wrong.any():
            row = int(np.argmax(wrong))
            raise UserError(
                f"`{name}` must be 0/1 multi-hot vectors; row {row} is {matrix[row].tolist()}"
            )
    return matrix


class Run:
    """A run directory with the networks of one of its checkpoints."""

    def __init__(self, loaded):
        self._loaded = loaded  # training.runs.LoadedRun
        self._encoders: dict[str, Any] = {}

    @property
    def directory(self) -> str:
        return self._loaded.model_dir

    @property
    def checkpoint(self) -> str:
        return self._loaded.checkpoint

    @property
    def config(self) -> config_lib.TrainConfig:
        return self._loaded.config

    @property
    def split(self):
        return self._loaded.split

    @property
    def data(self):
        return self._loaded.data

    @property
    def results(self) -> dict | None:
        """The run's results.json (None before its first evaluation)."""

        path = os.path.join(self.directory, "results.json")
        return load_json(path) if os.path.isfile(path) else None

    def __repr__(self) -> str:
        return f"Run({self.directory!r}, checkpoint={self.checkpoint!r})"

    # ------------------------------------------------------------------ encoding
    def _network_inputs(self, images, texts, labels, image_features):
        given = {
            k: v
            for k, v in (
                ("images", images),
                ("texts", texts),
                ("labels", labels),
                ("image_features", image_features),
            )
            if v is not None
        }
        if len(given) != 1:
            raise UserError("give exactly one of `images`, `texts`, `labels`, `image_features`")
        ((kind, array),) = given.items()
        nets, built = self._loaded.networks, self._loaded.built
        modalities = self.config.run.modalities
        network = self.config.ssah.network
        if kind == "labels":
            return "label", nets.labnet, _matrix("labels", array, network.num_labels, binary=True)
        if kind == "texts":
            if "text" not in modalities:
                raise UserError("this run trained no text network; it cannot encode `texts`")
            return "text", nets.txtnet, _matrix("texts", array, network.text_dim)
        if "image" not in modalities:
            raise UserError("this run trained no image network; it cannot encode images")
        if kind == "image_features":
            if built.pixel_images:
                raise UserError("this run's ImgNet reads pictures: pass `images` (uint8 RGB)")
            width = built.feature_matrix.shape[1]
            return "image", nets.imgnet, _matrix("image_features", array, width)
        if not built.pixel_images:
            raise UserError("this run's ImgNet reads image features: pass `image_features`")
        pixels = _array("images", array)
        if pixels.ndim != 4 or pixels.shape[-1] != 3 or pixels.dtype != np.uint8:
            raise UserError(
                f"`images` must be uint8 RGB [n, height, width, 3], got "
                f"{pixels.dtype} {pixels.shape}"
            )
        # Resized as training read them; the network's own preprocessing follows.
        return "image", nets.imgnet, resize_uint8(pixels, self.config.run.picture_size)

    def encode(
        self,
        *,
        images=None,
        texts=None,
        labels=None,
        image_features=None,
        packed: bool = False,
        batch_size: int = 256,
    ) -> np.ndarray:
        """Codes of one kind of input: {-1, +1} int8 [n, bits], or with ``packed``
        np.packbits of the +1 bits (bits / 8 bytes per item). ``images``: uint8 RGB of
        any size (resized as training read them); ``texts``, ``labels``,
        ``image_features``: float arrays in their raw units (the run's standardisation
        is inside its networks)."""
        import tensorflow as tf

        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise UserError(f"`batch_size` must be a positive integer, not {batch_size!r}")
        kind, net, inputs = self._network_inputs(images, texts, labels, image_features)
        if kind not in self._encoders:
            pixels = kind == "image" and self._loaded.built.pixel_images
            call = (lambda x: net(net.preprocess(x)).hash) if pixels else (lambda x: net(x).hash)
            self._encoders[kind] = tf.function(call, reduce_retracing=True)
        encoder = self._encoders[kind]
        hashes = [
            encoder(tf.constant(inputs[i : i + batch_size])).numpy()
            for i in range(0, len(inputs), batch_size)
        ]
        codes = codes_from_hash(
            np.concatenate(hashes)
            if hashes
            else np.zeros((0, self.config.ssah.network.bits), np.float32)
        )
        codes = codes.astype(np.int8)
        return np.packbits(codes > 0, axis=1) if packed else codes

    # ------------------------------------------------------------------ outputs
    def evaluate(
        self,
        output_dir: str | None = None,
        *,
        map_variant: str | None = None,
        top_k: int | None = None,
        report: bool = False,
        baseline_dir: str | None = None,
        projector_items: int = 300,
        write_codes: bool = False,
    ) -> dict[str, Any]:
        """What ``ssah-eval`` does: results.json (returned), curves, TensorBoard and
        projector files and, with ``report``, report/index.html in ``output_dir``
        (default: <run>/eval_<checkpoint>)."""
        from ssah_tf.evaluation.outputs import OutputOptions, evaluate_loaded_run
        from ssah_tf.output_paths import check_evaluation_folder, refuse_output_over_inputs
        from ssah_tf.training.settings import path_argument

        name = self._checkpoint_name
        output_dir = path_argument("output_dir", output_dir) or os.path.join(
            self.directory, f"eval_{name}"
        )
        baseline_dir = path_argument("baseline_dir", baseline_dir)
        for flag_name, flag in (("report", report), ("write_codes", write_codes)):
            if not isinstance(flag, bool):
                raise UserError(f"`{flag_name}` must be True or False, not {flag!r}")
        if isinstance(projector_items, bool) or not isinstance(projector_items, int):
            raise UserError(f"`projector_items` must be an integer, not {projector_items!r}")
        if projector_items < 0:
            raise UserError(f"`projector_items` must be >= 0, not {projector_items}")
        refuse_output_over_inputs(
            output_dir, output_name="output_dir", inputs={"baseline_dir": baseline_dir}
        )
        check_evaluation_folder(output_dir, output_name="output_dir", run_dir=self.directory)
        options = OutputOptions(
            map_variant=map_variant,
            top_k=top_k,
            report=report,
            baseline_dir=baseline_dir,
            projector_items=projector_items,
            write_codes=write_codes,
        )
        config_lib.check_map_variant(map_variant, top_k)
        return evaluate_loaded_run(self._loaded, output_dir, options, checkpoint_name=name)

    def export(self, path: str) -> str:
        """A SavedModel of this checkpoint at ``path`` (what ``ssah-export`` writes)."""
        from ssah_tf.export import export_run

        return export_run(self._loaded, path)

    @property
    def _checkpoint_name(self) -> str:
        return getattr(self._loaded, "which", "best")


def load_run(
    path: str, checkpoint: str = "best", *, allow_data_change: bool = False, **execution: Any
) -> Run:
    """A run directory's networks at ``checkpoint`` (best, latest or a ckpt-N prefix);
    ``execution``: mixed_precision / jit_compile overrides. Data or a split other than
    the run recorded are refused unless ``allow_data_change``."""
    from ssah_tf.training.runs import open_run
    from ssah_tf.training.settings import path_argument

    path = path_argument("path", path, required=True)
    checkpoint = path_argument("checkpoint", checkpoint, required=True)
    if not isinstance(allow_data_change, bool):
        raise UserError(f"`allow_data_change` must be True or False, not {allow_data_change!r}")
    unknown = sorted(set(execution) - {"mixed_precision", "jit_compile"})
    if unknown:
        raise UserError(
            f"unknown argument `{unknown[0]}`; load_run takes mixed_precision, jit_compile"
        )
    loaded = open_run(path, checkpoint, allow_data_change=allow_data_change, **execution)
    loaded.which = checkpoint if checkpoint in ("best", "latest") else "checkpoint"
    return Run(loaded)


def train(
    model_dir: str | None = None,
    *,
    resume: bool = False,
    resume_from: str | None = None,
    init_from: str | None = None,
    strategy: str = "auto",
    deterministic: bool = False,
    allow_data_change: bool = False,
    data=None,
    ssah=None,
    schedule=None,
    run=None,
    **settings: Any,
) -> Run | None:
    """Train (or with ``resume`` continue) the run in ``model_dir`` exactly as
    ``ssah-train`` does and return it at its best checkpoint (None on the workers of a
    multi-worker run other than the chief, which write no run directory).

    ``settings``: configuration fields by name (dataset, data_path, preset, bits,
    epochs, lr_img, select_on, ...; docs/python.md lists them), and/or the config
    objects ``data`` (DataConfig), ``ssah`` (SSAHConfig), ``schedule`` (ScheduleConfig)
    and ``run`` (RunConfig) for whole sections; named settings win. On resume only the
    settings given change the run's stored ones. A stop signal raises
    ``training.loop.Preempted`` after a checkpoint, a diverging run
    ``training.loop.Diverged``."""
    from ssah_tf.training.session import prepare

    if run is not None and model_dir is None:
        model_dir = run.model_dir
    merged = {**flatten_sections(ssah, schedule, run, data), **settings}
    session = prepare(
        model_dir,
        resume=resume,
        resume_from=resume_from,
        init_from=init_from,
        strategy=strategy,
        deterministic=deterministic,
        allow_data_change=allow_data_change,
        **merged,
    )
    arguments = [repr(session.model_dir)] + [f"{k}={v!r}" for k, v in sorted(merged.items())]
    session.record_command(f"ssah_tf.train({', '.join(arguments)})")
    session.run()
    if not session.trainer.is_chief:
        return None
    return load_run(session.model_dir, "best", allow_data_change=allow_data_change)
