/**
 * Agents as a service over NATS (`evoflow agent --nats URL`).
 *
 * - Each agent (`NatsAgent`, beside its ModelHost) announces itself on
 *   `evoflow.agents.announce` every `announceMs` and whenever its resident set
 *   changes: id, budget, free memory, assigned memory and its models with their state.
 *   It answers `evoflow.agents.discover` with the same announcement, and serves
 *   `evoflow.agent.<id>.assign|infer|retire` by request/reply.
 * - The scheduler (`NatsModels`, the `models` service of a runtime whose models run
 *   on agents) keeps the table of agents. A request for `name@version` goes to an
 *   agent where it is resident, else to one it is assigned to, else the model is
 *   placed on the agent with the most unassigned memory (budget − assigned, which is
 *   negative once overcommitted) and then sent there. An agent that stops answering
 *   (no responders, timeout) is dropped and the request is placed again elsewhere.
 * - Artifacts are not sent over NATS: an agent fetches an assigned version from its
 *   own artifact source (the registry it was started with) into its local cache.
 * - Payloads are CBOR (cbor-x), so tensors stay typed arrays on the wire.
 */
import { randomBytes } from "node:crypto";
import { Encoder } from "cbor-x";
import { RequestError, TimeoutError, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import type { Tensor } from "../sdk/ports";
import type { ModelRegistry, VersionRef } from "../sdk/registry";
import { CapacityError, ModelHost, ModelNotFoundError } from "./host";
import type { ModelInfo } from "./host-types";
import type { ModelDescription, ModelService } from "./service";
import { VersionResolver } from "./service";
import { TensorInputError } from "./tensors";

// Plain maps, no shared record structures: each message must decode on its own.
const cbor = new Encoder({ useRecords: false, mapsAsObjects: true });
const encode = (value: unknown): Uint8Array => cbor.encode(value);
const decode = <T>(bytes: Uint8Array): T => cbor.decode(bytes) as T;

export const SUBJECTS = {
  announce: "evoflow.agents.announce",
  discover: "evoflow.agents.discover",
  agent: (id: string, what: "assign" | "infer" | "retire") => `evoflow.agent.${id}.${what}`,
};

export interface AgentAnnouncement {
  id: string;
  backend: string;
  device: string;
  memoryBytes: number;
  freeBytes: number;
  assignedBytes: number;
  models: { name: string; version: number; state: ModelInfo["state"]; memoryBytes: number }[];
  /** The agent is shutting down. */
  gone?: boolean;
  ts: number;
}

type ErrorKind = "not_found" | "input" | "capacity" | "internal";
type Reply<T> = { ok: T } | { error: { kind: ErrorKind; message: string } };

function errorReply(err: unknown): Reply<never> {
  const kind: ErrorKind =
    err instanceof ModelNotFoundError ? "not_found" : err instanceof TensorInputError ? "input" : err instanceof CapacityError ? "capacity" : "internal";
  return { error: { kind, message: err instanceof Error ? err.message : String(err) } };
}

function unwrap<T>(reply: Reply<T>): T {
  if ("ok" in reply) return reply.ok;
  const { kind, message } = reply.error;
  if (kind === "not_found") throw new ModelNotFoundError(message);
  if (kind === "input") throw new TensorInputError(message);
  if (kind === "capacity") throw new CapacityError(message);
  throw new Error(message);
}

export interface NatsAgentOptions {
  id?: string;
  announceMs?: number;
}

/** Puts a ModelHost on NATS. */
export class NatsAgent {
  readonly id: string;
  private readonly subs: Subscription[] = [];
  private timer?: NodeJS.Timeout;
  private pendingAnnounce = false;
  private stopped = false;
  private readonly onChange = () => this.announceSoon();

  constructor(private readonly nc: NatsConnection, private readonly host: ModelHost, options: NatsAgentOptions = {}) {
    this.id = options.id ?? `agent-${randomBytes(4).toString("hex")}`;
    if (!/^[A-Za-z0-9_-]+$/.test(this.id)) throw new Error(`agent id "${this.id}" must be letters, digits, "_" or "-" (it is part of NATS subjects)`);
    this.timer = setInterval(() => this.announce(), options.announceMs ?? 1000);
    this.timer.unref();
  }

  announcement(gone = false): AgentAnnouncement {
    const s = this.host.status();
    return {
      id: this.id, backend: s.backend, device: s.device, memoryBytes: s.memoryBytes, freeBytes: s.freeBytes, assignedBytes: s.assignedBytes,
      models: s.models.map((m) => ({ name: m.name, version: m.version, state: m.state, memoryBytes: m.memoryBytes })),
      gone: gone || undefined, ts: Date.now(),
    };
  }

  private announce(gone = false): void {
    if (this.stopped && !gone) return;
    try {
      this.nc.publish(SUBJECTS.announce, encode(this.announcement(gone)));
    } catch {
      // connection closed or reconnecting: the next announcement tells the truth
    }
  }

  /** Coalesces bursts of loads and evictions into one announcement. */
  private announceSoon(): void {
    if (this.pendingAnnounce) return;
    this.pendingAnnounce = true;
    setImmediate(() => {
      this.pendingAnnounce = false;
      this.announce();
    });
  }

  async start(): Promise<void> {
    const serve = <T, R>(subject: string, handle: (request: T) => Promise<R>) =>
      this.subs.push(
        this.nc.subscribe(subject, {
          callback: (_err, msg) => {
            void (async () => {
              let reply: Reply<R>;
              try {
                reply = { ok: await handle(decode<T>(msg.data)) };
              } catch (err) {
                reply = errorReply(err);
              }
              msg.respond(encode(reply));
            })();
          },
        }),
      );
    serve<{ name: string; version: number; warm?: boolean }, ModelInfo>(SUBJECTS.agent(this.id, "assign"), async ({ name, version, warm }) => {
      const info = await this.host.ensureAssigned(name, version);
      if (warm) await this.host.warm(name, version);
      this.announceSoon();
      return warm ? this.host.get(name, version)! : info;
    });
    serve<{ name: string; version: number; inputs: Record<string, Tensor>; outputs?: string[] }, Record<string, Tensor>>(
      SUBJECTS.agent(this.id, "infer"),
      ({ name, version, inputs, outputs }) => this.host.infer(name, version, inputs, outputs ?? undefined),
    );
    serve<{ name: string; version: number }, boolean>(SUBJECTS.agent(this.id, "retire"), async ({ name, version }) => {
      this.host.retire(name, version);
      return true;
    });
    this.subs.push(this.nc.subscribe(SUBJECTS.discover, { callback: (_err, msg) => void msg.respond(encode(this.announcement())) }));
    this.host.on("load", this.onChange);
    this.host.on("unload", this.onChange);
    await this.nc.flush();
    this.announce();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.host.off("load", this.onChange);
    this.host.off("unload", this.onChange);
    for (const s of this.subs.splice(0)) s.unsubscribe();
    this.announce(true);
    await this.nc.flush().catch(() => undefined);
  }
}

export interface NatsModelsOptions {
  registry?: ModelRegistry;
  /** Per request to an agent; a model load counts in it. Default 30 s. */
  requestTimeoutMs?: number;
  /** Agents silent for longer are dropped. Default 5 s. */
  agentTtlMs?: number;
}

interface KnownAgent extends AgentAnnouncement {
  seen: number;
}

/** The scheduler and client: the `models` service for models that run on agents over NATS. */
export class NatsModels implements ModelService {
  private readonly agents = new Map<string, KnownAgent>();
  /** Where this scheduler placed each model (until announcements show it). */
  private readonly placed = new Map<string, string>();
  private readonly placing = new Map<string, Promise<{ agent: string; info: ModelInfo }>>();
  private readonly described = new Map<string, ModelDescription>();
  private readonly resolver: VersionResolver;
  private sub?: Subscription;
  private readonly timeoutMs: number;
  private readonly ttlMs: number;

  constructor(private readonly nc: NatsConnection, private readonly options: NatsModelsOptions = {}) {
    this.timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.ttlMs = options.agentTtlMs ?? 5_000;
    this.resolver = new VersionResolver(options.registry, (name) => this.versionsOnAgents(name));
  }

  async start(): Promise<void> {
    this.sub = this.nc.subscribe(SUBJECTS.announce, { callback: (_err, msg) => this.learn(decode<AgentAnnouncement>(msg.data)) });
    await this.discover();
  }

  /** Asks every agent to announce itself now (gathering replies for up to `waitMs`). */
  async discover(waitMs = 300): Promise<void> {
    try {
      const replies = await this.nc.requestMany(SUBJECTS.discover, encode({}), { maxWait: waitMs });
      for await (const msg of replies) this.learn(decode<AgentAnnouncement>(msg.data));
    } catch {
      // no agent answered yet: they announce themselves when they come
    }
  }

  private learn(a: AgentAnnouncement): void {
    if (a.gone) {
      this.forget(a.id);
      return;
    }
    this.agents.set(a.id, { ...a, seen: Date.now() });
  }

  private forget(id: string): void {
    this.agents.delete(id);
    for (const [key, agent] of this.placed) if (agent === id) this.placed.delete(key);
  }

  private live(): KnownAgent[] {
    const now = Date.now();
    for (const a of this.agents.values()) if (now - a.seen > this.ttlMs) this.forget(a.id);
    return [...this.agents.values()];
  }

  agentsStatus(): AgentAnnouncement[] {
    return this.live().map(({ seen: _seen, ...a }) => a);
  }

  private versionsOnAgents(name: string): number[] {
    const versions = new Set<number>();
    for (const a of this.live()) for (const m of a.models) if (m.name === name) versions.add(m.version);
    return [...versions].sort((a, b) => a - b);
  }

  private async request<T>(agent: string, what: "assign" | "infer" | "retire", body: unknown): Promise<T> {
    const msg = await this.nc.request(SUBJECTS.agent(agent, what), encode(body), { timeout: this.timeoutMs });
    return unwrap(decode<Reply<T>>(msg.data));
  }

  /** The agent to send `name@version` to, placing the model when no agent has it. */
  private async agentFor(name: string, version: number): Promise<string> {
    const key = ModelHost.key(name, version);
    const agents = this.live();
    const holding = (state?: ModelInfo["state"]) =>
      agents.filter((a) => a.models.some((m) => m.name === name && m.version === version && (!state || m.state === state)));
    const resident = holding("resident");
    if (resident.length) return resident[Math.floor(Math.random() * resident.length)].id;
    const mine = this.placed.get(key);
    if (mine && this.agents.has(mine)) return mine;
    const assigned = holding();
    if (assigned.length) return assigned[0].id;
    return (await this.place(name, version)).agent;
  }

  /** Places a model on the agent with the most unassigned memory (one placement per model at a time). */
  private place(name: string, version: number, excluding?: string): Promise<{ agent: string; info: ModelInfo }> {
    const key = ModelHost.key(name, version);
    let pending = this.placing.get(key);
    if (!pending) {
      pending = (async () => {
        const candidates = this.live().filter((a) => a.id !== excluding).sort((a, b) => b.memoryBytes - b.assignedBytes - (a.memoryBytes - a.assignedBytes));
        if (!candidates.length) throw new CapacityError(`no agent is available on NATS to serve model ${key}`);
        const agent = candidates[0];
        const info = await this.request<ModelInfo>(agent.id, "assign", { name, version });
        // Count it now, so the next placement sees this agent's memory as taken before its next announcement.
        agent.assignedBytes += info.memoryBytes;
        agent.models.push({ name, version, state: info.state, memoryBytes: info.memoryBytes });
        this.placed.set(key, agent.id);
        return { agent: agent.id, info };
      })().finally(() => this.placing.delete(key));
      this.placing.set(key, pending);
    }
    return pending;
  }

  /** Retries once on another agent when the chosen one is gone (no responders, timeout). */
  private async withAgent<T>(name: string, version: number, work: (agent: string) => Promise<T>): Promise<T> {
    const agent = await this.agentFor(name, version);
    try {
      return await work(agent);
    } catch (err) {
      const gone = (err instanceof RequestError && err.isNoResponders()) || err instanceof TimeoutError || (err as Error).cause instanceof TimeoutError;
      if (!gone) throw err;
      this.forget(agent);
      const retry = await this.place(name, version, agent);
      return work(retry.agent);
    }
  }

  resolve(name: string, ref: VersionRef): Promise<number> {
    return this.resolver.resolve(name, ref);
  }

  async describe(name: string, version: number): Promise<ModelDescription> {
    const key = ModelHost.key(name, version);
    const cached = this.described.get(key);
    if (cached) return cached;
    const info = await this.withAgent(name, version, (agent) => this.request<ModelInfo>(agent, "assign", { name, version }));
    const d = { name, version, inputs: info.inputs, outputs: info.outputs, resident: info.state === "resident" };
    this.described.set(key, d);
    return d;
  }

  infer(name: string, version: number, inputs: Record<string, Tensor>, outputs?: string[]): Promise<Record<string, Tensor>> {
    return this.withAgent(name, version, (agent) => this.request<Record<string, Tensor>>(agent, "infer", { name, version, inputs, outputs }));
  }

  watchChampion(name: string, listener: (version: number | undefined) => void): () => void {
    return this.resolver.watchChampion(name, listener);
  }

  retire(name: string, version: number): void {
    for (const a of this.live())
      if (a.models.some((m) => m.name === name && m.version === version)) void this.request(a.id, "retire", { name, version }).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.sub?.unsubscribe();
    this.resolver.close();
  }
}
