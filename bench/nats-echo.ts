/**
 * The raw NATS responder for bench/nats.ts: answers every request on a subject with its
 * own bytes, in a process of its own like an Evoflow worker, so the raw request/reply
 * figure crosses the same process boundary as a sync edge.
 *
 *   node --import tsx bench/nats-echo.ts nats://127.0.0.1:4222 raw.echo
 */
import { connect } from "@nats-io/transport-node";

const [url, subject] = process.argv.slice(2);
const nc = await connect({ servers: url });
nc.subscribe(subject, { queue: "echo", callback: (_err, msg) => void msg.respond(msg.data) });
await nc.flush();
process.stdout.write("echo ready\n");
process.on("SIGTERM", () => void nc.drain().then(() => process.exit(0)));
