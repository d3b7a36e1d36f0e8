import { z } from "zod";
import { defineNode, port } from "../../sdk";

/**
 * A sync entry point: the API exposes it as `POST /pipelines/<name>`. The request
 * body goes out on `out`; the reply of the sync chain behind it is the response.
 */
export default defineNode({
  type: "io.http",
  category: "io",
  title: "HTTP request",
  description: "Exposes the pipeline as POST /pipelines/<name>: the JSON body goes out on `out` and the output of the sync path is the response.",
  inputs: {},
  outputs: { out: port.any() },
  config: z.object({
    name: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9_-]*$/)
      .optional()
      .describe("Entry point name in the URL; defaults to the pipeline name"),
  }),
  entrypoints: (config, pipeline) => [config.name ?? pipeline],
  create: (ctx, config) => ({
    start(emit) {
      ctx.registerEntrypoint({
        name: config.name ?? ctx.pipeline,
        invoke: (payload, options) => emit("out", payload, { traceId: options?.traceId }),
      });
    },
  }),
});
