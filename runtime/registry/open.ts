/**
 * Opens the registry a location names, so every command and process can be pointed at the
 * same one with one string:
 *
 *   a folder                          fs backend (the embedded default)
 *   nats://host:4222[,nats://…]       NATS KV + Object Store
 *   mongodb://… / mongodb+srv://…     MongoDB documents + GridFS (needs the `mongodb` package)
 */
import { FsModelRegistry } from "./fs";
import type { ModelRegistry } from "../../sdk/registry";

/** The location to use: the one given, else EVOFLOW_REGISTRY_NATS, else EVOFLOW_REGISTRY, else `.evoflow/registry`. */
export function registryLocation(explicit?: string): string {
  return explicit || process.env.EVOFLOW_REGISTRY_NATS || process.env.EVOFLOW_REGISTRY || ".evoflow/registry";
}

export async function openModelRegistry(location: string = registryLocation()): Promise<ModelRegistry> {
  if (/^(nats|tls|wss?):\/\//.test(location)) {
    // Loaded on demand so that fs users do not load the NATS client.
    const { NatsModelRegistry } = await import("./nats");
    return NatsModelRegistry.connect({ servers: location.split(",").map((s) => s.trim()) });
  }
  if (/^mongodb(\+srv)?:\/\//.test(location)) {
    const { MongoModelRegistry } = await import("./mongodb");
    return MongoModelRegistry.open({ url: location });
  }
  return new FsModelRegistry(location);
}
