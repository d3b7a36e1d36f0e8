import jsonata from "jsonata";
import { z } from "zod";
import { defineNode } from "../../runtime/node-contract";
import { port } from "../../runtime/ports";

/** Compiles a JSONata expression, turning a syntax error into a zod issue so `validate` reports it with its path. */
export const jsonataExpression = z.string().min(1).superRefine((expr, ctx) => {
  try {
    jsonata(expr);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: `JSONata: ${(err as Error).message}` });
  }
});

export default defineNode({
  type: "transform.jsonata",
  category: "transform",
  title: "JSONata transform",
  description: "Maps each payload through a JSONata expression (the language Node-RED users know). The payload is the input; `$message` holds the envelope. An expression that yields nothing drops the message.",
  inputs: { in: port.any() },
  outputs: { out: port.any() },
  config: z.object({
    expression: jsonataExpression.default("$").describe("JSONata expression evaluated against the payload"),
  }),
  create: (_ctx, config) => {
    const expression = jsonata(config.expression);
    return {
      async onMessage(_port, message, emit) {
        const result = await expression.evaluate(message.payload, { message: { id: message.id, traceId: message.traceId, ts: message.ts, source: message.source } });
        if (result !== undefined) await emit("out", result);
      },
    };
  },
});
