/**
 * The Open Inference Protocol (KServe v2) over HTTP: health, server and model
 * metadata, readiness, inference with JSON tensors (flat or nested data) and the
 * binary tensor extension, and Triton's model-repository extension where the
 * provider has a repository. The same routes serve the runtime (registry models
 * through the in-process agent, and sync pipelines under their own names) and the
 * standalone `evoflow agent`; the runtime reaches them through gpu-agent/index.ts
 * (`registerRuntimeV2Routes`, with its own providers asked first: runtime/api/v2.ts).
 *
 * Errors are 4xx/5xx with `{"error": "..."}`: unknown model 404, a model with no
 * champion to serve 409 (naming the versions it has), bad request (JSON nested deeper
 * than 64, datatype, shape, data, integers out of their datatype's range) 400, body over
 * the limit 413 (refused from Content-Length before it is read, never a hang), no room
 * to load a model in time 503, a sync pipeline over its load limits 503 with Retry-After
 * (runtime/overload.ts; Triton also answers an overfull queue with 503).
 */
import type { FastifyInstance, FastifyReply } from "fastify";
import { z } from "zod";
import { NodeError } from "../sdk/errors";
import { traceIdFromTraceparent } from "../runtime/envelope";
import type { Registry } from "prom-client";
import type { Tensor } from "../sdk/ports";
import { RegistryError } from "../sdk/registry";
import { CapacityError, ExecNotAllowedError, ModelNotFoundError } from "./host";
import { LocalModels, NoChampionError, type ModelService } from "./service";
import { checkJsonDepth, DEFAULT_MAX_JSON_DEPTH } from "../runtime/json-depth";
import { OverloadedError } from "../runtime/overload";
import { modelsV2Provider, type V2InferResult, type V2ModelMetadata, type V2Provider } from "./v2-provider";
import { tensorBytes, tensorFromBinary, tensorFromJson, tensorJsonData, TensorInputError, V2_DATATYPE } from "./tensors";
import { parseInferRequestJson } from "./v2-json";

const parametersSchema = z.record(z.string(), z.unknown());
const inferRequestSchema = z.object({
  id: z.string().optional(),
  parameters: parametersSchema.optional(),
  inputs: z
    .array(
      z.object({
        name: z.string().min(1),
        shape: z.array(z.number().int().min(0)),
        datatype: z.string(),
        parameters: parametersSchema.optional(),
        data: z.unknown().optional(),
      }),
    )
    .min(1, "at least one input is required"),
  outputs: z.array(z.object({ name: z.string().min(1), parameters: parametersSchema.optional() })).optional(),
});
type InferRequest = z.infer<typeof inferRequestSchema>;
/** Inputs (or outputs) one request may name: more than any model an OIP client calls has. */
const MAX_INPUTS = 1024;
const MAX_ISSUES_SHOWN = 10;

export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Splits a body into its JSON header and the binary tensor data after it. */
function splitBody(body: Buffer | undefined, headerLength: string | string[] | undefined, maxDepth: number): { request: InferRequest; binary: Buffer } {
  if (!body || body.length === 0) throw new HttpError(400, "request body is empty: send a JSON inference request");
  let jsonPart: Buffer = body;
  let binary: Buffer = Buffer.alloc(0);
  if (headerLength !== undefined) {
    const n = Number(headerLength);
    if (!Number.isInteger(n) || n <= 0 || n > body.length)
      throw new HttpError(400, `Inference-Header-Content-Length ${JSON.stringify(headerLength)} must be a whole number of bytes within the body (${body.length} bytes)`);
    jsonPart = body.subarray(0, n);
    binary = body.subarray(n);
  }
  let parsed: unknown;
  try {
    parsed = parseInferRequestJson(jsonPart, maxDepth);
  } catch (err) {
    throw new HttpError(400, `request is not valid JSON: ${(err as Error).message}${headerLength === undefined ? " (binary tensor data needs the Inference-Header-Content-Length header)" : ""}`);
  }
  // Checked before the schema: 100,000 bad inputs made 100,000 issues and a 6 MB error in 1.5 s.
  for (const key of ["inputs", "outputs"] as const) {
    const list = (parsed as Record<string, unknown> | null)?.[key];
    if (Array.isArray(list) && list.length > MAX_INPUTS) throw new HttpError(400, `invalid inference request: ${list.length} ${key}, at most ${MAX_INPUTS} are taken`);
  }
  const result = inferRequestSchema.safeParse(parsed);
  if (!result.success) {
    const { issues } = result.error;
    const shown = issues.slice(0, MAX_ISSUES_SHOWN).map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    if (issues.length > MAX_ISSUES_SHOWN) shown.push(`and ${issues.length - MAX_ISSUES_SHOWN} more`);
    throw new HttpError(400, `invalid inference request: ${shown.join("; ")}`);
  }
  return { request: result.data, binary };
}

function decodeInputs(request: InferRequest, binary: Buffer): Record<string, Tensor> {
  const inputs: Record<string, Tensor> = {};
  let offset = 0;
  for (const [i, input] of request.inputs.entries()) {
    const where = `input "${input.name}"`;
    if (inputs[input.name]) throw new HttpError(400, `input "${input.name}" is given twice`);
    const size = input.parameters?.binary_data_size;
    if (size !== undefined) {
      if (!Number.isInteger(size) || (size as number) < 0) throw new HttpError(400, `${where}: binary_data_size must be a non-negative integer`);
      if (input.data !== undefined) throw new HttpError(400, `${where}: give either data or binary_data_size, not both`);
      if (offset + (size as number) > binary.length)
        throw new HttpError(400, `${where}: binary_data_size ${size} runs past the ${binary.length} bytes of binary data after the JSON header (inputs ${i + 1}/${request.inputs.length})`);
      inputs[input.name] = tensorFromBinary(input, binary.subarray(offset, offset + (size as number)), where);
      offset += size as number;
    } else inputs[input.name] = tensorFromJson(input, where);
  }
  if (offset !== binary.length) throw new HttpError(400, `${binary.length - offset} bytes of binary data after the JSON header belong to no input`);
  return inputs;
}

function sendInferResult(reply: FastifyReply, request: InferRequest, result: V2InferResult): FastifyReply {
  const allBinary = request.parameters?.binary_data_output === true;
  const binaries: Uint8Array[] = [];
  // Object literals rather than spreads with added fields, here and below: see withModel in engine/engine.ts.
  const outputs = result.outputs.map(({ name, tensor }) => {
    const asked = request.outputs?.find((o) => o.name === name);
    const binary = (asked?.parameters?.binary_data as boolean | undefined) ?? allBinary;
    const datatype = V2_DATATYPE[tensor.dtype];
    if (!binary) return { name, datatype, shape: tensor.shape, data: tensorJsonData(tensor) };
    const bytes = tensorBytes(tensor);
    binaries.push(bytes);
    return { name, datatype, shape: tensor.shape, parameters: { binary_data_size: bytes.length } };
  });
  // Undefined fields are left out by JSON.stringify.
  const header = JSON.stringify({ model_name: result.modelName, model_version: result.modelVersion, id: request.id, outputs });
  if (binaries.length === 0) return reply.header("content-type", "application/json").send(header);
  const head = Buffer.from(header);
  return reply
    .header("content-type", "application/octet-stream")
    .header("inference-header-content-length", String(head.length))
    .send(Buffer.concat([head, ...binaries]));
}

/** HTTP status of an error from a provider (the gRPC service maps it to its codes). */
export function errorStatus(err: unknown): number {
  if (err instanceof HttpError) return err.status;
  if (err instanceof TensorInputError) return 400;
  if (err instanceof NoChampionError) return 409;
  if (err instanceof ModelNotFoundError) return 404;
  if (err instanceof ExecNotAllowedError) return 403;
  if (err instanceof RegistryError) return err.code === "not_found" ? 404 : err.code === "invalid" ? 400 : 409;
  if (err instanceof CapacityError || err instanceof OverloadedError) return 503;
  if (err instanceof NodeError) return 400; // the pipeline refused the request (its reason is dead-lettered too)
  const code = (err as { statusCode?: number }).statusCode;
  return code && code >= 400 ? code : 500;
}

function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const body: Record<string, unknown> = { error: err instanceof Error ? err.message : String(err) };
  if (err instanceof NodeError) Object.assign(body, { node: err.node, port: err.port });
  if (err instanceof OverloadedError) {
    body.reason = err.reason;
    reply.header("retry-after", String(err.retryAfterSeconds));
  }
  return reply.status(errorStatus(err)).header("content-type", "application/json").send(JSON.stringify(body));
}

export interface V2RouteOptions {
  /** Largest request body, bytes (default 16 MiB); larger ones get 413 before they are read. */
  bodyLimit?: number;
  serverName?: string;
  /** Deepest JSON nesting a body may have (64, as the API's other JSON bodies). */
  maxJsonDepth?: number;
}

/** Registers `/v2/...` on `app` in its own scope, where every body is read raw (JSON header + binary data). */
export async function registerV2Routes(app: FastifyInstance, provider: V2Provider, options: V2RouteOptions = {}): Promise<void> {
  const bodyLimit = options.bodyLimit ?? 16 * 1024 * 1024;
  const maxJsonDepth = options.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH;
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", { parseAs: "buffer", bodyLimit }, (_req, body, done) => done(null, body));

    const json = (reply: FastifyReply, status: number, body: unknown) => reply.status(status).header("content-type", "application/json").send(JSON.stringify(body));
    const unknownModel = (reply: FastifyReply, name: string, version?: string) =>
      json(reply, 404, { error: `model ${name}${version ? ` version ${version}` : ""} not found` });

    scope.get("/v2", async (_req, reply) =>
      json(reply, 200, { name: options.serverName ?? "evoflow", version: "1", extensions: ["binary_tensor_data", ...(provider.repository ? ["model_repository"] : [])] }),
    );
    scope.get("/v2/health/live", async (_req, reply) => json(reply, 200, { live: true }));
    scope.get("/v2/health/ready", async (_req, reply) => json(reply, 200, { ready: true }));

    const metadata = async (name: string, version: string | undefined, reply: FastifyReply) => {
      try {
        const meta: V2ModelMetadata | undefined = await provider.metadata(name, version);
        return meta ? json(reply, 200, meta) : unknownModel(reply, name, version);
      } catch (err) {
        return sendError(reply, err);
      }
    };
    scope.get<{ Params: { name: string } }>("/v2/models/:name", (req, reply) => metadata(req.params.name, undefined, reply));
    scope.get<{ Params: { name: string; version: string } }>("/v2/models/:name/versions/:version", (req, reply) => metadata(req.params.name, req.params.version, reply));

    // 200 when the model can serve, a 4xx otherwise, as the protocol's readiness check asks.
    const ready = async (name: string, version: string | undefined, reply: FastifyReply) => {
      try {
        return (await provider.metadata(name, version)) ? json(reply, 200, { name, ready: true }) : unknownModel(reply, name, version);
      } catch (err) {
        return sendError(reply, err);
      }
    };
    scope.get<{ Params: { name: string } }>("/v2/models/:name/ready", (req, reply) => ready(req.params.name, undefined, reply));
    scope.get<{ Params: { name: string; version: string } }>("/v2/models/:name/versions/:version/ready", (req, reply) => ready(req.params.name, req.params.version, reply));

    const infer = async (name: string, version: string | undefined, req: { body: unknown; headers: Record<string, string | string[] | undefined> }, reply: FastifyReply) => {
      try {
        const { request, binary } = splitBody(req.body as Buffer | undefined, req.headers["inference-header-content-length"], maxJsonDepth);
        const inputs = decodeInputs(request, binary);
        const traceId = traceIdFromTraceparent(req.headers.traceparent as string | undefined);
        const result = await provider.infer(name, version, inputs, request.outputs?.map((o) => o.name), traceId);
        return result ? sendInferResult(reply, request, result) : unknownModel(reply, name, version);
      } catch (err) {
        return sendError(reply, err);
      }
    };
    scope.post<{ Params: { name: string } }>("/v2/models/:name/infer", (req, reply) => infer(req.params.name, undefined, req, reply));
    scope.post<{ Params: { name: string; version: string } }>("/v2/models/:name/versions/:version/infer", (req, reply) => infer(req.params.name, req.params.version, req, reply));

    const repo = provider.repository;
    if (repo) {
      const bodyJson = (body: unknown): Record<string, unknown> => {
        const text = body ? (body as Buffer).toString("utf8").trim() : "";
        if (!text) return {};
        checkJsonDepth(text, maxJsonDepth);
        try {
          const parsed = JSON.parse(text);
          if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) return parsed;
        } catch {
          // answered below
        }
        throw new HttpError(400, "request body must be a JSON object");
      };
      scope.post("/v2/repository/index", async (req, reply) => {
        try {
          return json(reply, 200, await repo.index(bodyJson(req.body).ready === true));
        } catch (err) {
          return sendError(reply, err);
        }
      });
      scope.post<{ Params: { name: string } }>("/v2/repository/models/:name/load", async (req, reply) => {
        try {
          const params = bodyJson(req.body).parameters ?? {};
          if (typeof params !== "object" || params === null) throw new HttpError(400, "parameters must be an object");
          await repo.load(req.params.name, params as Record<string, unknown>);
          return json(reply, 200, {});
        } catch (err) {
          return sendError(reply, err);
        }
      });
      scope.post<{ Params: { name: string } }>("/v2/repository/models/:name/unload", async (req, reply) => {
        try {
          bodyJson(req.body);
          await repo.unload(req.params.name);
          return json(reply, 200, {});
        } catch (err) {
          return sendError(reply, err);
        }
      });
    }
  });
}

/** Asks each provider in turn; the first that knows the name answers. */
function firstOf(providers: V2Provider[]): V2Provider {
  return {
    async metadata(name, version) {
      for (const p of providers) {
        const m = await p.metadata(name, version);
        if (m) return m;
      }
      return undefined;
    },
    async infer(name, version, inputs, outputs, traceId) {
      for (const p of providers) {
        const r = await p.infer(name, version, inputs, outputs, traceId);
        if (r) return r;
      }
      return undefined;
    },
    repository: providers.find((p) => p.repository)?.repository,
  };
}

export interface RuntimeV2Options {
  /** The runtime's `models` service, when it has one. */
  models?: ModelService;
  /** Providers asked before the models (the runtime's sync pipelines). */
  first: V2Provider[];
  /** The registry `/metrics` serves: an in-process agent adds its figures to it. */
  metrics: Registry;
}

/** What a runtime serves over the protocol (REST and gRPC): its own providers first, then registry models through its models service. */
export function runtimeV2Provider(options: Pick<RuntimeV2Options, "models" | "first">): V2Provider {
  const models = options.models;
  const local = models instanceof LocalModels ? models : undefined;
  const providers = [...options.first];
  if (models)
    providers.push(
      modelsV2Provider(models, {
        host: local?.host,
        versions: local?.registry ? async (name) => (await local.registry!.versions(name)).map((v) => v.version) : undefined,
      }),
    );
  return firstOf(providers);
}

/** A runtime's `/v2` (runtimeV2Provider); `GET /api/agent` for an in-process agent. */
export async function registerRuntimeV2Routes(app: FastifyInstance, options: RuntimeV2Options): Promise<void> {
  const local = options.models instanceof LocalModels ? options.models : undefined;
  await registerV2Routes(app, runtimeV2Provider(options), { bodyLimit: app.initialConfig.bodyLimit });
  if (local) {
    local.host.registerMetrics(options.metrics);
    app.get("/api/agent", async () => local.host.status());
  }
}
