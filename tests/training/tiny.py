"""A tiny trainer configuration for tests (small widths, feature inputs)."""

import keras
import numpy as np
import tensorflow as tf

from ssah_tf.config import RunConfig, ScheduleConfig, TrainConfig, make_config
from ssah_tf.data.dataset import CrossModalDataset
from ssah_tf.data.protocols import make_split, resolve_validation
from ssah_tf.training.factory import build_trainer


def tiny_data(n=60, c=4, d_t=52, d_img=7, seed=0):
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, c)) < 0.35).astype(np.float32)
    labels[np.arange(n), rng.integers(0, c, n)] = 1.0
    texts = ((labels @ rng.random((c, d_t)) + rng.random((n, d_t))) > 1.0).astype(np.float32)
    feats = (labels @ rng.normal(size=(c, d_img)) + 0.3 * rng.normal(size=(n, d_img))).astype(
        np.float32
    )
    return CrossModalDataset(name="tiny", labels=labels, texts=texts, image_features=feats)


def tiny_trainer(
    model_dir,
    strategy,
    *,
    preset="paper",
    schedule="paper",
    epochs=1,
    seed=0,
    passes=1,
    batch_size=8,
    modalities=("image", "text"),
    data=None,
    split=None,
    backbone="mlp",
    ssah_overrides=None,
    pass_hooks=None,
    evaluation_hooks=None,
    **run_kwargs,
):
    data = data or tiny_data()
    # Validation queries as ssah-train draws them (for the default split, 12 database
    # items outside the training set).
    split = resolve_validation(
        split or make_split(data.num_items, query_size=12, train_size=32, seed=0),
        run_kwargs.get("val_size"),
        seed=0,
        automatic=run_kwargs.get("select_on", "validation") == "validation",
    )
    ssah = make_config(
        preset,
        bits=8,
        num_labels=data.num_labels,
        text_dim=data.text_dim,
        semantic_dim=16,
        hidden_dim=32,
        discriminator_hidden=(16, 8),
        **(ssah_overrides or {}),
    )
    sched = ScheduleConfig(
        name=schedule,
        epochs=epochs,
        batch_size=batch_size,
        passes_lab=passes,
        passes_img=passes,
        passes_txt=passes,
        passes_dis=passes,
        min_stage_steps=0,
    )
    run = RunConfig(
        model_dir=str(model_dir),
        modalities=modalities,
        backbone=backbone,
        seed=seed,
        eval_batch_size=16,
        checkpoint_interval_seconds=0.0,
        **run_kwargs,
    )
    keras.utils.set_random_seed(seed)
    return build_trainer(
        TrainConfig(ssah=ssah, schedule=sched, run=run),
        data,
        split,
        strategy,
        pass_hooks=pass_hooks,
        evaluation_hooks=evaluation_hooks,
    )


def state(trainer):
    """Every network weight and bank as NumPy, keyed by path."""
    out = {}
    for name, item in trainer.parts.networks.checkpoint_items().items():
        for v in item.weights:
            out[f"{name}/{v.path}"] = v.numpy()
    for name, banks in trainer.parts.state.banks.items():
        for what in ("feature", "hash", "label"):
            out[f"bank/{name}/{what}"] = tf.convert_to_tensor(getattr(banks, what)).numpy()
    return out
