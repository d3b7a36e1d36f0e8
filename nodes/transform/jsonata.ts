import { z } from "zod";
import { defineNode, port } from "../../sdk";
import { jsonataExpression, jsonataLimitFields, userCode } from "../../sdk/user-code";

export default defineNode({
  type: "transform.jsonata",
  category: "transform",
  title: "JSONata transform",
  description:
    "Maps each payload through a JSONata expression (the language Node-RED users know). The payload is the input; `$message` holds the envelope. An expression that yields nothing drops the message. Each evaluation runs under a time and a depth limit; one that trips a limit sends the message to the dead letters with the limit named.",
  inputs: { in: port.any() },
  outputs: { out: port.any() },
  config: z.object({
    expression: jsonataExpression.default("$").describe("JSONata expression evaluated against the payload"),
    ...jsonataLimitFields,
  }),
  services: [userCode],
  create: (ctx, config) => {
    const expression = ctx.service(userCode).jsonata(config.expression, config);
    return {
      async onMessage(_port, message, emit) {
        const result = await expression.evaluate(message.payload, { message: { id: message.id, traceId: message.traceId, ts: message.ts, source: message.source } });
        if (result !== undefined) await emit("out", result);
      },
    };
  },
});
