#!/usr/bin/env python3
"""Writes the seed models in tests/fuzz/corpus/onnx/: small opset-13 ONNX
graphs made of the operators BlazeFace uses, so the fuzzer starts from models
the loader accepts. Protobuf's wire format by hand (Debian has no python3
onnx); the field numbers are onnx.proto's. Run from the repository root:
    tests/fuzz/make-onnx-seeds.py
make fuzz also seeds with the real models in models/ when they are there."""
import struct
from pathlib import Path


def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 0:
        return key + varint(payload)
    return key + varint(len(payload)) + payload


def s(num, text):
    return field(num, 2, text.encode())


def msg(num, body):
    return field(num, 2, body)


def ints_attr(name, values):
    body = s(1, name) + b"".join(field(8, 0, v) for v in values) + field(20, 0, 7)  # INTS
    return msg(5, body)


def int_attr(name, value):
    return msg(5, s(1, name) + field(3, 0, value) + field(20, 0, 2))  # INT


def node(op, inputs, outputs, name, *attrs):
    body = b"".join(s(1, i) for i in inputs) + b"".join(s(2, o) for o in outputs)
    return msg(1, body + s(3, name) + s(4, op) + b"".join(attrs))


def tensor(name, dims, values):
    body = b"".join(field(1, 0, d) for d in dims) + field(2, 0, 1)  # FLOAT
    return msg(5, body + s(8, name) + field(9, 2, struct.pack(f"<{len(values)}f", *values)))


def value_info(num, name, dims):
    shape = b"".join(msg(1, field(1, 0, d)) for d in dims)
    tensor_type = field(1, 0, 1) + msg(2, shape)
    return msg(num, s(1, name) + msg(2, msg(1, tensor_type)))


def model(graph_body):
    opset = msg(8, s(1, "") + field(2, 0, 13))
    return field(1, 0, 7) + opset + msg(7, s(2, "seed") + graph_body)


# The loader takes NHWC inputs that a Transpose relabels as NCHW, like
# BlazeFace's: every seed starts that way.
def nchw(inp, out):
    return node("Transpose", [inp], [out], "to_nchw", ints_attr("perm", [0, 3, 1, 2]))


def conv_relu():
    w = [0.1 * (i % 7 - 3) for i in range(4 * 3 * 3 * 3)]
    return model(
        nchw("x", "xc")
        + node("Conv", ["xc", "w", "b"], ["c"], "conv", ints_attr("kernel_shape", [3, 3]),
             ints_attr("pads", [1, 1, 1, 1]), ints_attr("strides", [1, 1]))
        + node("Relu", ["c"], ["y"], "relu")
        + tensor("w", [4, 3, 3, 3], w) + tensor("b", [4], [0.0, 0.1, -0.1, 0.2])
        + value_info(11, "x", [1, 8, 8, 3]) + value_info(12, "y", [1, 4, 8, 8]))


def depthwise_pool_add():
    w = [0.05 * i for i in range(4 * 1 * 3 * 3)]
    return model(
        nchw("x", "xc")
        + node("Conv", ["xc", "w"], ["d"], "dw", ints_attr("kernel_shape", [3, 3]),
             ints_attr("pads", [1, 1, 1, 1]), int_attr("group", 4))
        + node("MaxPool", ["xc"], ["p"], "pool", ints_attr("kernel_shape", [2, 2]),
               ints_attr("strides", [2, 2]))
        + node("Pad", ["p", "pads"], ["q"], "pad")
        + node("Add", ["d", "xc"], ["y"], "add")
        + tensor("w", [4, 1, 3, 3], w)
        + msg(5, field(1, 0, 8) + field(2, 0, 7) + s(8, "pads")
              + field(9, 2, struct.pack("<8q", 0, 0, 0, 0, 0, 0, 0, 0)))
        + value_info(11, "x", [1, 8, 8, 4]) + value_info(12, "y", [1, 4, 8, 8])
        + value_info(12, "q", [1, 4, 4, 4]))


def reshape_concat():
    return model(
        nchw("x", "xc")
        + node("Transpose", ["xc"], ["t"], "nhwc", ints_attr("perm", [0, 2, 3, 1]))
        + node("Reshape", ["t", "shape"], ["r"], "flat")
        + node("Concat", ["r", "r"], ["y"], "cat", int_attr("axis", 1))
        + msg(5, field(1, 0, 3) + field(2, 0, 7) + s(8, "shape")
              + field(9, 2, struct.pack("<3q", 1, 16, 2)))
        + value_info(11, "x", [1, 4, 4, 2]) + value_info(12, "y", [1, 32, 2]))


def main():
    out = Path("tests/fuzz/corpus/onnx")
    out.mkdir(parents=True, exist_ok=True)
    for name, fn in [("conv-relu", conv_relu), ("depthwise-pool-add", depthwise_pool_add),
                     ("transpose-reshape-concat", reshape_concat)]:
        (out / f"{name}.onnx").write_bytes(fn())


main()
