/**
 * A Node-RED JSONata expression, which reads the whole `msg`, as one on the payload alone (what
 * Evoflow's JSONata nodes read): each top-level `payload` becomes `replacement`. An expression
 * that reads anything else of `msg` (another property, `$` or `$$`), or calls a function Node-RED
 * adds to JSONata (context, env, moment, …), has no exact equivalent.
 */
import jsonata from "jsonata";

type Ast = { type?: string; value?: unknown; position?: number; steps?: Ast[]; [key: string]: unknown };

// Registered by @node-red/util's prepareJSONataExpression; plain JSONata has none of them.
const NODE_RED_FUNCTIONS = new Set(["flowContext", "globalContext", "env", "moment", "clone", "parts"]);
// Keys under which an expression reads a step's own context, not msg.
const INNER = new Set(["stages", "predicate", "group"]);

export function onPayload(expression: string, replacement: string): { expression: string } | { why: string } {
  let ast: Ast;
  try {
    ast = jsonata(expression).ast() as Ast;
  } catch (err) {
    return { why: `its JSONata does not parse: ${(err as Error).message}` };
  }
  const at: number[] = []; // where each top-level `payload` ends
  let why: string | undefined;
  const visit = (node: unknown, top: boolean): void => {
    if (why || typeof node !== "object" || node === null) return;
    if (Array.isArray(node)) return node.forEach((n) => visit(n, top));
    const n = node as Ast;
    if (n.type === "variable" && (n.value === "$" || (n.value === "" && top))) why = "its JSONata reads msg itself ($ or $$)";
    if (n.type === "function" && NODE_RED_FUNCTIONS.has(String((n.procedure as Ast | undefined)?.value))) why = `its JSONata calls $${String((n.procedure as Ast).value)}, which only Node-RED has`;
    if (n.type === "path" && n.steps?.length) {
      const [first, ...rest] = n.steps;
      if (top && first.type === "name") {
        if (first.value !== "payload") why = `its JSONata reads msg.${String(first.value)}: only msg.payload travels between Evoflow nodes`;
        else if (expression.slice(first.position! - 7, first.position) !== "payload") why = "its JSONata names payload in backquotes";
        else at.push(first.position!);
        for (const [k, v] of Object.entries(first)) if (k !== "value") visit(v, false);
      } else visit(first, top);
      return visit(rest, false);
    }
    for (const [k, v] of Object.entries(n)) visit(v, top && !INNER.has(k));
  };
  visit(ast, true);
  if (why) return { why };
  let out = expression;
  for (const end of at.sort((a, b) => b - a)) out = `${out.slice(0, end - 7)}${replacement}${out.slice(end)}`;
  return { expression: out };
}
