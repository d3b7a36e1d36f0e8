"""trainer.sklearn's training, run by python/worker.py in a worker of the node's own pool
(nodes/continual-learning/sklearn-train.ts): `setup` once per worker, `train` per candidate.

A call is {"x": float32 [n, features], "y": int [n], "base": bytes or None, "config": {...}}:
- mode "stateful": the champion's pickle (`base`) is loaded — a copy, the registry's stays as it
  was — and trained further with `partial_fit`, `epochs` passes over the shuffled data; with no
  sklearn champion a new estimator starts the same way (its first call names every class).
- mode "stateless": a new estimator, `fit` on the data from scratch.
The answer is {"model": joblib bytes, "signature": {...}, "warmStart", "samplesSeen", "trainAccuracy"}.

The estimator is named by its class (e.g. "SGDClassifier", "MLPClassifier") and looked up in a
fixed list of sklearn modules, so a config names no arbitrary code to import.
"""
import importlib
import io
import os

import numpy as np

# Where an estimator's class name is looked up, in order.
MODULES = ["sklearn.linear_model", "sklearn.neural_network", "sklearn.naive_bayes", "sklearn.tree", "sklearn.ensemble", "sklearn.neighbors", "sklearn.svm", "sklearn.discriminant_analysis"]


def setup(argument, ctx):
    # Training yields to serving: the worker runs at a lower priority (as trainer.tfjs's child).
    os.nice(int(argument.get("niceness", 10)))


def estimator_class(name):
    from sklearn.base import ClassifierMixin

    for module in MODULES:
        cls = getattr(importlib.import_module(module), name, None)
        if isinstance(cls, type) and issubclass(cls, ClassifierMixin):
            return cls
    raise ValueError(f"{name!r} is not a classifier in {', '.join(MODULES)}")


def new_estimator(config):
    return estimator_class(config["estimator"])(**config.get("params", {}))


def load_champion(base, config):
    """The champion as a new object (joblib reads the bytes), or None when it cannot be trained further."""
    if base is None:
        return None
    import joblib

    model = joblib.load(io.BytesIO(bytes(base)))
    if type(model).__name__ != config["estimator"]:
        raise ValueError(f"the champion is a {type(model).__name__}, not a {config['estimator']}: train it stateless (fit from scratch) to change estimator")
    return model


def train(payload, ctx):
    import joblib

    x, y, config = payload["x"], payload["y"].astype(np.int64), payload["config"]
    rng = np.random.default_rng(config.get("seed", 0))
    warm = False
    if config["mode"] == "stateful":
        model = load_champion(payload.get("base"), config)
        warm = model is not None
        model = model if warm else new_estimator(config)
        if not hasattr(model, "partial_fit"):
            raise ValueError(f"{type(model).__name__} has no partial_fit: use mode \"stateless\"")
        classes = np.asarray(config["classes"], dtype=np.int64)
        unknown = sorted(set(np.unique(y).tolist()) - set(getattr(model, "classes_", classes).tolist()))
        if unknown:
            raise ValueError(f"labels {unknown} are not among the model's classes {getattr(model, 'classes_', classes).tolist()}: list them in `classes`")
        for _ in range(config["epochs"]):
            order = rng.permutation(len(y))
            for start in range(0, len(y), config["batchSize"]):
                rows = order[start : start + config["batchSize"]]
                # Only the first call of a new estimator names the classes; a champion already has them.
                extra = {} if hasattr(model, "classes_") else {"classes": classes}
                model.partial_fit(x[rows], y[rows], **extra)
        seen = len(y) * config["epochs"]
    else:
        model = new_estimator(config).fit(x, y)
        seen = len(y)
    out = io.BytesIO()
    joblib.dump(model, out)
    inputs = [{"name": "input", "dtype": "float32", "shape": [-1, int(x.shape[1])]}]
    outputs = [{"name": "label", "dtype": "int64", "shape": [-1]}]
    if hasattr(model, "predict_proba"):
        try:
            model.predict_proba(x[:1])
            outputs.append({"name": "probabilities", "dtype": "float64", "shape": [-1, len(model.classes_)]})
        except AttributeError:  # e.g. SGDClassifier with the hinge loss: predict_proba exists but refuses
            pass
    return {
        "model": out.getvalue(),
        "signature": {"inputs": inputs, "outputs": outputs},
        "classes": [int(c) for c in model.classes_],
        "warmStart": warm,
        "samplesSeen": int(seen),
        "trainAccuracy": float(model.score(x, y)),
    }
