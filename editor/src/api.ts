/**
 * The runtime's HTTP/WebSocket API as the editor uses it, with the access token.
 * Usually there is nothing to do: the URL `evoflow run` prints (`/?token=...`) is traded
 * by the server for an HttpOnly cookie and a redirect (runtime/api/auth.ts), and the
 * browser sends that cookie with every fetch and WebSocket. Without it the token comes
 * from `#token=...` (removed from the address bar at once) or a prompt after a 401, is
 * kept in sessionStorage for the tab's lifetime and sent as `Authorization`.
 */
// The API's answers as the SDK declares them (type-only: nothing of the runtime is bundled).
import type { AlarmSummary, EdgeStatus, Explanation, LabelItem, LabelQueueInfo, Message as Envelope, ModelCard, Problem, RcaReport, ServiceHistory, Trace, TraceNode } from "../../sdk";

export type { EdgeStatus, LabelItem, LabelQueueInfo, Problem };

const TOKEN_KEY = "evoflow.token";

/** Reads `token=` from the hash (`#token=abc` or `#/route?token=abc`), stores it and strips it from the URL. */
export function adoptTokenFromUrl(): void {
  const hash = window.location.hash;
  const match = /[#?&]token=([^&]*)/.exec(hash);
  if (!match) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
  const rest = hash.replace(/[?&#]?token=[^&]*/, "").replace(/^#?[?&]?/, "");
  history.replaceState(null, "", `${window.location.pathname}${window.location.search}${rest ? `#${rest}` : ""}`);
}

export function getToken(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

export function setToken(token: string | undefined): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
  }
}

/** POST /api/import/node-red's answer (runtime/node-red-import/convert.ts). */
export interface NodeRedImport {
  pipelines: { name: string; tab: string; text: string; pipeline: unknown; problems: Problem[] }[];
  report: { pipeline?: string; nodeRedId: string; nodeRedType: string; name?: string; mapping: string; id?: string; type?: string; notes: string[] }[];
  text: string;
}

/** Requests refused at the same moment share one prompt. */
let asking: Promise<boolean> | undefined;
function askForToken(): Promise<boolean> {
  asking ??= Promise.resolve().then(() => {
    const entered = window.prompt("This Evoflow runtime needs an access token:");
    if (entered) setToken(entered.trim());
    setTimeout(() => (asking = undefined), 0);
    return Boolean(entered);
  });
  return asking;
}

async function request<T>(method: string, path: string, body?: unknown, retryAfterPrompt = true, asText = false): Promise<T> {
  const headers: Record<string, string> = {};
  const token = getToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (asText && res.ok) return text as T;
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (res.status === 401 && retryAfterPrompt && (await askForToken())) return request(method, path, body, false, asText);
  if (!res.ok) {
    const message = (json as { error?: string } | undefined)?.error ?? `HTTP ${res.status}`;
    throw new ApiError(res.status, message, json);
  }
  return json as T;
}

/** A port type as `/api/nodes` describes it (sdk/ports.ts `portTypeToJson` plus a label). */
export interface PortJson {
  kind: "tensor" | "record" | "labelled" | "prediction" | "event" | "model" | "metrics" | "any" | "sameAs";
  dtype?: string;
  shape?: number[];
  name?: string;
  event?: string;
  input?: string;
  label: string;
}

export interface NodeTypeInfo {
  type: string;
  /** The node package giving the type, and the range of it a pipeline using the type lists in `requires` (none for Evoflow's own). */
  package?: string;
  requires?: string;
  /** An open string: Evoflow's own categories or a package's. */
  category: string;
  /** The declaration's look: `#rrggbb` and a short mark (else the category's colour, no mark). */
  color?: string;
  icon?: string;
  title: string;
  description: string;
  example?: { config?: Record<string, unknown>; input?: unknown; output?: unknown };
  inputs: Record<string, PortJson>;
  outputs: Record<string, PortJson>;
  portsDependOnConfig: boolean;
  acceptsSync: boolean;
  joinsSync: boolean;
  /** What the type needs beyond computing: "exec", "fs-write", "network". */
  capabilities: string[];
  /** True when the runtime does not grant all of them (`missing`): a deploy using it is refused. */
  locked?: boolean;
  missing?: string[];
  config: JsonSchema;
  defaults: Record<string, unknown> | null;
}

/** Why a locked node type cannot be deployed here, for tooltips; undefined when it is not locked. */
export function lockReason(info: NodeTypeInfo | undefined): string | undefined {
  if (!info?.locked || !info.missing?.length) return undefined;
  const list = info.missing.map((c) => `"${c}"`).join(", ");
  return `Locked: needs the ${list} capability, which this runtime does not grant (start it with --grant ${info.missing.join(",")} to deploy it)`;
}

/** The subset of JSON Schema (as zod 4 writes it) the property form understands. */
export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  enum?: unknown[];
  const?: unknown;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  pattern?: string;
  minItems?: number;
  /** "code": edited as source code (with `language`, e.g. "javascript"), see CodeField. */
  format?: string;
  language?: string;
}

export interface PipelineStatus {
  name: string;
  transport: string;
  nodes: Record<string, { type: string; in: number; out: number; errors: number; [k: string]: unknown }>;
  edges: Record<string, EdgeStatus>;
}

export type { Envelope, Explanation, Trace, TraceNode, ServiceHistory };
export type { Decision, GateCheck, GateReport, HistoryEntry, ModelCard } from "../../sdk";
/** A history entry as the dashboard gets it: with its rollout in words. */
export type ServiceHistoryEntry = ServiceHistory["entries"][number];

const enc = encodeURIComponent;

/** A pipeline test file (`<name>.test.json`) as written; testing/pipeline/test-file.ts is its schema. */
export interface TestFileJson {
  pipeline?: string;
  cases: TestCaseJson[];
  [key: string]: unknown;
}
export interface TestCaseJson {
  name: string;
  inputs?: { node: string; port?: string; payloads?: unknown[]; file?: string }[];
  expect: Record<string, unknown>[];
  [key: string]: unknown;
}
/** One case's outcome (testing/pipeline/run.ts CaseResult): failures are readable texts with a `-`/`+` diff. */
export interface CaseResultJson {
  name: string;
  ms: number;
  failures: string[];
  error?: string;
}
export interface TestRunJson {
  file: string;
  ms: number;
  cases: CaseResultJson[];
  /** The file could not be read or is invalid: no case ran. */
  error?: string;
}

/** A loaded node package as `/api/packages` lists it. */
export interface PackageInfo {
  name: string;
  version: string;
  /** builtin, project (node_modules), data (installed in the data folder), dir (--nodes). */
  source: string;
  sdk: string;
  namespaces: string[];
  types: string[];
}

/** What to install: a registry name, or a tarball or folder inside the runtime's data folder. */
export type InstallRequest = { package: string } | { tarball: string } | { folder: string };

export const api = {
  nodes: () => request<NodeTypeInfo[]>("GET", "/api/nodes"),
  ports: (type: string, config: unknown) =>
    request<{ inputs: Record<string, PortJson>; outputs: Record<string, PortJson> }>("POST", `/api/nodes/${enc(type)}/ports`, { config }),
  validate: (pipeline: unknown) => request<{ ok: boolean; problems: Problem[] }>("POST", "/api/validate", pipeline),
  deploy: (pipeline: unknown) => request<{ name: string }>("POST", "/api/pipelines", pipeline),
  stop: (name: string) => request<{ stopped: string }>("DELETE", `/api/pipelines/${enc(name)}`),
  list: () => request<{ name: string }[]>("GET", "/api/pipelines"),
  pipeline: (name: string) => request<{ pipeline: unknown; status: PipelineStatus }>("GET", `/api/pipelines/${enc(name)}`),
  status: (name: string) => request<PipelineStatus>("GET", `/api/pipelines/${enc(name)}/status`),
  tapMessages: (name: string, edge: string, limit: number) =>
    request<{ edge: string; total: number; messages: Envelope[] }>("GET", `/api/pipelines/${enc(name)}/edges/${enc(edge)}/messages?limit=${limit}`),
  trace: (traceId: string) => request<Trace>("GET", `/api/traces/${enc(traceId)}`),
  /** Explains the trace's model call (nodes/explain/api.ts) and keeps the explanation in the trace. */
  explain: (traceId: string, body: { method: Explanation["method"]; [option: string]: unknown }) =>
    request<{ traceId: string; pipeline: string; messageId?: string; explanation: Explanation }>("POST", `/api/traces/${enc(traceId)}/explain`, body),
  /** Drift alarms kept with their upstream windows (runtime/alarm-windows.ts), oldest first. */
  alarms: (pipeline: string) => request<{ alarms: AlarmSummary[] }>("GET", `/api/alarms?pipeline=${enc(pipeline)}`),
  /** Where the shift behind an alarm entered the pipeline (nodes/drift/rca.ts). */
  rca: (id: string, correction: "bonferroni" | "fdr", mmd: boolean) => request<RcaReport>("GET", `/api/alarms/${enc(id)}/rca?correction=${correction}&mmd=${mmd}`),
  serviceHistory: (name: string) => request<ServiceHistory>("GET", `/api/services/${enc(name)}/history`),
  modelCard: (name: string, version: string) => request<ModelCard>("GET", `/api/models/${enc(name)}/${enc(version)}/card`),
  packages: () => request<{ packages: PackageInfo[]; canManage: boolean }>("GET", "/api/packages"),
  installPackage: (what: InstallRequest) => request<{ package: PackageInfo; added: string[]; replaced: string | null; npm: string }>("POST", "/api/packages", what),
  // A scoped name keeps its slash: the route has a form for @scope/name.
  uninstallPackage: (name: string) => request<{ uninstalled: string; types: string[]; npm: string }>("DELETE", `/api/packages/${name.split("/").map(enc).join("/")}`),
  /** Prometheus text of `/metrics` (node latency histograms for the dashboard's p99). */
  metrics: () => request<string>("GET", "/metrics", undefined, true, true),
  /** The pipeline's canonical text, as `evoflow fmt` writes it. */
  format: (pipeline: unknown) => request<{ text: string }>("POST", "/api/format", pipeline),
  /** The running pipeline's test file (testing/pipeline/routes.ts): where it is, and its cases as written. */
  tests: (name: string) => request<{ file: string; exists: boolean; tests: TestFileJson; problems?: Problem[] }>("GET", `/api/pipelines/${enc(name)}/tests`),
  saveTests: (name: string, tests: TestFileJson) => request<{ file: string; cases: number }>("PUT", `/api/pipelines/${enc(name)}/tests`, tests),
  /** Runs the cases against the pipeline as deployed now. */
  runTests: (name: string) => request<TestRunJson>("POST", `/api/pipelines/${enc(name)}/tests/run`, {}),
  /** A pasted Node-RED flows.json as pipelines, one per tab, by the converter `evoflow import` runs. */
  importNodeRed: (flows: unknown) => request<NodeRedImport>("POST", "/api/import/node-red", flows),
  labelQueue: (queue: string) => request<LabelQueueInfo>("GET", `/api/label-queues/${enc(queue)}`),
  labelItems: (queue: string, state?: string, limit = 20) =>
    request<{ items: LabelItem[] }>("GET", `/api/label-queues/${enc(queue)}/items?limit=${limit}${state ? `&state=${enc(state)}` : ""}`),
  /** The item to label now, leased to `labeler`; undefined when none waits (204). */
  nextLabelItem: (queue: string, labeler: string) => request<{ item: LabelItem } | undefined>("POST", `/api/label-queues/${enc(queue)}/next`, { labeler }),
  submitLabel: (queue: string, id: string, labeler: string, label: number) => request<{ item: LabelItem }>("POST", `/api/label-queues/${enc(queue)}/items/${enc(id)}/label`, { labeler, label }),
  skipLabelItem: (queue: string, id: string, labeler: string) => request<{ item: LabelItem }>("POST", `/api/label-queues/${enc(queue)}/items/${enc(id)}/skip`, { labeler }),
  /** The pipeline file's JSON Schema (`evoflow schema`). */
  schema: () => request<JsonSchema>("GET", "/api/schema"),
};

/**
 * The live tap of an edge, sampled by the runtime (runtime/api/pipelines.ts): about
 * `perSecond` messages a second as `{edge, message}`, and `{edge, seen}` counts.
 */
export function tapSocketUrl(pipeline: string, edge: string, perSecond = 20): string {
  const proto = window.location.protocol === "https:" ? "wss:" : "ws:";
  const token = getToken();
  return `${proto}//${window.location.host}/api/pipelines/${enc(pipeline)}/edges/${enc(edge)}/live?perSecond=${perSecond}${token ? `&token=${enc(token)}` : ""}`;
}
