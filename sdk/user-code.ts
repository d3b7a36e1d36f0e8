/**
 * Code users write into a pipeline (JSONata, JavaScript), for nodes: the config fields that
 * check it at validate time (a syntax error is a problem at the field's JSON path, before
 * deploy), and the `userCode` service that runs it under the runtime's limits (time, memory,
 * depth; runtime/user-code/). Every runtime provides the service, so a node listing it is never
 * refused for want of it; a node imports this, not the runtime's user-code internals.
 */
import * as acorn from "acorn";
import jsonata from "jsonata";
import { z } from "zod";
import { defineService } from "./services";

export const DEFAULT_TIMEOUT_MS = 1000;
export const MAX_TIMEOUT_MS = 60_000;
/** ~3 evaluation steps per level of a recursive JSONata function: ~165 levels. */
export const DEFAULT_MAX_DEPTH = 500;

/** Time limit of one run of user code, ms (spread into a node's config). */
export const timeoutMsField = z
  .number()
  .int()
  .min(1)
  .max(MAX_TIMEOUT_MS)
  .default(DEFAULT_TIMEOUT_MS)
  .describe("Time limit of one evaluation, ms: a message whose code runs longer goes to the dead letters");

/** The limit fields of a node's config that runs JSONata (spread into its z.object). */
export const jsonataLimitFields = {
  timeoutMs: timeoutMsField,
  maxDepth: z
    .number()
    .int()
    .min(10)
    .max(10_000)
    .default(DEFAULT_MAX_DEPTH)
    .describe("Nesting limit of one evaluation: about 3 per level of a recursive function (the default allows ~165 levels)"),
};

/** A JSONata expression, its syntax error a zod issue so `validate` reports it with its path. */
export const jsonataExpression = z
  .string()
  .min(1)
  .superRefine((expr, ctx) => {
    try {
      jsonata(expr);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: `JSONata: ${(err as Error).message}` });
    }
  });

/**
 * The body of an async JavaScript function `(payload, ctx)`, parsed (never run) at validate
 * time; the editor shows it in a code editor.
 */
const HEAD = "(async function (payload, ctx) {\n";
export const javascriptCode = z
  .string()
  .superRefine((code, ctx) => {
    try {
      acorn.parse(`${HEAD}${code}\n})`, { ecmaVersion: "latest", sourceType: "script", locations: true });
    } catch (err) {
      const { loc, pos, message } = err as { loc?: { line: number; column: number }; pos?: number; message: string };
      const where = pos !== undefined && pos >= HEAD.length + code.length ? " at the end of the code" : loc ? ` at line ${loc.line - 1}, column ${loc.column + 1}` : "";
      ctx.addIssue({ code: "custom", message: `JavaScript syntax error${where}: ${message.replace(/ \(\d+:\d+\)$/, "")}` });
    }
  })
  .meta({ format: "code", language: "javascript" });

export interface JsonataLimits {
  timeoutMs: number;
  maxDepth: number;
}

export interface JavascriptOptions {
  timeoutMs: number;
  /** Heap one run may add on the runtime's thread, MB. */
  memoryMb: number;
  /** "worker": every run in a worker thread with a hard heap limit, the runtime's thread never held. */
  isolation: "inline" | "worker";
  /** Installed packages `require` may load; the node must need `exec` for them. */
  libs: readonly string[];
  /** The ports `ctx.emit` may send on; another is refused with an error naming these. */
  outputs: readonly string[];
  /** Where `ctx.log` writes. */
  log(level: "debug" | "info" | "warn" | "error", text: string): void;
}

export interface JavascriptFunction {
  /**
   * Runs the code on `payload`, `ctx.emit` sending through `emit` (the handled message's): its
   * result, or a promise of it when the code awaits or runs in a worker (code that does neither
   * costs no promise). Throws or rejects with an error naming the limit it ran into, or the code's own.
   */
  run(payload: unknown, emit: (port: string, payload: unknown) => Promise<unknown>): unknown;
  /** ctx.state as plain data (to save). */
  state(): Record<string, unknown>;
}

export interface UserCode {
  /** Compiles a JSONata expression (throws its syntax error); evaluate() as often as needed. */
  jsonata(expression: string, limits: JsonataLimits): { evaluate(input: unknown, bindings?: Record<string, unknown>): Promise<unknown> };
  /** Compiles a function body (throws its syntax error) with `ctx.state` starting at `state`. */
  javascript(code: string, options: JavascriptOptions, state?: Record<string, unknown>): JavascriptFunction;
}

export const userCode = defineService<UserCode>("userCode");
