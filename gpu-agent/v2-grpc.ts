/**
 * The Open Inference Protocol over gRPC (KServe's GRPCInferenceService, gpu-agent/grpc/
 * inference.proto), beside the REST routes and served by the same V2Provider: the agent's
 * models, or a runtime's sync pipelines then its registry models. Inputs come as typed
 * `contents` or `raw_input_contents` and go through the same checks as REST bodies
 * (gpu-agent/tensors.ts); outputs go back as `raw_output_contents`, as Triton answers.
 *
 * Access: with tokens, every call needs `authorization: Bearer <token>` metadata (any role:
 * this service only reads and infers, which a viewer may). A browser cannot speak gRPC over
 * cleartext HTTP/2, so no web page reaches this port; the token is what guards it from the
 * network. Errors carry the REST answer's meaning as gRPC codes (400 → INVALID_ARGUMENT,
 * 404 → NOT_FOUND, 409 → FAILED_PRECONDITION, 503 → UNAVAILABLE).
 */
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { Tensor } from "../sdk/ports";
import { bearer, TokenTable, type AuthOptions } from "../runtime/api/auth";
import { PROJECT_ROOT } from "../runtime/paths";
import { errorStatus } from "./v2-routes";
import type { V2Provider } from "./v2-provider";
import { TensorInputError, V2_DATATYPE, tensorBytes, tensorFromBinary, tensorFromJson, type V2Tensor } from "./tensors";

interface Contents {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: string[];
  uint_contents?: number[];
  uint64_contents?: string[];
  fp32_contents?: number[];
  fp64_contents?: number[];
  bytes_contents?: Buffer[];
}
interface InferInput { name: string; datatype: string; shape: string[]; contents?: Contents }
interface InferRequest { model_name: string; model_version: string; id: string; inputs: InferInput[]; outputs: { name: string }[]; raw_input_contents: Buffer[] }

// The typed field that carries each datatype (INT8/16/32 share int_contents, as UINT8/16/32 uint_contents).
const CONTENTS_FIELD: Record<string, keyof Contents> = {
  BOOL: "bool_contents", INT8: "int_contents", INT16: "int_contents", INT32: "int_contents", INT64: "int64_contents",
  UINT8: "uint_contents", UINT16: "uint_contents", UINT32: "uint_contents", UINT64: "uint64_contents",
  FP32: "fp32_contents", FP64: "fp64_contents", BYTES: "bytes_contents",
};

const GRPC_CODE: Record<number, grpc.status> = {
  400: grpc.status.INVALID_ARGUMENT, 401: grpc.status.UNAUTHENTICATED, 403: grpc.status.PERMISSION_DENIED, 404: grpc.status.NOT_FOUND,
  409: grpc.status.FAILED_PRECONDITION, 413: grpc.status.RESOURCE_EXHAUSTED, 503: grpc.status.UNAVAILABLE,
};

class CallError extends Error {
  constructor(readonly code: grpc.status, message: string) {
    super(message);
  }
}

function shapeOf(input: InferInput, where: string): number[] {
  return input.shape.map((d) => {
    const n = Number(d);
    if (!Number.isSafeInteger(n)) throw new TensorInputError(`${where}: shape must be integers, got ${d}`);
    return n;
  });
}

function decodeInputs(request: InferRequest): Record<string, Tensor> {
  const raw = request.raw_input_contents;
  if (raw.length > 0 && raw.length !== request.inputs.length)
    throw new TensorInputError(`raw_input_contents has ${raw.length} entries for ${request.inputs.length} inputs (one each, in order)`);
  const inputs: Record<string, Tensor> = {};
  for (const [i, input] of request.inputs.entries()) {
    const where = `input "${input.name}"`;
    if (inputs[input.name]) throw new TensorInputError(`${where} is given twice`);
    const v2: V2Tensor = { name: input.name, datatype: input.datatype, shape: shapeOf(input, where) };
    if (raw.length > 0) {
      if (input.contents) throw new TensorInputError(`${where}: give either contents or raw_input_contents, not both`);
      inputs[input.name] = tensorFromBinary(v2, raw[i], where);
      continue;
    }
    const field = CONTENTS_FIELD[input.datatype];
    if (!field) throw new TensorInputError(`${where}: datatype ${JSON.stringify(input.datatype)} is not supported (use one of ${Object.values(V2_DATATYPE).join(", ")})`);
    const data = input.contents?.[field] ?? [];
    inputs[input.name] = tensorFromJson({ ...v2, data: field === "bytes_contents" ? (data as Buffer[]).map((b) => b.toString("utf8")) : data }, where);
  }
  return inputs;
}

const asCallError = (err: unknown) =>
  err instanceof CallError ? err : new CallError(GRPC_CODE[errorStatus(err)] ?? grpc.status.INTERNAL, err instanceof Error ? err.message : String(err));

export interface V2GrpcOptions {
  provider: V2Provider;
  /** Absent: no token asked for (a server bound to loopback only, as REST's --no-auth). */
  auth?: AuthOptions;
  serverName?: string;
  /** Largest message, bytes (default 16 MiB, as REST bodies). */
  maxMessageBytes?: number;
}

export interface V2GrpcServer {
  port: number;
  close(): Promise<void>;
}

/** Starts the service on `host:port` (port 0: any free one). */
export async function startV2GrpcServer(host: string, port: number, options: V2GrpcOptions): Promise<V2GrpcServer> {
  const definition = protoLoader.loadSync(path.join(PROJECT_ROOT, "gpu-agent", "grpc", "inference.proto"), { keepCase: true, longs: String, enums: String, defaults: true, arrays: true });
  const service = (grpc.loadPackageDefinition(definition).inference as unknown as { GRPCInferenceService: { service: grpc.ServiceDefinition } }).GRPCInferenceService.service;
  const tokens = options.auth ? new TokenTable(options.auth) : undefined;
  const { provider } = options;

  const authorised = (metadata: grpc.Metadata): CallError | undefined => {
    if (!tokens) return undefined;
    const header = metadata.get("authorization")[0];
    const token = bearer(typeof header === "string" ? header : undefined);
    if (!token) return new CallError(grpc.status.UNAUTHENTICATED, `this server needs a token: send the metadata authorization: Bearer <token> (${options.auth?.tokenHint ?? "the token it was started with"})`);
    return tokens.roleOf(token) ? undefined : new CallError(grpc.status.UNAUTHENTICATED, "wrong token");
  };
  // Every method: the token first, then the work; errors become the call's status.
  const unary = <Req, Res>(work: (request: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> =>
    (call, callback) => {
      const refused = authorised(call.metadata);
      if (refused) return callback({ code: refused.code, details: refused.message });
      work(call.request).then(
        (res) => callback(null, res),
        (err) => {
          const e = asCallError(err);
          callback({ code: e.code, details: e.message });
        },
      );
    };

  const server = new grpc.Server({ "grpc.max_receive_message_length": options.maxMessageBytes ?? 16 * 1024 * 1024 });
  server.addService(service, {
    ServerLive: unary(async () => ({ live: true })),
    ServerReady: unary(async () => ({ ready: true })),
    ServerMetadata: unary(async () => ({ name: options.serverName ?? "evoflow", version: "1", extensions: provider.repository ? ["model_repository"] : [] })),
    ModelReady: unary(async (req: { name: string; version: string }) => ({ ready: (await provider.metadata(req.name, req.version || undefined)) !== undefined })),
    ModelMetadata: unary(async (req: { name: string; version: string }) => {
      const meta = await provider.metadata(req.name, req.version || undefined);
      if (!meta) throw new CallError(grpc.status.NOT_FOUND, `model ${req.name}${req.version ? ` version ${req.version}` : ""} not found`);
      return meta;
    }),
    ModelInfer: unary(async (req: InferRequest) => {
      const inputs = decodeInputs(req);
      const asked = req.outputs.length ? req.outputs.map((o) => o.name) : undefined;
      const result = await provider.infer(req.model_name, req.model_version || undefined, inputs, asked);
      if (!result) throw new CallError(grpc.status.NOT_FOUND, `model ${req.model_name}${req.model_version ? ` version ${req.model_version}` : ""} not found`);
      return {
        model_name: result.modelName, model_version: result.modelVersion ?? "", id: req.id,
        outputs: result.outputs.map(({ name, tensor }) => ({ name, datatype: V2_DATATYPE[tensor.dtype], shape: tensor.shape.map(String) })),
        raw_output_contents: result.outputs.map(({ tensor }) => {
          const bytes = tensorBytes(tensor);
          return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        }),
      };
    }),
  });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host.includes(":") ? `[${host}]` : host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port: bound,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
