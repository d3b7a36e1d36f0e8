/** What the CL pipeline tests do as clients: feed labelled examples, classify, wait for the gate's decision. */
import type { LabelledSet } from "../../nodes/continual-learning/fashion-mnist";
import { HistoryStore, historyRoot } from "../../nodes/continual-learning/history";
import type { ModelRegistry } from "../../sdk/registry";
import type { Runtime } from "../../runtime/runtime";
import { OverloadedError } from "../../runtime/overload";
import { tensor } from "../../sdk/ports";

/** Sends labelled examples ({x, y}) to an entry point as an HTTP client would: a refusal while a full queue drains (429) is retried. */
export async function feed(runtime: Runtime, pipeline: string, entrypoint: string, set: LabelledSet): Promise<void> {
  const labels = runtime.get(pipeline)!.entrypoints.get(entrypoint)!;
  for (let i = 0; i < set.count; i++) {
    const payload = { x: tensor("float32", [set.features], set.x.slice(i * set.features, (i + 1) * set.features)), y: set.y[i] };
    for (;;) {
      try {
        await labels.invoke(payload);
        break;
      } catch (err) {
        if (!(err instanceof OverloadedError)) throw err;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }
  await runtime.get(pipeline)!.idle();
}

/** Sends the first `count` images of `set` to a serving entry point, counting the answers per model version in `served`. */
export async function classify(runtime: Runtime, pipeline: string, entrypoint: string, set: LabelledSet, count: number, served: Map<number, number>): Promise<void> {
  const entry = runtime.get(pipeline)!.entrypoints.get(entrypoint)!;
  for (let i = 0; i < count; i++) {
    const replies = await entry.invoke(tensor("float32", [1, set.features], set.x.slice(i * set.features, (i + 1) * set.features)));
    const version = Number(replies[0].source.model!.version);
    served.set(version, (served.get(version) ?? 0) + 1);
  }
}

/** The status a version ends with once the gate has decided on it and recorded the decision in the service's history. */
export async function decisionFor(registry: ModelRegistry, dataDir: string, service: string, model: string, version: number): Promise<string> {
  for (;;) {
    const v = await registry.get(model, version);
    const entry = (await new HistoryStore(historyRoot(dataDir)).list(service)).find((e) => e.version === version);
    if (v && v.status !== "candidate" && entry) return v.status;
    await new Promise((r) => setTimeout(r, 100));
  }
}
