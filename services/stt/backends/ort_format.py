"""Reading an ONNX Runtime "ORT format" model back into an ONNX graph.

The Moonshine weights ship as ORT-format files whose int8 weights are cast
and scaled back to float inside the graph, on every decoding step: about
four fifths of each step on this CPU. ORT-format models skip the graph
optimiser at load, so that work is never folded away. Rebuilt as ONNX, the
same graph is optimised when the session is created (the constant weights
are dequantised once), and recognition is about four times faster with
identical output. The flatbuffers reader ships inside onnxruntime.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import onnx
import onnxruntime
from onnx import helper

# The generated readers import one another as the top-level package `ort_flatbuffers_py`, so that package is
# registered under that name from its folder. Importing it as `onnxruntime.tools...` would also run that
# package's __init__, which imports torch when it is installed (1.2 s and 190 MB for nothing); putting its
# folder on sys.path would make onnxruntime's `utils` and `types` helpers importable by those bare names.
if "ort_flatbuffers_py" not in sys.modules:
    _folder = Path(onnxruntime.__file__).parent / "tools" / "ort_format_model" / "ort_flatbuffers_py"
    _spec = importlib.util.spec_from_file_location("ort_flatbuffers_py", _folder / "__init__.py", submodule_search_locations=[str(_folder)])
    sys.modules["ort_flatbuffers_py"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["ort_flatbuffers_py"])

from ort_flatbuffers_py.fbs.AttributeType import AttributeType  # noqa: E402
from ort_flatbuffers_py.fbs.DimensionValueType import DimensionValueType  # noqa: E402
from ort_flatbuffers_py.fbs.InferenceSession import InferenceSession  # noqa: E402
from ort_flatbuffers_py.fbs.TensorTypeAndShape import TensorTypeAndShape  # noqa: E402
from ort_flatbuffers_py.fbs.TypeInfoValue import TypeInfoValue  # noqa: E402


def _text(value: bytes | None) -> str:
    return value.decode() if value else ""


def _tensor(tensor) -> onnx.TensorProto:
    dims = [tensor.Dims(i) for i in range(tensor.DimsLength())]
    if tensor.StringDataLength():
        return helper.make_tensor(_text(tensor.Name()), tensor.DataType(), dims, [tensor.StringData(i) for i in range(tensor.StringDataLength())])
    if tensor.ExternalDataOffset() != -1:
        raise ValueError(f"tensor {_text(tensor.Name())} keeps its data outside the model file")
    proto = onnx.TensorProto(name=_text(tensor.Name()), data_type=tensor.DataType(), dims=dims)
    if tensor.RawDataLength():
        proto.raw_data = tensor.RawDataAsNumpy().tobytes()
    return proto


def _attribute(attribute) -> onnx.AttributeProto:
    kind, name = attribute.Type(), _text(attribute.Name())
    if kind == AttributeType.FLOAT:
        return helper.make_attribute(name, attribute.F())
    if kind == AttributeType.INT:
        return helper.make_attribute(name, attribute.I())
    if kind == AttributeType.STRING:
        return helper.make_attribute(name, attribute.S())
    if kind == AttributeType.TENSOR:
        return helper.make_attribute(name, _tensor(attribute.T()))
    if kind == AttributeType.GRAPH:
        return helper.make_attribute(name, _graph(attribute.G(), name))
    if kind == AttributeType.FLOATS:
        return helper.make_attribute(name, [attribute.Floats(i) for i in range(attribute.FloatsLength())], attr_type=onnx.AttributeProto.FLOATS)
    if kind == AttributeType.INTS:
        return helper.make_attribute(name, [attribute.Ints(i) for i in range(attribute.IntsLength())], attr_type=onnx.AttributeProto.INTS)
    if kind == AttributeType.STRINGS:
        return helper.make_attribute(name, [attribute.Strings(i) for i in range(attribute.StringsLength())], attr_type=onnx.AttributeProto.STRINGS)
    raise ValueError(f"attribute {name} has a type this reader does not know ({kind})")


def _dimension(dimension) -> int | str | None:
    value = dimension.Value()
    if value is None:
        return None
    if value.DimType() == DimensionValueType.VALUE:
        return value.DimValue()
    if value.DimType() == DimensionValueType.PARAM:
        return _text(value.DimParam())
    return None


def _value_info(node_arg) -> onnx.ValueInfoProto:
    name, type_info = _text(node_arg.Name()), node_arg.Type()
    if type_info is None or type_info.ValueType() != TypeInfoValue.tensor_type:
        raise ValueError(f"graph input or output {name} is not a tensor")
    tensor_type = TensorTypeAndShape()
    tensor_type.Init(type_info.Value().Bytes, type_info.Value().Pos)
    shape = tensor_type.Shape()
    dims = None if shape is None else [_dimension(shape.Dim(i)) for i in range(shape.DimLength())]
    return helper.make_tensor_value_info(name, tensor_type.ElemType(), dims)


def _graph(graph, name: str) -> onnx.GraphProto:
    node_args = {_text(graph.NodeArgs(i).Name()): graph.NodeArgs(i) for i in range(graph.NodeArgsLength())}
    nodes = []
    for i in range(graph.NodesLength()):
        node = graph.Nodes(i)
        proto = helper.make_node(
            _text(node.OpType()),
            [_text(node.Inputs(j)) for j in range(node.InputsLength())],
            [_text(node.Outputs(j)) for j in range(node.OutputsLength())],
            name=_text(node.Name()),
            domain=_text(node.Domain()),
        )
        proto.attribute.extend(_attribute(node.Attributes(j)) for j in range(node.AttributesLength()))
        nodes.append(proto)
    initializers = [_tensor(graph.Initializers(i)) for i in range(graph.InitializersLength())]
    constant = {tensor.name for tensor in initializers}
    inputs = [_value_info(node_args[_text(graph.Inputs(i))]) for i in range(graph.InputsLength()) if _text(graph.Inputs(i)) not in constant]
    outputs = [_value_info(node_args[_text(graph.Outputs(i))]) for i in range(graph.OutputsLength())]
    return helper.make_graph(nodes, name, inputs, outputs, initializer=initializers)


def read_ort_model(path: Path) -> onnx.ModelProto:
    session = InferenceSession.GetRootAs(path.read_bytes(), 0)
    model = session.Model()
    opsets = [helper.make_opsetid(_text(model.OpsetImport(i).Domain()), model.OpsetImport(i).Version()) for i in range(model.OpsetImportLength())]
    return helper.make_model(_graph(model.Graph(), path.stem), opset_imports=opsets, ir_version=model.IrVersion())
