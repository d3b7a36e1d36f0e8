/** The NATS registry backend (KV + Object Store) against the shared conformance suite, on a real nats-server. */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll } from "vitest";
import { NatsModelRegistry } from "../../runtime/registry/nats";
import { registryConformance } from "../registry/conformance";
import { NatsServer } from "./server";

let server: NatsServer;
beforeAll(async () => {
  server = await NatsServer.start();
});
afterAll(async () => {
  await server?.dispose();
});

registryConformance("nats", async () => {
  // Fresh buckets per test: an empty registry on the shared server.
  const suffix = randomBytes(4).toString("hex");
  const options = { servers: server.url, kvBucket: `registry_${suffix}`, objectBucket: `models_${suffix}` };
  return { registry: await NatsModelRegistry.connect(options), openAnother: () => NatsModelRegistry.connect(options) };
});
