"""The agent's Python models (gpu-agent/python-models.ts), run by python/worker.py: `load` is the
pool's setup (once per worker, the model into ctx.state), `serve` answers each request.

Formats:
- "sklearn": a joblib or pickle file. joblib.load reads both (plain pickles too); loading it runs
  whatever code the pickle names, hence the `exec` the agent and the registry ask for.
- "python": a tar archive of a folder holding model.py, which defines one class with `load()` and
  `predict(inputs) -> outputs` (dicts of name -> numpy array), as MLServer's custom runtime. It is
  unpacked once beside the archive.

A request is {"inputs": {name: array}, "outputs": [names] or None}; the answer {name: array}.
"""
import asyncio
import importlib.util
import inspect
import os
import sys
import tarfile

import numpy as np

# numpy dtype kind -> Evoflow dtype of an sklearn model's labels.
LABEL_DTYPE = {"i": "int64", "u": "int64", "f": "float64", "b": "bool", "U": "string", "S": "string", "O": "string"}


def load(argument, ctx):
    fmt, path = argument["format"], argument["path"]
    if fmt == "sklearn":
        ctx.state["model"] = SklearnModel(path)
    elif fmt == "python":
        ctx.state["model"] = ClassModel(unpack(path, argument["dir"]))
    else:
        raise ValueError(f"unknown model format {fmt!r}")


def serve(payload, ctx):
    model = ctx.state["model"]
    if payload.get("describe"):
        return model.describe()
    return model.predict(payload["inputs"], payload.get("outputs"))


class SklearnModel:
    def __init__(self, path):
        import joblib  # sklearn's own dependency; it also reads plain pickles

        self.model = joblib.load(path)
        if not hasattr(self.model, "predict"):
            raise TypeError(f"{path} holds a {type(self.model).__name__}, which has no predict()")
        self.classes = getattr(self.model, "classes_", None)
        self.proba = self.classes is not None and hasattr(self.model, "predict_proba")

    def describe(self):
        n = getattr(self.model, "n_features_in_", None)
        if n is None:
            raise ValueError(f"the {type(self.model).__name__} has no n_features_in_ (is it fitted?): give the signature when registering it")
        inputs = [{"name": "input", "dtype": "float32", "shape": [-1, int(n)]}]
        if self.classes is None:
            k = getattr(self.model, "n_outputs_", 1)
            outputs = [{"name": "prediction", "dtype": "float64", "shape": [-1] if k == 1 else [-1, int(k)]}]
        else:
            outputs = [{"name": "label", "dtype": LABEL_DTYPE.get(np.asarray(self.classes).dtype.kind, "string"), "shape": [-1]}]
            if self.proba:
                outputs.append({"name": "probabilities", "dtype": "float64", "shape": [-1, len(self.classes)]})
        return {"inputs": inputs, "outputs": outputs}

    def predict(self, inputs, wanted):
        x = inputs["input"]
        if self.classes is None:
            return {"prediction": self.model.predict(x)}
        out = {}
        if wanted is None or "label" in wanted:
            label = self.model.predict(x)
            out["label"] = label.astype(object) if label.dtype.kind in "US" else label
        if self.proba and (wanted is None or "probabilities" in wanted):
            out["probabilities"] = self.model.predict_proba(x)
        return out


def unpack(archive, folder):
    """The archive's files into `folder` (once), refusing members outside it and links: a tar may name any path."""
    if os.path.exists(os.path.join(folder, "model.py")):
        return folder
    root = os.path.realpath(folder)
    with tarfile.open(archive) as tar:
        for m in tar.getmembers():
            target = os.path.realpath(os.path.join(folder, m.name))
            inside = target.startswith(root + os.sep) or (m.isdir() and target == root)  # `tar -C dir .` names the folder "."
            if not (m.isfile() or m.isdir()) or not inside:
                raise ValueError(f"the model archive's member {m.name!r} is not a plain file inside its folder")
        tar.extractall(folder)
    if not os.path.exists(os.path.join(folder, "model.py")):
        raise FileNotFoundError("the model archive has no model.py at its top level")
    return folder


def call(fn, *args):
    """MLServer's load and predict are coroutines; plain functions are welcome too."""
    result = fn(*args)
    return asyncio.run(result) if inspect.isawaitable(result) else result


class ClassModel:
    def __init__(self, folder):
        path = os.path.join(folder, "model.py")
        sys.path.insert(0, folder)
        spec = importlib.util.spec_from_file_location("evoflow_model", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found = [c for c in vars(module).values() if isinstance(c, type) and c.__module__ == module.__name__ and callable(getattr(c, "load", None)) and callable(getattr(c, "predict", None))]
        if len(found) != 1:
            names = ", ".join(c.__name__ for c in found) or "none"
            raise TypeError(f"model.py must define exactly one class with load() and predict(inputs); it defines {names}")
        self.cls = found[0]
        self.model = self.cls()
        call(self.model.load)

    def describe(self):
        sig = {k: getattr(self.model, k, None) for k in ("inputs", "outputs")}
        if not all(isinstance(v, list) for v in sig.values()):
            raise ValueError(f"{self.cls.__name__} declares no `inputs` and `outputs` lists of {{name, dtype, shape}}: declare them or give the signature when registering it")
        return sig

    def predict(self, inputs, wanted):
        out = call(self.model.predict, inputs)
        if not isinstance(out, dict):
            raise TypeError(f"{self.cls.__name__}.predict returned a {type(out).__name__}; return a dict of name -> numpy array")
        out = {k: np.asarray(v) for k, v in out.items()}
        return out if wanted is None else {k: v for k, v in out.items() if k in wanted}
