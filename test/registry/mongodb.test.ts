/**
 * The conformance suite on MongoDB (documents + GridFS). Runs only where MONGODB_URL names a
 * server (and the optional `mongodb` package is installed); each test gets its own collections.
 */
import { randomBytes } from "node:crypto";
import { describe } from "vitest";
import { MongoModelRegistry } from "../../runtime/registry/mongodb";
import { registryConformance } from "./conformance";

const url = process.env.MONGODB_URL;

describe.skipIf(!url)("mongodb registry backend (MONGODB_URL)", () => {
  registryConformance("mongodb", async () => {
    const prefix = `evoflow_test_${randomBytes(4).toString("hex")}_`;
    const registry = await MongoModelRegistry.open({ url: url!, prefix });
    return {
      registry,
      openAnother: () => MongoModelRegistry.open({ url: url!, prefix, pollMs: 50 }),
      dispose: async () => {
        const cleaner = await MongoModelRegistry.open({ url: url!, prefix });
        await cleaner.drop();
        await cleaner.close();
      },
    };
  });
});
