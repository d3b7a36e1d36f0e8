/**
 * `evoflow agent`: a standalone model-hosting process (gpu-agent/) with its own
 * Open Inference Protocol server, and on NATS when given `--nats`.
 *
 * Its HTTP port takes whole models (Triton's repository load), so it has the runtime's
 * access checks (runtime/api/auth.ts): Host, Origin and content type always, and a token
 * (`--token`, else EVOFLOW_AGENT_TOKEN) when one is given. Beyond loopback a token is
 * required — the agent will not start without one, as `run` refuses `--no-auth` there.
 */
import { existsSync } from "node:fs";
import { totalmem } from "node:os";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { connect } from "@nats-io/transport-node";
import {
  formatSize,
  loadAgentServer,
  loadV2GrpcServer,
  modelsV2Provider,
  loadNatsAgent,
  LocalModels,
  ByFormat,
  IdleProfiler,
  ModelHost,
  OnnxRuntimeBackend,
  parseSize,
  PythonModelsBackend,
  TritonBackend,
  type Backend,
  type NatsAgent,
} from "../../gpu-agent";
import type { GuardOptions } from "../api/auth";
import { defaultRegistryDir, FsModelRegistry } from "../registry/fs";
import { isLoopback } from "./loopback";

interface AgentOptions {
  grpcPort?: string;
  memory?: string;
  backend: string;
  tritonUrl?: string;
  tritonToken?: string;
  port: string;
  host: string;
  token?: string;
  allowHost: string[];
  openMetrics?: boolean;
  nats?: string;
  id?: string;
  registry?: string;
  cache: string;
  waitTimeout: string;
  intraOpThreads: string;
  allowExec?: boolean;
  python?: string;
  workers: string;
  prepackWeights: string;
  memoryArena: string;
  concurrentLoads: string;
  loadPriority: string;
  idleProfile: boolean;
  profileIdleBelow: string;
}

/**
 * Half of what the process may still use, rounded down to whole MB: the other half is left for
 * the agent itself (onnxruntime's arenas, request buffers) and its neighbours, since models
 * over budget are swapped rather than refused. libuv's figure already accounts for a cgroup
 * limit (v1 or v2): within a container, the limit less what is used, when that is below free memory.
 */
function defaultMemoryBudget(): { bytes: number; why: string } {
  const available = process.availableMemory();
  const limit = process.constrainedMemory();
  const limited = limit > 0 && limit < totalmem();
  const bytes = Math.max(1, Math.floor(available / 2 / 1e6)) * 1e6;
  const source = limited ? `within the cgroup's ${formatSize(limit)} limit` : "free memory; no cgroup limit";
  return { bytes, why: `half of the ${formatSize(available)} available at start (${source})` };
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function register(program: Command): void {
  program
    .command("agent")
    .description("host many models within a memory budget (overcommit, LRU swapping) behind the Open Inference Protocol; on NATS with --nats")
    .option("--memory <size>", "memory budget for resident models, e.g. 512MB or 4GiB (default: half the memory available at start, within the cgroup's limit)")
    .option("--backend <name>", "onnxruntime (in-process, CUDA when present) or triton", "onnxruntime")
    .option("--triton-url <url>", "Triton's HTTP endpoint, for --backend triton (explicit model control)")
    .option("--triton-token <token>", "bearer token for --triton-url, e.g. another agent's --token (default: $EVOFLOW_TRITON_TOKEN)")
    .option("--port <n>", "HTTP port for /v2, /api/agent and /metrics (0 picks a free one)", "8001")
    .option("--host <host>", "address to listen on; beyond loopback a token is required", "127.0.0.1")
    .option("--grpc-port <n>", "also serve the Open Inference Protocol over gRPC (KServe's GRPCInferenceService) on this port, same token")
    .option("--token <token>", "token every HTTP client must send as Authorization: Bearer (operator: infer, load, unload); default $EVOFLOW_AGENT_TOKEN, which stays out of `ps`. Optional on loopback, required beyond it")
    .option("--allow-host <name>", "also answer to this Host name, e.g. the name runtimes use to reach this agent (repeatable; * turns the check off)", collect, [])
    .option("--open-metrics", "let /metrics be scraped without the token")
    .option("--nats <url>", "join the agents on this NATS server: announce, and serve the scheduler's requests")
    .option("--id <id>", "agent id on NATS (default: random)")
    .option("--registry <dir>", "registry the artifacts come from (default: $EVOFLOW_REGISTRY or .evoflow/registry when it exists)")
    .option("--cache <dir>", "local artifact cache", ".evoflow/agent-cache")
    .option("--wait-timeout <ms>", "longest a load waits for an in-flight model to free room", "30000")
    .option("--workers <n>", "run sessions in up to this many worker threads, so a load does not stall requests to resident models; one more than the models that fit keeps every load in a worker of its own (0: in the main thread)", "0")
    .option("--concurrent-loads <n>", "model loads running at once (each takes a core while it runs)", "1")
    .option("--load-priority <class>", "CPU priority of a load in a session worker: idle (Linux's idle scheduling class for up to 25 ms, then nice 19, so requests to resident models get the cores first; nice 19 where the class is unavailable), nice (nice 19 only: keeps more of a share next to other processes' background work) or normal", "idle")
    .option("--prepack-weights <when>", "onnxruntime's weight packing on load: always, never, or auto (unless more models are assigned than fit). Unpacked loads are about 3.5 times as fast and batches of 16 about 2.4 times as slow", "auto")
    .option("--memory-arena <when>", "onnxruntime's CPU memory arena and memory pattern: always, never, or auto (unless more models are assigned than fit: an agent that swaps would allocate and free an arena at every swap)", "auto")
    .option("--allow-exec", "also host sklearn (joblib/pickle) and python (model.py) models in Python workers: loading one runs its code, so only for a registry you trust")
    .option("--python <interpreter>", "the interpreter of those workers (default $EVOFLOW_PYTHON, else python3)")
    .option("--profile-idle-below <share>", "profile registered models that have no profile yet (p50/p95/p99 per batch size, stored in the registry for the model card) while the agent's utilisation — the share of the last 5 s with a request in flight — is under this (0-1); pauses when requests arrive", "0.4")
    .option("--no-idle-profile", "do not profile models while idle")
    .option("--intra-op-threads <n>", "onnxruntime threads per session (1 suits many small models; 0 = onnxruntime's default)", "1")
    .action(async (opts: AgentOptions) => {
      const fail = (message: string): never => {
        process.stderr.write(`${message}\n`);
        process.exit(2);
      };
      // Refused before anything loads: an agent reachable from the network takes models from anyone without a token.
      const token = opts.token ?? (process.env.EVOFLOW_AGENT_TOKEN || undefined);
      if (!token && !isLoopback(opts.host))
        fail(`refusing to listen on ${opts.host} without a token: anyone who can reach it could load models and use them. Give --token (or EVOFLOW_AGENT_TOKEN), or listen on 127.0.0.1`);
      const access: GuardOptions = {
        auth: token ? { tokens: { [token]: "operator" }, openMetrics: opts.openMetrics, tokenHint: "the token the agent was started with: --token or EVOFLOW_AGENT_TOKEN" } : undefined,
        allowHosts: opts.allowHost,
        boundHost: opts.host,
      };
      if (opts.allowHost.includes("*")) process.stderr.write("warning: --allow-host * turns the Host check off: a DNS-rebinding page can reach this agent\n");
      let memoryBytes = 0;
      if (opts.memory === undefined) {
        const budget = defaultMemoryBudget();
        memoryBytes = budget.bytes;
        process.stdout.write(`memory budget ${formatSize(memoryBytes)}, ${budget.why}; --memory sets another\n`);
      } else
        try {
          memoryBytes = parseSize(opts.memory);
        } catch (err) {
          fail((err as Error).message);
        }
      let backend: Backend;
      const concurrentLoads = Number(opts.concurrentLoads);
      if (!Number.isInteger(concurrentLoads) || concurrentLoads < 1) fail(`--concurrent-loads must be a whole number ≥ 1, got "${opts.concurrentLoads}"`);
      const loadPriority = opts.loadPriority as "idle" | "nice" | "normal";
      if (!["idle", "nice", "normal"].includes(loadPriority)) fail(`--load-priority must be idle, nice or normal, got "${opts.loadPriority}"`);
      const whenChoices = { always: true, never: false, auto: "auto" } as const;
      const when = (flag: string, value: string) => {
        if (!Object.hasOwn(whenChoices, value)) fail(`${flag} must be always, never or auto, got "${value}"`);
        return whenChoices[value as keyof typeof whenChoices];
      };
      const idleBelow = Number(opts.profileIdleBelow);
      if (!(idleBelow > 0 && idleBelow <= 1)) fail(`--profile-idle-below must be a share between 0 and 1 (e.g. 0.4), got "${opts.profileIdleBelow}"`);
      const prepackWeights = when("--prepack-weights", opts.prepackWeights);
      const memoryArena = when("--memory-arena", opts.memoryArena);
      if (opts.backend === "onnxruntime")
        backend = new OnnxRuntimeBackend({ intraOpThreads: Number(opts.intraOpThreads), workers: Number(opts.workers), prepackWeights, memoryArena, loadPriority, log: (m) => process.stderr.write(`warn: ${m}\n`) });
      else if (opts.backend === "triton") backend = new TritonBackend({ url: opts.tritonUrl ?? fail("--backend triton needs --triton-url"), token: opts.tritonToken ?? (process.env.EVOFLOW_TRITON_TOKEN || undefined) });
      else return fail(`unknown backend "${opts.backend}" (use onnxruntime or triton)`);
      if (opts.allowExec) backend = new ByFormat([backend, new PythonModelsBackend({ allowExec: true, interpreter: opts.python || process.env.EVOFLOW_PYTHON || undefined, log: (m) => process.stderr.write(`${m}\n`) })]);

      const registryDir = opts.registry ?? (process.env.EVOFLOW_REGISTRY || existsSync(defaultRegistryDir()) ? defaultRegistryDir() : undefined);
      const registry = registryDir ? new FsModelRegistry(resolve(registryDir)) : undefined;
      const host = new ModelHost({
        backend,
        memoryBytes,
        cacheDir: resolve(opts.cache),
        source: registry && LocalModels.registrySource(registry),
        waitTimeoutMs: Number(opts.waitTimeout),
        maxConcurrentLoads: concurrentLoads,
      });
      const models = new LocalModels(host, registry);
      // The profiles go to the registry: without one there is nowhere to keep them.
      const profiler = registry && opts.idleProfile ? new IdleProfiler({ host, registry, idleBelow, agentId: opts.id, log: (m) => process.stderr.write(`${m}\n`) }) : undefined;

      let natsAgent: NatsAgent | undefined;
      const nc = opts.nats ? await connect({ servers: opts.nats, name: "evoflow-agent" }).catch((err: Error) => fail(`cannot reach NATS at ${opts.nats}: ${err.message}`)) : undefined;
      if (nc) {
        natsAgent = new (await loadNatsAgent())(nc, host, { id: opts.id });
        await natsAgent.start();
      }
      // What /v2 metadata lists as a model's versions, over REST and gRPC alike.
      const versions = registry ? async (name: string) => (await registry.versions(name)).map((v) => v.version) : undefined;
      const app = await (await loadAgentServer())({
        models, host,
        versions,
        profiler,
        status: () => ({ id: natsAgent?.id, nats: opts.nats, registry: registryDir && resolve(registryDir) }),
        access,
      });
      const address = await app.listen({ port: Number(opts.port), host: opts.host });
      process.stdout.write(
        `evoflow agent${natsAgent ? ` ${natsAgent.id}` : ""} listening on ${address} (backend ${backend.kind} on ${backend.device}, memory ${formatSize(memoryBytes)}` +
          `${registryDir ? `, registry ${join(resolve(registryDir))}` : ""}${opts.nats ? `, nats ${opts.nats}` : ""}${profiler ? `, idle profiling under ${Math.round(idleBelow * 100)}%` : ""})\n`,
      );
      profiler?.start();
      const grpc = opts.grpcPort === undefined ? undefined : await (await loadV2GrpcServer())(opts.host, Number(opts.grpcPort), {
        provider: modelsV2Provider(models, { host, versions }),
        auth: access.auth,
        serverName: "evoflow-agent",
      });
      if (grpc) process.stdout.write(`  grpc: ${opts.host}:${grpc.port} (inference.GRPCInferenceService)\n`);
      // Where the token came from, never the token itself.
      process.stdout.write(token ? `  token: from ${opts.token ? "--token" : "EVOFLOW_AGENT_TOKEN"}\n` : "  no token asked for (loopback only): any local user can load models; --token adds one\n");
      const shutdown = async () => {
        await profiler?.stop();
        await natsAgent?.stop();
        await grpc?.close();
        await app.close();
        await models.close();
        await nc?.close();
        await registry?.close();
        process.exit(0);
      };
      process.once("SIGINT", shutdown);
      process.once("SIGTERM", shutdown);
    });
}
