import { z } from "zod";
import { defineNode, port, type Ports } from "../../sdk";
import { jsonataExpression, jsonataLimitFields, userCode } from "../../sdk/user-code";

const portName = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]*$/);

export default defineNode({
  type: "control.switch",
  category: "control",
  title: "Switch",
  description:
    "Routes each message to the output of the first rule whose JSONata condition is true (or of every true rule), else to `otherwise`. Each condition runs under the time and depth limits; one that trips a limit sends the message to the dead letters with the limit named.",
  inputs: { in: port.any() },
  outputs: (config) => {
    const ports: Ports = {};
    for (const r of config.rules) ports[r.port] = port.sameAs("in");
    ports[config.otherwise] = port.sameAs("in");
    return ports;
  },
  config: z.object({
    rules: z
      .array(z.object({ when: jsonataExpression.describe("JSONata condition on the payload"), port: portName.describe("Output port") }))
      .default([])
      .describe("Checked in order"),
    otherwise: portName.default("otherwise").describe("Output for messages no rule matched"),
    mode: z.enum(["first", "all"]).default("first").describe("first: only the first matching rule; all: every matching rule"),
    ...jsonataLimitFields,
  }),
  services: [userCode],
  create: (ctx, config) => {
    const rules = config.rules.map((r) => ({ when: ctx.service(userCode).jsonata(r.when, config), port: r.port }));
    return {
      async onMessage(_port, message, emit) {
        let matched = false;
        for (const rule of rules) {
          if (!(await rule.when.evaluate(message.payload))) continue;
          matched = true;
          await emit(rule.port, message.payload);
          if (config.mode === "first") return;
        }
        if (!matched) await emit(config.otherwise, message.payload);
      },
    };
  },
});
