/**
 * Python models for the agent's tests, made at test time by a real interpreter: sklearn models
 * trained on synthetic data (with their own predictions as the reference), and Python class
 * models (model.py with load/predict) packed as the tar archive the `python` format is.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * EVOFLOW_PYTHON, python3 or Debian's /usr/bin/python3, the first that has sklearn: setup.sh
 * installs python3-sklearn for Debian's interpreter, which a pyenv python3 on PATH may hide.
 */
export function pythonWithSklearn(): string {
  const candidates = [process.env.EVOFLOW_PYTHON, "python3", "/usr/bin/python3"].filter((c): c is string => !!c);
  for (const c of candidates) {
    try {
      execFileSync(c, ["-c", "import sklearn, joblib"], { stdio: "ignore" });
      return c;
    } catch {}
  }
  throw new Error(`no interpreter with sklearn among ${candidates.join(", ")}: run scripts/setup.sh (python3-sklearn)`);
}

export interface SklearnFixture {
  bytes: Uint8Array;
  rows: number;
  /** Test inputs, float32 values (exact as doubles). */
  x: number[];
  /** predict and predict_proba in Python on those inputs. */
  label: number[];
  proba: number[];
}

/** A LogisticRegression fitted on make_classification data, dumped with joblib as `<name>.joblib`. */
export function trainSklearn(python: string, dir: string, o: { name: string; seed: number; features: number; classes: number; rows: number }): SklearnFixture {
  const file = join(dir, `${o.name}.joblib`);
  const script = `
import json, sys, joblib, numpy as np
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
X, y = make_classification(n_samples=300, n_features=${o.features}, n_informative=${Math.min(o.features, 3)}, n_redundant=0, n_classes=${o.classes}, random_state=${o.seed})
model = LogisticRegression(max_iter=500).fit(X.astype(np.float32), y)
joblib.dump(model, ${JSON.stringify(file)})
x = np.random.default_rng(${o.seed}).normal(size=(${o.rows}, ${o.features})).astype(np.float32)
print(json.dumps({"x": [float(v) for v in x.ravel()], "label": model.predict(x).tolist(), "proba": model.predict_proba(x).ravel().tolist()}))
`;
  const out = JSON.parse(execFileSync(python, ["-c", script]).toString());
  return { bytes: new Uint8Array(readFileSync(file)), rows: o.rows, ...out };
}

let archives = 0;

/**
 * A model folder (model.py, whose class doubles its input after reading its factor from a file
 * beside it in load(), and weights.txt) as a tar archive. `sleepS` makes each predict sleep.
 */
export function pythonModelArchive(python: string, dir: string, o: { sleepS?: number } = {}): Uint8Array {
  const folder = join(dir, `pymodel-${archives++}`);
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, "weights.txt"), "2\n");
  writeFileSync(
    join(folder, "model.py"),
    `import os, time
import numpy as np

class Doubler:
    inputs = [{"name": "x", "dtype": "float32", "shape": [-1, 3]}]
    outputs = [{"name": "y", "dtype": "float32", "shape": [-1, 3]}, {"name": "loaded", "dtype": "string", "shape": [1]}]

    def load(self):
        with open(os.path.join(os.path.dirname(__file__), "weights.txt")) as f:
            self.factor = float(f.read())
        self.loads = getattr(self, "loads", 0) + 1

    def predict(self, inputs):
        time.sleep(${o.sleepS ?? 0})
        return {"y": inputs["x"] * np.float32(self.factor), "loaded": np.array([f"factor {self.factor:g} from weights.txt"])}
`,
  );
  const archive = `${folder}.tar`;
  execFileSync(python, ["-c", `import tarfile; t = tarfile.open(${JSON.stringify(archive)}, "w"); t.add(${JSON.stringify(join(folder, "model.py"))}, "model.py"); t.add(${JSON.stringify(join(folder, "weights.txt"))}, "weights.txt"); t.close()`]);
  return new Uint8Array(readFileSync(archive));
}
