"""Export vetting: decide whether a SavedModel is a plain ssah-export before it is loaded.

A SavedModel is a program: ``tf.saved_model.load`` rebuilds its objects (and runs
whatever functions those objects name for their creation or restore), and calling a
signature runs that signature's graph. The check below follows what would actually
run, not what the file says about itself:

- the object graph may hold only the kinds of object ssah-export writes (modules,
  variables, constants, functions); nothing the loader would call while loading
  (resources, captured tensors, custom save/restore functions, registered savers);
- from every serving signature, every function an object exposes and every node of
  the top-level graph, the call graph is followed through the function library
  (function-valued attributes, lists of them, and nodes that call a function by
  name) and every op reached must be one ssah-export writes;
- the variables file ops are allowed only in the closure of the saver's own save
  node (save ops) and restore node (RestoreV2): an attribute somewhere else naming a
  function never widens what that function may run.

The README's "Sharing a model" section describes the guarantee.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from google.protobuf.message import DecodeError
from tensorflow.core.protobuf import saved_model_pb2

from ssah_tf.errors import UserError

# Collected from exports of every backbone (mixed precision included), plus the
# arithmetic they could plausibly need: no file, network, process or print op.
MODEL_OPS = frozenset(
    """
Abs AddN AddV2 AssignVariableOp BatchMatMulV2 BatchMatMulV3 BiasAdd Cast ConcatV2 Const
Conv2D DepthwiseConv2dNative DisableCopyOnRead Einsum Equal Exp ExpandDims Fill GatherV2
Greater GreaterEqual Identity IdentityN Less LessEqual Log Log1p MatMul MaxPool Maximum Mean
Minimum Mul Neg NoOp OnesLike Pack Pad PartitionedCall Placeholder Pow Range ReadVariableOp
RealDiv Relu Relu6 Reshape ReverseV2 Rsqrt Select SelectV2 Shape Sigmoid Sign Slice Softmax
Softplus Sqrt Square Squeeze StatefulPartitionedCall StridedSlice Sub Sum Tanh Tile
Transpose Unpack VarHandleOp VarIsInitializedOp ZerosLike
""".split()
)
# What the saver's save function runs to write the variables file (a TF1 loader or
# Serving calls it on request; tf.saved_model.load never does).
SAVE_OPS = frozenset(
    "MergeV2Checkpoints SaveV2 ShardedFilename StaticRegexFullMatch StringJoin".split()
)
# What the saver's restore function runs to read the variables file.
RESTORE_OPS = frozenset({"RestoreV2"})

# The objects ssah-export's SavedModels are made of. Anything else in the object
# graph is code the loader would run or revive (resources, captured tensors, ...).
_PLAIN_OBJECTS = {
    ("user_object", "", "_generic_user_object"),
    ("user_object", "", "trackable_list_wrapper"),
    ("user_object", "", "trackable_dict_wrapper"),
    ("user_object", "", "trackable_tuple_wrapper"),
    ("user_object", "", "signature_map"),
    ("variable", "", ""),
    ("constant", "tf.TrackableConstant", ""),
    ("function", "", ""),
    ("bare_concrete_function", "", ""),
}


def _read(export_dir: str) -> saved_model_pb2.SavedModel:
    path = os.path.join(export_dir, "saved_model.pb")
    model = saved_model_pb2.SavedModel()
    try:
        with open(path, "rb") as f:
            model.ParseFromString(f.read())
    except (OSError, ValueError, RuntimeError, DecodeError) as error:
        raise UserError(f"{path} is not a readable SavedModel ({error})") from None
    return model


def _called(nodes: Iterable, functions: dict) -> set[str]:
    """Names of the library functions a list of NodeDefs calls, however it calls them."""
    names = set()
    for node in nodes:
        if node.op in functions:  # a node whose op is a library function calls it
            names.add(node.op)
        for value in node.attr.values():
            if value.HasField("func"):
                names.add(value.func.name)
            if value.HasField("list"):
                names.update(f.name for f in value.list.func)
    return names


def _closure(roots: set[str], functions: dict) -> set[str]:
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in functions:
            pending += _called(functions[name].node_def, functions)
    return seen


def _object_refusals(graph) -> list[tuple[str, str]]:
    found = []
    if not graph.HasField("object_graph_def") or not graph.object_graph_def.nodes:
        # Without an object graph tf.saved_model.load falls back to the TF1 loader,
        # which runs the graph's init and restore ops as given.
        return [("a TF1 graph (no object graph)", "the SavedModel")]
    for index, node in enumerate(graph.object_graph_def.nodes):
        kind = node.WhichOneof("kind")
        identifier = node.user_object.identifier if kind == "user_object" else ""
        if (kind, node.registered_name, identifier) not in _PLAIN_OBJECTS:
            what = node.registered_name or identifier or kind
            found.append((f"a {what} object", f"object {index}"))
        if node.saveable_objects or node.registered_saver:
            found.append(("its own save/restore functions", f"object {index}"))
    return found


def unexpected_ops(export_dir: str) -> list[tuple[str, str]]:
    """(what, where) for everything the SavedModel would run that ssah-export never writes."""

    found: list[tuple[str, str]] = []
    for graph in _read(export_dir).meta_graphs:
        functions = {f.signature.name: f for f in graph.graph_def.library.function}
        found += _object_refusals(graph)
        nodes = {node.name: node for node in graph.graph_def.node}
        save_node = graph.saver_def.save_tensor_name.split(":")[0]
        restore_node = graph.saver_def.restore_op_name.split(":")[0]
        # Every root with the ops allowed in everything it reaches.
        roots: list[tuple[set[str], frozenset[str], str]] = []
        for name, node in nodes.items():
            extra = SAVE_OPS if name == save_node else RESTORE_OPS if name == restore_node else None
            if node.op not in MODEL_OPS | (extra or frozenset()) and node.op not in functions:
                found.append((node.op, f"node {name} of the top-level graph"))
            roots.append((_called([node], functions), MODEL_OPS | (extra or frozenset()), name))
        for key, signature in graph.signature_def.items():
            # A served tensor must not be the saver's: that would give a signature the
            # file ops (the other top-level nodes are covered above).
            served = {
                t.name.split(":")[0]
                for t in [*signature.inputs.values(), *signature.outputs.values()]
            }
            for name in served & {save_node, restore_node} - {""}:
                found.append((f"the saver's node {name}", f"signature {key}"))
        for node in graph.object_graph_def.nodes:
            kind = node.WhichOneof("kind")
            if kind == "function":
                roots += [({n}, MODEL_OPS, n) for n in node.function.concrete_functions]
            elif kind == "bare_concrete_function":
                name = node.bare_concrete_function.concrete_function_name
                roots.append(({name}, MODEL_OPS, name))
        for start, allowed, root in roots:
            for name in sorted(_closure(start, functions)):
                if name not in functions:
                    # TF runs a primitive op named as a function on its own.
                    found.append((f"{name} (called as a function)", f"the call graph of {root}"))
                    continue
                for node in functions[name].node_def:
                    if node.op not in allowed and node.op not in functions:
                        found.append((node.op, f"function {name} (reached from {root})"))
    return list(dict.fromkeys(found))


def check_trusted(export_dir: str) -> None:
    """Refuse a SavedModel that would run anything ssah-export never writes."""

    found = unexpected_ops(export_dir)
    if found:
        op, where = found[0]
        ops = sorted({o for o, _ in found})
        raise UserError(
            f"{export_dir} is not a plain ssah-export: it would run {', '.join(ops)} "
            f"(e.g. {op} in {where}), which ssah-export never writes; load exports only "
            "from trusted sources (`trust_export` skips this check for one you made)"
        )
