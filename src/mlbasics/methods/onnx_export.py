"""A trained model as ONNX with its scaler folded in: the exported model takes the raw inputs in the bundle's order
(float32, events x inputs, named `inputs`) and gives the scores the native model gives (`scores`: the signal's
score for two classes, every class's for more, the value for a regression) - for ROOT's SOFIE, a C++ framework
or any ONNX runtime.

The MLP's graph is written from its weights (its layers are dense layers and activations); the scikit-learn
methods go through skl2onnx. Either way the scaler comes first: (x - offset) / scale, after log1p for
`log_standard`, before the whitening matrix for `pca_whiten`.
"""

from __future__ import annotations

import contextlib

import numpy as np

from mlbasics.data.preprocess import Scaler

OPSET = 21  # ONNX's default domain; the scikit-learn converters add ai.onnx.ml
ML_OPSET = 3
INPUT, SCALED, OUTPUT = "inputs", "scaled", "scores"


class NotExportable(Exception):
    """A model (or a part of it) that has no ONNX form here; the message says which."""


def export(method, scaler: Scaler, task: str, n_inputs: int) -> bytes:
    """The serialised ONNX model of a trained method (training.KerasMLP, NumpyMLP or a reference method)."""
    import onnx

    estimator = getattr(method, "estimator", None)
    if type(estimator).__name__ == "LinearDiscriminantAnalysis":  # skl2onnx's binary probabilities differ from it
        nodes = _scaler_nodes(scaler) + _linear_nodes(estimator, task)
        model = _graph(nodes, [], n_inputs, 1 if task == "binary" else len(estimator.classes_))
    elif getattr(method, "flavour", "") == "sklearn":
        model = _sklearn(estimator, scaler, task, n_inputs)
    else:
        model = _graph(_scaler_nodes(scaler) + _mlp_nodes(method.model), [], n_inputs, _width(method.model))
    onnx.checker.check_model(model)
    return model.SerializeToString(deterministic=True)


def _tensor(name: str, values) -> object:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(values, np.float32), name)


def _graph(nodes: list, extra_initializers: list, n_inputs: int, n_outputs: int):
    from onnx import TensorProto, helper

    initializers = [init for _, inits in nodes for init in inits] + extra_initializers
    graph = helper.make_graph(
        [node for node, _ in nodes],
        "mlbasics",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["events", n_inputs])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["events", n_outputs])],
        initializers,
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)]
    )


def _node(op: str, inputs: list[str], output: str, initializers: list | None = None, **attributes):
    from onnx import helper

    return helper.make_node(op, inputs, [output], name=output, **attributes), initializers or []


def _scaler_nodes(scaler: Scaler) -> list:
    """raw inputs -> the scaled inputs the model was trained on (SCALED)."""
    nodes, current = [], INPUT
    if scaler.log_shift is not None:  # log1p(max(x - shift, 0))
        nodes += [
            _node(
                "Sub", [current, "scaler_log_shift"], "scaler_shifted", [_tensor("scaler_log_shift", scaler.log_shift)]
            ),
            _node("Max", ["scaler_shifted", "scaler_zero"], "scaler_clipped", [_tensor("scaler_zero", [0.0])]),
            _node("Add", ["scaler_clipped", "scaler_one"], "scaler_plus_one", [_tensor("scaler_one", [1.0])]),
            _node("Log", ["scaler_plus_one"], "scaler_logged"),
        ]
        current = "scaler_logged"
    nodes += [
        _node("Sub", [current, "scaler_offset"], "scaler_centred", [_tensor("scaler_offset", scaler.offset)]),
        _node(
            "Div",
            ["scaler_centred", "scaler_scale"],
            SCALED if scaler.matrix is None else "scaler_standardised",
            [_tensor("scaler_scale", scaler.scale)],
        ),
    ]
    if scaler.matrix is not None:
        nodes.append(
            _node(
                "MatMul",
                ["scaler_standardised", "scaler_whitening"],
                SCALED,
                [_tensor("scaler_whitening", scaler.matrix)],
            )
        )
    return nodes


def _width(model) -> int:
    return int(model.outputs[0].shape[-1])


def _activation(kind: str, x: str, out: str, **params) -> list:
    """One activation as ONNX nodes (Keras' definitions)."""
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "selu": "Selu"}
    if kind in ("linear", None):
        return [_node("Identity", [x], out)]
    if kind in simple:
        return [_node(simple[kind], [x], out)]
    if kind == "softmax":
        return [_node("Softmax", [x], out, axis=-1)]
    if kind == "elu":
        return [_node("Elu", [x], out, alpha=float(params.get("alpha", 1.0)))]
    if kind == "leaky_relu":
        return [_node("LeakyRelu", [x], out, alpha=float(params["alpha"]))]
    if kind == "gelu":
        return [_node("Gelu", [x], out, approximate="tanh" if params.get("approximate") else "none")]
    if kind in ("swish", "silu"):
        beta = f"{out}_beta"
        return [
            _node("Mul", [x, beta], f"{out}_scaled", [_tensor(beta, [float(params.get("beta", 1.0))])]),
            _node("Sigmoid", [f"{out}_scaled"], f"{out}_gate"),
            _node("Mul", [x, f"{out}_gate"], out),
        ]
    raise NotExportable(f"activation {kind!r} has no ONNX form here")


def _mlp_nodes(model) -> list:
    """The Keras MLP's layers, from SCALED to OUTPUT: dense layers (weights as float32), activations; dropout is
    the identity at inference."""
    layers = [layer for layer in model.layers if type(layer).__name__ not in ("InputLayer", "Dropout")]
    nodes, current = [], SCALED
    for index, layer in enumerate(layers):
        out = OUTPUT if index == len(layers) - 1 else f"layer_{index}"
        kind = type(layer).__name__
        if kind == "Dense":
            kernel, bias = (np.asarray(w, np.float32) for w in layer.get_weights())
            nodes += [
                _node("MatMul", [current, f"{out}_w"], f"{out}_matmul", [_tensor(f"{out}_w", kernel)]),
                _node("Add", [f"{out}_matmul", f"{out}_b"], f"{out}_dense", [_tensor(f"{out}_b", bias)]),
            ]
            nodes += _activation(layer.activation.__name__, f"{out}_dense", out)
        elif kind == "LeakyReLU":
            nodes += _activation("leaky_relu", current, out, alpha=layer.negative_slope)
        elif kind == "ELU":
            nodes += _activation("elu", current, out, alpha=layer.alpha)
        elif kind == "Swish":
            nodes += _activation("swish", current, out, beta=layer.beta)
        elif kind == "Activation":
            nodes += _activation(layer.activation.__name__, current, out)
        else:
            raise NotExportable(f"layer {layer.name!r} ({kind}) has no ONNX form here")
        current = out
    return nodes


def _linear_nodes(estimator, task: str) -> list:
    """Fisher's discriminant as scikit-learn computes its probabilities: the decision x . coef + intercept, then
    the logistic function (two classes: the signal's) or the softmax (more)."""
    coef = np.atleast_2d(estimator.coef_).T
    nodes = [
        _node("MatMul", [SCALED, "fisher_coef"], "fisher_matmul", [_tensor("fisher_coef", coef)]),
        _node(
            "Add",
            ["fisher_matmul", "fisher_intercept"],
            "fisher_decision",
            [_tensor("fisher_intercept", np.atleast_1d(estimator.intercept_))],
        ),
    ]
    return nodes + _activation("sigmoid" if task == "binary" else "softmax", "fisher_decision", OUTPUT)


def _sklearn(estimator, scaler: Scaler, task: str, n_inputs: int):
    """A scikit-learn estimator through skl2onnx, behind the scaler's nodes; its probabilities reduced to the
    scores the native method gives."""
    from onnx import TensorProto, compose, helper
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    last = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator  # a pipeline's classifier
    options = {id(last): {"zipmap": False}} if task != "regression" else None
    try:
        with _integer_missing_flags():
            converted = convert_sklearn(
                estimator,
                initial_types=[(SCALED, FloatTensorType([None, n_inputs]))],
                target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
                options=options,
            )
    except Exception as exc:  # skl2onnx has no converter for it, or not for these settings
        raise NotExportable(f"{type(estimator).__name__}: {' '.join(str(exc).split())[:200]}") from None
    produced = converted.graph.output[-1].name if task != "regression" else converted.graph.output[0].name
    width = 1 if task != "multiclass" else None
    tail = (
        [
            _node(
                "Slice",
                [produced, "scores_first", "scores_second", "scores_axis"],
                OUTPUT,
                [_tensor_int("scores_first", [1]), _tensor_int("scores_second", [2]), _tensor_int("scores_axis", [1])],
            )
        ]
        if task == "binary"
        else [_node("Identity", [produced], OUTPUT)]
    )
    head = _graph(_scaler_nodes(scaler), [], n_inputs, 1)
    head.ir_version = converted.ir_version
    versions = {o.domain: o.version for o in converted.opset_import}
    versions.setdefault("", OPSET)
    for model in (head, converted):  # merging needs the same operator sets on both sides
        del model.opset_import[:]
        model.opset_import.extend(helper.make_opsetid(domain, v) for domain, v in sorted(versions.items()))
    head.graph.output[0].name = SCALED
    head.graph.output[0].type.tensor_type.shape.dim[1].dim_value = n_inputs
    merged = compose.merge_models(head, converted, io_map=[(SCALED, SCALED)])
    # skl2onnx names its graph with a random id, which merging copies into the name and the doc string: the same
    # fit must give the same bytes
    merged.graph.name, merged.graph.doc_string = "mlbasics", ""

    merged.graph.node.extend([node for node, _ in tail])
    merged.graph.initializer.extend([init for _, inits in tail for init in inits])
    outputs = width or len(getattr(estimator, "classes_", []))
    del merged.graph.output[:]
    merged.graph.output.append(helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["events", outputs]))
    return merged


@contextlib.contextmanager
def _integer_missing_flags():
    """skl2onnx 1.20 gives a tree's leaves the missing-value flag False (a bool), which the protobuf TensorFlow pins
    refuses in an integer list, so no boosted trees would convert. For the conversion its node writer gets the flag
    as an int (skl2onnx's own value, 0 or 1); where skl2onnx has no such writer, nothing is patched and one line
    says so."""
    from skl2onnx.common import tree_ensemble

    original = getattr(tree_ensemble, "add_node", None)
    if original is None:
        print("skl2onnx has no common.tree_ensemble.add_node: tree models convert as skl2onnx does", flush=True)
        yield
        return

    def add_node(*args, nodes_missing_value_tracks_true=0, **kwargs):
        return original(*args, nodes_missing_value_tracks_true=int(nodes_missing_value_tracks_true), **kwargs)

    tree_ensemble.add_node = add_node
    try:
        yield
    finally:
        tree_ensemble.add_node = original


def _tensor_int(name: str, values) -> object:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(values, np.int64), name)
