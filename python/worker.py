"""An Evoflow Python worker (started by python/pool.ts): loads one file or piece of code once,
then answers calls of one function in it, one at a time, for as long as the runtime keeps it.

Messages come on fd 3 and answers go on fd 4, in the format of python/frames.ts: lengths
(little-endian 4-byte), a JSON header, then raw buffers (tensors become numpy arrays with their
dtype and shape, bytes become `bytes`). stdout and stderr stay free for the user's own print()
and for the tracebacks faulthandler writes when the process itself crashes.
"""
import faulthandler
import importlib.util
import json
import linecache
import os
import struct
import sys
import threading
import time
import traceback

faulthandler.enable()  # a segfault in a C extension still leaves a Python traceback on stderr

try:
    import numpy as np
except ImportError:  # records still work; tensors need numpy (scripts/setup.sh installs it)
    np = None

MARK = "$evoflow"
# Evoflow dtype -> numpy dtype, little endian (the runtime's typed arrays are).
NUMPY_OF = {
    "bool": "|b1", "uint8": "|u1", "uint16": "<u2", "uint32": "<u4", "int8": "|i1", "int16": "<i2",
    "int32": "<i4", "int64": "<i8", "float32": "<f4", "float64": "<f8",
}
NUMPY_DTYPE = {k: np.dtype(v) for k, v in NUMPY_OF.items()} if np else {}
DTYPE_OF = {v: k for k, v in NUMPY_DTYPE.items()}


class Ctx:
    """What a function gets beside its payload: ctx.state lives as long as this worker."""

    def __init__(self, pipeline, node, worker):
        self.pipeline, self.node, self.worker, self.state = pipeline, node, worker, {}


def read_bytes(f, n):
    data = f.read(n)  # a BufferedReader's read waits for all n bytes, or the end of input
    if len(data) < n:
        raise EOFError
    return data


def read_buffer(f, n):
    buf = bytearray(n)  # writable and aligned, so np.frombuffer gives an array the function may change
    view, got = memoryview(buf), 0
    while got < n:
        count = f.readinto(view[got:])
        if not count:
            raise EOFError
        got += count
    return buf


LENGTHS = struct.Struct("<II")  # the header's length, the number of buffers
_in_buffers = []  # the buffers of the message being read, for the decoder's hook
# raw_decode on str: json.loads of bytes first guesses their encoding and then checks for trailing
# whitespace, twice the time of the parse itself for a small message; the runtime writes UTF-8 JSON alone.
DECODE = json.JSONDecoder().raw_decode
DECODE_WITH_BUFFERS = json.JSONDecoder(object_hook=lambda d: from_wire(d, _in_buffers) if MARK in d else d).raw_decode


def read_message(f):
    head_length, count = LENGTHS.unpack(read_bytes(f, 8))
    if not count:  # no buffer, so no marker: json's C parser alone
        header = DECODE(read_bytes(f, head_length).decode("utf-8"))[0]
    else:
        sizes = struct.unpack(f"<{count}I", read_bytes(f, 4 * count))
        head = read_bytes(f, head_length)
        _in_buffers[:] = [read_buffer(f, n) for n in sizes]
        header = DECODE_WITH_BUFFERS(head.decode("utf-8"))[0]
        _in_buffers.clear()
    return header, header.get("payload")


def from_wire(v, buffers):
    if v[MARK] == "bytes":
        return bytes(buffers[v["i"]])
    return tensor_from(v["dtype"], v["shape"], buffers[v["i"]])


def tensor_from(dtype, shape, buf):
    if np is None:
        raise RuntimeError("a tensor arrived but numpy is not installed for " + sys.executable)
    if dtype == "string":
        out, at = [], 0
        while at < len(buf):
            (n,) = struct.unpack_from("<I", buf, at)
            out.append(bytes(buf[at + 4:at + 4 + n]).decode("utf-8"))
            at += 4 + n
        return np.array(out, dtype=object).reshape(shape)
    return np.frombuffer(buf, dtype=NUMPY_DTYPE[dtype]).reshape(shape)


def to_wire(v, buffers):
    """json.dumps' `default`: what JSON has no type for, called by its C encoder as it meets it."""
    if np is not None and isinstance(v, np.ndarray):
        return tensor_to(v, buffers)
    if np is not None and isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (bytes, bytearray, memoryview)):
        buffers.append(bytes(v))
        return {MARK: "bytes", "i": len(buffers) - 1}
    raise TypeError(f"a {type(v).__name__} cannot leave Python: return dicts, lists, str, numbers, bools, None, numpy arrays or bytes")


def tensor_to(a, buffers):
    shape = list(a.shape)
    if a.dtype.kind in "OUS":
        parts = []
        for s in a.reshape(-1).tolist():
            b = s if isinstance(s, bytes) else str(s).encode("utf-8")
            parts.append(struct.pack("<I", len(b)) + b)
        buffers.append(b"".join(parts))
        return {MARK: "tensor", "i": len(buffers) - 1, "dtype": "string", "shape": shape}
    dtype = DTYPE_OF.get(a.dtype) or DTYPE_OF.get(a.dtype.newbyteorder("<"))  # big-endian arrays too, converted
    if dtype is None:
        raise TypeError(f"numpy dtype {a.dtype} has no Evoflow tensor type (use one of {', '.join(NUMPY_OF)}, or str)")
    # A view of the array's own memory, written as it is: no copy when it is contiguous little-endian.
    buffers.append(memoryview(np.ascontiguousarray(a, dtype=NUMPY_DTYPE[dtype]).reshape(-1)).cast("B"))
    return {MARK: "tensor", "i": len(buffers) - 1, "dtype": dtype, "shape": shape}


_out_buffers = []  # the buffers of the message being written, filled by the encoder's `default`
# One encoder for every message: json.dumps with options would build a new one each call.
ENCODE = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=lambda v: to_wire(v, _out_buffers)).encode


def write_message(f, header, payload=None):
    _out_buffers.clear()
    header["payload"] = payload
    head = ENCODE(header).encode("utf-8")
    count = len(_out_buffers)
    sizes = struct.pack(f"<{count}I", *map(len, _out_buffers)) if count else b""
    f.write(LENGTHS.pack(len(head), count) + sizes + head)
    for b in _out_buffers:
        f.write(b)
    _out_buffers.clear()
    f.flush()


def failure(exc):
    """The error and its traceback from the user's code on: the worker's own frames and importlib's are left out."""
    tb = exc.__traceback__
    while tb is not None and (tb.tb_frame.f_code.co_filename == __file__ or tb.tb_frame.f_code.co_filename.startswith("<frozen")):
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": text}


def load(source, function, setup):
    """The function to call (and the setup function, if any), from a file (its folder first on sys.path) or inline code."""
    if "file" in source:
        path = source["file"]
        sys.path.insert(0, os.path.dirname(path))
        spec = importlib.util.spec_from_file_location("evoflow_user_module", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        scope, where = vars(module), path
    else:
        where, code = source["filename"], source["code"]
        linecache.cache[where] = (len(code), None, code.splitlines(True), where)  # tracebacks show its lines
        scope = {"__name__": "evoflow_user_code"}
        exec(compile(code, where, "exec"), scope)
    found = []
    for name in [function] + ([setup] if setup else []):
        if not callable(scope.get(name)):
            raise AttributeError(f"{where} defines no function {name!r}")
        found.append(scope[name])
    return found


def exit_with_parent():
    """A worker stuck in a call never sees its input end: when the runtime dies (kill -9), end anyway."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)


def main():
    threading.Thread(target=exit_with_parent, daemon=True).start()
    requests, answers = open(3, "rb"), open(4, "wb")
    header, argument = read_message(requests)
    ctx = Ctx(header["pipeline"], header["node"], header["worker"])
    try:
        fn, *setup = load(header["source"], header["function"], header.get("setup"))
        if setup:
            setup[0](argument, ctx)  # e.g. a model loaded into ctx.state once, before any call
    except ImportError as exc:
        write_message(answers, {**failure(exc), "missing": exc.name})
        return
    except BaseException as exc:
        write_message(answers, failure(exc))
        return
    write_message(answers, {"ok": True})
    while True:
        try:
            _, payload = read_message(requests)
        except EOFError:
            return  # the runtime closed the pipe: undeploy, or the runtime itself ended
        try:
            result = fn(payload, ctx)
            write_message(answers, {"ok": True, "none": result is None}, result)
        except Exception as exc:
            write_message(answers, failure(exc))


if __name__ == "__main__":
    main()
