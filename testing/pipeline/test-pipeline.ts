/**
 * The pipeline one test case runs: the user's pipeline with its input nodes and fixtures
 * replaced by test nodes carrying the same ports and port types (so validate judges the wiring
 * as it would the real pipeline), and one async edge from every observed port into a
 * `testing.capture` node (testing/harness.ts) that records what passes. Async, so observing a
 * port adds no latency and changes no sync reply; a port with no edge of its own is observed
 * all the same.
 */
import { z } from "zod";
import { NodeTypes } from "../../runtime/node-types";
import { jsonPath, validatePipeline, type CompiledNode } from "../../runtime/validate";
import { defineNode, type Emit, type NodeDefinition } from "../../sdk/contract";
import type { Ports } from "../../sdk/ports";
import { Captured, captureNode, CAPTURE_ID } from "../harness";
import type { Problem } from "../test-node";
import { inputKey, isDeadLetterExpectation, type LoadedTestFile } from "./test-file";

export interface Send {
  node: string;
  port: string;
  payloads: unknown[];
}

export interface BuiltCase {
  pipeline: Record<string, unknown>;
  nodeTypes: NodeTypes;
  captured: Captured;
  /** Capture port → the observed `node.port`. */
  observed: Map<string, string>;
  /** An expectation's `at` (port or edge) → its capture port. */
  captureOf: Map<string, string>;
  /** What the runner sends once the pipeline runs: fixtures' `emit` lists, then the inputs. */
  sends: Send[];
  /** The emit of each replaced node, set when it starts. */
  emitters: Map<string, Emit>;
}

type FixtureSpec = { answer?: unknown; port?: string };

/** Builds case `c` of `loaded`, or the problems (JSON paths into the test file, or into the pipeline as `pipeline: $…`). */
export function buildCase(loaded: LoadedTestFile, c: number, baseTypes: NodeTypes): { built?: BuiltCase; problems: Problem[] } {
  const original = validatePipeline(loaded.pipeline, baseTypes);
  if (!original.ok) return { problems: original.problems.map((p) => ({ path: `pipeline ${p.path}`, message: p.message })) };
  const testCase = loaded.tests.cases[c];
  const nodes = original.compiled.nodes;
  const problems: Problem[] = [];
  const at = (...segments: PropertyKey[]) => jsonPath(["cases", c, ...segments]);
  const nodeOf = (id: string, where: string) => {
    const node = nodes.get(id);
    if (!node) problems.push({ path: where, message: `the pipeline has no node "${id}"; its nodes: ${[...nodes.keys()].join(", ")}` });
    return node;
  };
  const onlyPort = (node: CompiledNode, port: string | undefined, where: string) => {
    const names = Object.keys(node.outputs);
    const chosen = port ?? (names.length === 1 ? names[0] : undefined);
    if (chosen === undefined || !names.includes(chosen))
      problems.push({ path: where, message: `${port === undefined ? "name the port" : `node "${node.id}" has no output port "${port}"`}; its outputs: ${names.join(", ") || "none"}` });
    return chosen;
  };

  const emitters = new Map<string, Emit>();
  const replaced = new Map<string, NodeDefinition>();
  const sends: Send[] = [];
  for (const [id, spec] of Object.entries(testCase.fixtures)) {
    const node = nodeOf(id, at("fixtures", id));
    if (!node) continue;
    const answerPort = spec.answer === undefined ? undefined : onlyPort(node, spec.port, at("fixtures", id, "port"));
    for (const [port, payloads] of Object.entries(spec.emit ?? {})) {
      if (onlyPort(node, port, at("fixtures", id, "emit", port))) sends.push({ node: id, port, payloads });
    }
    replaced.set(id, fixtureNode(`testing.fixture-${replaced.size}`, node, { answer: spec.answer, port: answerPort }, emitters));
  }
  for (const [i, inp] of testCase.inputs.entries()) {
    const node = nodeOf(inp.node, at("inputs", i, "node"));
    if (!node) continue;
    const port = onlyPort(node, inp.port, at("inputs", i, "port"));
    const payloads = inp.payloads ?? loaded.filePayloads.get(inputKey(c, i)) ?? [];
    if (port) sends.push({ node: inp.node, port, payloads: Array.from({ length: inp.repeat }, () => payloads).flat() });
    if (!replaced.has(inp.node)) replaced.set(inp.node, fixtureNode(`testing.fixture-${replaced.size}`, node, {}, emitters));
  }

  const observed = new Map<string, string>();
  const captureOf = new Map<string, string>();
  // An edge carries what its source port emits (an async edge dropping under overflow aside).
  const portOfExpectation = (ref: string) => {
    if (ref.includes(".")) return ref;
    const edge = original.compiled.edges.find((x) => x.id === ref);
    if (!edge) problems.push({ path: at("expect", testCase.expect.findIndex((x) => "at" in x && x.at === ref), "at"), message: `the pipeline has no edge "${ref}"; its edges: ${original.compiled.edges.map((x) => x.id).join(", ")}` });
    return edge && `${edge.from.node}.${edge.from.port}`;
  };
  for (const [e, expectation] of testCase.expect.entries()) {
    if (isDeadLetterExpectation(expectation)) {
      if (expectation.deadLetters.node !== undefined) nodeOf(expectation.deadLetters.node, at("expect", e, "deadLetters", "node"));
      continue;
    }
    const ref = portOfExpectation(expectation.at);
    if (!ref) continue;
    const [id, port] = ref.split(".");
    const node = nodeOf(id, at("expect", e, "at"));
    if (node && !(port in node.outputs))
      problems.push({ path: at("expect", e, "at"), message: `node "${id}" has no output port "${port}"; its outputs: ${Object.keys(node.outputs).join(", ") || "none"}` });
    let capturePort = [...observed].find(([, r]) => r === ref)?.[0];
    if (!capturePort) observed.set((capturePort = `o${observed.size}`), ref);
    captureOf.set(expectation.at, capturePort);
  }
  if (problems.length) return { problems };

  const captured = new Captured();
  const raw = loaded.pipeline as { nodes: Record<string, unknown>[]; edges: Record<string, unknown>[] };
  const pipeline = {
    ...(loaded.pipeline as Record<string, unknown>),
    nodes: [
      ...raw.nodes.map((n) => {
        const fixture = replaced.get(n.id as string);
        if (!fixture) return n;
        const { config: _unused, ...rest } = n;
        return { ...rest, type: fixture.type };
      }),
      { id: CAPTURE_ID, type: "testing.capture" },
    ],
    edges: [...raw.edges, ...[...observed].map(([capturePort, ref]) => ({ id: `testing-observe-${capturePort}`, from: ref, to: `${CAPTURE_ID}.${capturePort}`, mode: "async" }))],
  };
  const nodeTypes = new NodeTypes([...baseTypes.list(), ...replaced.values(), captureNode([...observed.keys()], captured)], baseTypes.packages, baseTypes.loadedWith);
  return { built: { pipeline, nodeTypes, captured, observed, captureOf, sends, emitters }, problems: [] };
}

/** A stand-in for `node`: its ports and sync behaviour, no config, no capabilities; answers with `spec.answer` if given. */
function fixtureNode(type: string, node: CompiledNode, spec: FixtureSpec, emitters: Map<string, Emit>): NodeDefinition {
  const ports: { inputs: Ports; outputs: Ports } = { inputs: node.inputs, outputs: node.outputs };
  return defineNode({
    type,
    category: "io",
    title: `Fixture for ${node.id}`,
    description: `Stands in for node "${node.id}" (${node.def.type}) in a pipeline test.`,
    ...ports,
    acceptsSync: node.def.acceptsSync,
    joinsSync: node.def.joinsSync,
    config: z.object({}),
    create: () => ({
      start: (emit) => void emitters.set(node.id, emit),
      onMessage: async (_port, _message, emit) => {
        if (spec.port !== undefined) await emit(spec.port, spec.answer);
      },
    }),
  });
}
