"""Export vetting: hostile SavedModels built here, each refused in one line before it runs."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from ssah_tf.config import make_config
from ssah_tf.errors import UserError
from ssah_tf.export import EXPORT_INFO, export_saved_model
from ssah_tf.models.imgnet import MLPBackbone
from ssah_tf.models.networks import build_networks
from ssah_tf.retrieval import ExportedEncoder
from ssah_tf.vetting import check_trusted, unexpected_ops


def _plain_export(path: str) -> str:
    config = make_config("paper", bits=8, num_labels=3, text_dim=20, hidden_dim=16, semantic_dim=8)
    nets = build_networks(config.network, imgnet_backbone=MLPBackbone(5, 16))
    export_saved_model(
        nets, path, num_labels=3, text_dim=20, image_shape=(5,), pixels=False, bits=8
    )
    return path


def _edit(path: str, change) -> None:
    """Rewrite saved_model.pb after ``change(meta_graph)`` (a forger's hex editor)."""
    model = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        model.ParseFromString(f.read())
    change(model.meta_graphs[0])
    with open(os.path.join(path, "saved_model.pb"), "wb") as f:
        f.write(model.SerializeToString())


def _save(module: tf.Module, path: str, signature: str = "encode_label") -> str:
    tf.saved_model.save(module, path, signatures={signature: getattr(module, signature)})
    with open(os.path.join(path, EXPORT_INFO), "w") as f:
        json.dump({"bits": 4, "num_labels": 3, "image_input": "features"}, f)
    return path


def _functions(graph) -> dict:
    return {f.signature.name: f for f in graph.graph_def.library.function}


def _serving_function(graph, signature: str) -> str:
    """The library function the object graph's signature calls (its wrapper's callee)."""
    (node,) = [
        n
        for n in graph.object_graph_def.nodes
        if n.WhichOneof("kind") == "function"
        and any(signature in c for c in n.function.concrete_functions)
    ]
    return node.function.concrete_functions[0]


def _refused(path: str, *ops: str) -> str:
    with pytest.raises(UserError) as caught:
        check_trusted(path)
    line = str(caught.value)
    assert "\n" not in line and "is not a plain ssah-export" in line
    for op in ops:
        assert op in line
    return line


def _hostile_labels(target: str, write):
    class Hostile(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="labels")])
        def encode_label(self, labels):
            write(target)
            hashes = tf.tanh(labels)
            return {"hash": hashes, "code": tf.cast(tf.sign(hashes), tf.int8)}

    return Hostile()


def test_our_export_passes_and_nothing_outside_it_is_allowed(tmp_path):
    path = _plain_export(str(tmp_path / "ok"))
    assert unexpected_ops(path) == []
    encoder = ExportedEncoder(path)
    assert encoder.encode("label", np.eye(3, dtype=np.float32)).shape == (3, 8)


def test_a_module_that_reads_files_is_refused(tmp_path):
    class Reader(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
        def encode_label(self, name):
            return {"hash": tf.strings.length(tf.io.read_file(name))}

    _refused(_save(Reader(), str(tmp_path / "m")), "ReadFile")


@pytest.mark.parametrize(
    "write, op",
    [
        (lambda target: tf.io.write_file(target, "pwned"), "WriteFile"),
        (lambda target: tf.print("pwned", output_stream=f"file://{target}"), "PrintV2"),
        (
            lambda target: tf.raw_ops.SaveV2(
                prefix=target, tensor_names=["x"], shape_and_slices=[""], tensors=[tf.ones(1)]
            ),
            "SaveV2",
        ),
    ],
    ids=["WriteFile", "PrintV2-to-file", "SaveV2"],
)
def test_file_writes_in_a_signature_are_refused_and_nothing_is_written(tmp_path, write, op):
    target = str(tmp_path / "written")
    path = _save(_hostile_labels(target, write), str(tmp_path / "m"))
    _refused(path, op)
    with pytest.raises(UserError, match=op):
        ExportedEncoder(path)
    assert not any(name.startswith("written") for name in os.listdir(tmp_path))


def test_an_attribute_naming_the_signature_from_the_saver_does_not_widen_it(tmp_path):
    # The bypass of the old check: an inert attribute on the saver's save node naming
    # the signature's function let SaveV2 run there.
    target = str(tmp_path / "written")
    write = lambda t: tf.raw_ops.SaveV2(
        prefix=t, tensor_names=["x"], shape_and_slices=[""], tensors=[tf.ones(1)]
    )
    path = _save(_hostile_labels(target, write), str(tmp_path / "m"))

    def point_the_saver_at_the_signature(graph):
        save_node = graph.saver_def.save_tensor_name.split(":")[0]
        (node,) = [n for n in graph.graph_def.node if n.name == save_node]
        node.attr["_inert"].func.name = _serving_function(graph, "encode_label")

    _edit(path, point_the_saver_at_the_signature)
    _refused(path, "SaveV2")
    assert not os.path.exists(target)


def test_nested_and_renamed_functions_are_followed(tmp_path):
    target = str(tmp_path / "written")

    def write_then(x):
        with tf.control_dependencies([tf.io.write_file(target, "pwned")]):
            return tf.identity(x)

    @tf.function
    def inner(x):
        return tf.cond(tf.reduce_sum(x) > 0, lambda: write_then(x), lambda: x)

    class Nested(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="labels")])
        def encode_label(self, labels):
            return {"hash": inner(labels)}

    path = _save(Nested(), str(tmp_path / "m"))

    def rename_everything_like_the_saver(graph):
        # Every library function gets a saver-like name; the references follow.
        names = {
            name: f"__inference__traced_restore_{i}" for i, name in enumerate(_functions(graph))
        }
        for function in graph.graph_def.library.function:
            function.signature.name = names[function.signature.name]
            nodes = list(function.node_def)
            for node in nodes:
                for value in node.attr.values():
                    if value.HasField("func") and value.func.name in names:
                        value.func.name = names[value.func.name]
        for node in graph.graph_def.node:
            for value in node.attr.values():
                if value.HasField("func") and value.func.name in names:
                    value.func.name = names[value.func.name]
        for node in graph.object_graph_def.nodes:
            kind = node.WhichOneof("kind")
            if kind == "function":
                renamed = [names[n] for n in node.function.concrete_functions]
                del node.function.concrete_functions[:]
                node.function.concrete_functions.extend(renamed)
            elif kind == "bare_concrete_function":
                fn = node.bare_concrete_function
                fn.concrete_function_name = names[fn.concrete_function_name]
        for old, new in names.items():
            if old in graph.object_graph_def.concrete_functions:
                graph.object_graph_def.concrete_functions[new].CopyFrom(
                    graph.object_graph_def.concrete_functions[old]
                )
                del graph.object_graph_def.concrete_functions[old]

    _refused(path, "WriteFile")
    _edit(path, rename_everything_like_the_saver)
    line = _refused(path, "WriteFile")
    assert "__inference__traced_restore_" in line


def test_a_restore_re_pointed_at_a_hostile_function_is_refused(tmp_path):
    # SaveV2 is a saver op, but the restore path may run only RestoreV2.
    write = lambda t: tf.raw_ops.SaveV2(
        prefix=t, tensor_names=["x"], shape_and_slices=[""], tensors=[tf.ones(1)]
    )
    hostile = _save(_hostile_labels(str(tmp_path / "written"), write), str(tmp_path / "hostile"))
    model = saved_model_pb2.SavedModel()
    with open(os.path.join(hostile, "saved_model.pb"), "rb") as f:
        model.ParseFromString(f.read())
    library = model.meta_graphs[0].graph_def.library
    writer = _serving_function(model.meta_graphs[0], "encode_label")
    path = _plain_export(str(tmp_path / "plain"))

    def re_point_the_restore(graph):
        # The hostile function is reachable only from the restore node.
        known = set(_functions(graph))
        graph.graph_def.library.function.extend(
            f for f in library.function if f.signature.name not in known
        )
        restore = graph.saver_def.restore_op_name.split(":")[0]
        (node,) = [n for n in graph.graph_def.node if n.name == restore]
        node.attr["f"].func.name = writer

    _edit(path, re_point_the_restore)
    line = _refused(path, "SaveV2")
    assert "reached from" in line


def test_a_primitive_op_called_as_a_function_is_refused(tmp_path):
    path = _plain_export(str(tmp_path / "m"))

    def call_write_file_by_name(graph):
        graph.graph_def.library.function[0].node_def.add(name="sneaky", op="PartitionedCall")
        sneaky = graph.graph_def.library.function[0].node_def[-1]
        sneaky.attr["f"].func.name = "WriteFile"

    _edit(path, call_write_file_by_name)
    _refused(path, "WriteFile (called as a function)")


def test_objects_the_loader_would_run_are_refused(tmp_path):
    path = _plain_export(str(tmp_path / "saveable"))

    def give_a_variable_its_own_restore(graph):
        (index,) = [
            i
            for i, n in enumerate(graph.object_graph_def.nodes)
            if n.WhichOneof("kind") == "bare_concrete_function"
        ][:1]
        variable = next(
            n for n in graph.object_graph_def.nodes if n.WhichOneof("kind") == "variable"
        )
        variable.saveable_objects["VARIABLE_VALUE"].restore_function = index

    _edit(path, give_a_variable_its_own_restore)
    _refused(path, "its own save/restore functions")

    class Table(tf.Module):
        def __init__(self):
            super().__init__()
            self.table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer([1, 2], [3.0, 4.0]), 0.0
            )

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int32, name="labels")])
        def encode_label(self, labels):
            return {"hash": self.table.lookup(labels)}

    _refused(_save(Table(), str(tmp_path / "resource")), "object")


def test_a_tf1_savedmodel_without_an_object_graph_is_refused(tmp_path):
    path = _plain_export(str(tmp_path / "m"))
    _edit(path, lambda graph: graph.ClearField("object_graph_def"))
    _refused(path, "TF1 graph")


def test_an_unreadable_savedmodel_is_one_line(tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(b"\x00garbage\xff" * 10)
    with pytest.raises(UserError, match="is not a readable SavedModel"):
        check_trusted(str(tmp_path))
