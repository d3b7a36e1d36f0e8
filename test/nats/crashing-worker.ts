/**
 * A worker process for the crash test: runs the nodes placed in `crashy` of every pipeline
 * a coordinator deploys, with the test node types (test.crashing kills this process).
 *
 *   node --import tsx test/nats/crashing-worker.ts NATS_URL DATA_DIR
 */
import { NatsTransport } from "../../runtime/transport/nats";
import { Runtime } from "../../runtime/runtime";
import { poisonNodeTypes } from "./poison-nodes";

const [url, dataDir] = process.argv.slice(2);
const transport = await NatsTransport.connect({ servers: url, role: "worker", placement: "crashy" });
const runtime = new Runtime({
  transport,
  nodeTypes: poisonNodeTypes,
  dataDir,
  localNodes: (_name, def) => new Set(def.nodes.filter((n) => n.placement === "crashy").map((n) => n.id)),
});
await transport.watchDefinitions((name, def) => {
  if (def) void runtime.deploy(def).then(() => process.stdout.write(`running ${name}\n`));
});
