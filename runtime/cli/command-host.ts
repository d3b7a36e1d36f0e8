/** What node packages' CLI commands get from `evoflow` (sdk/extensions.ts CommandHost): loaded only when one runs. */
import type { CommandHost, RecordedMessage } from "../../sdk/extensions";
import { edgeId } from "../../sdk/pipeline";
import { openModelRegistry } from "../registry/open";
import { formatTable } from "./model";
import { authHeaders } from "./token";

/** An edge read back from its pipeline's JetStream stream; the NATS client is loaded only here. */
async function* readRecordedEdge(options: { nats: string; pipeline: string; edge: string }): AsyncGenerator<RecordedMessage> {
  const [{ NatsTransport }, { edgeReadFilter, readStream }] = await Promise.all([import("../transport/nats"), import("../transport/nats-read")]);
  const servers = options.nats.split(",").map((s) => s.trim()).filter(Boolean);
  const transport = await NatsTransport.connect({ servers, role: "worker" }).catch((err: Error) => {
    throw new Error(`cannot reach NATS at ${options.nats}: ${err.message}`);
  });
  try {
    // A pipeline whose coordinator has stopped is read back too: its stream stays.
    const def = await transport.lastDefinition(options.pipeline);
    if (!def) throw new Error(`no pipeline ${options.pipeline} was deployed on ${options.nats}`);
    const found = def.edges.find((e) => edgeId(e) === options.edge);
    if (!found) throw new Error(`pipeline ${options.pipeline} on ${options.nats} has no edge ${options.edge} (edges: ${def.edges.map(edgeId).join(", ")})`);
    yield* readStream(transport.js, options.pipeline, edgeReadFilter(options.pipeline, options.edge, found.mode ?? "sync"), { all: true });
  } finally {
    await transport.close();
  }
}

export const commandHost: CommandHost = { openRegistry: openModelRegistry, authHeaders, formatTable, readRecordedEdge };
