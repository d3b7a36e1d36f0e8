// transform.function's JavaScript, compiled for a sandbox: a node:vm context of its own, with
// the code instrumented so it reads a clock at every loop iteration and function entry (loop
// protection as JSBin and CodePen do, with acorn). Used on the runtime's thread and in the
// worker (function-worker.mjs); types in function-sandbox.d.mts.
//
// Why instrumentation rather than vm's `timeout`: that option starts a watchdog thread per call
// (tens of us), and it cannot end a promise that never settles anyway. A check is a counter
// most of the time; the clock and the heap are read every CHECK_EVERY calls (~0.2 us).
//
// Nothing of the host's realm reaches the code: payloads and state are copied into the
// context's own objects (a host object's `constructor.constructor` would be the host's
// Function, hence `process`), the code sees only functions made inside the context, and string
// compilation (eval, new Function) is off there, so no uninstrumented code can run. With
// `libs` (which needs the exec capability) the code gets a `require` of those packages only,
// and is trusted as any code the exec capability runs.
import { createRequire } from "node:module";
import vm from "node:vm";
import v8 from "node:v8";
import * as acorn from "acorn";
import * as walk from "acorn-walk";
import { UserCodeLimitError, formatCount } from "./limits.mjs";

const TICK = "__evoflowTick";
const CHECK_EVERY = 8;
const WRAP_HEAD = "(async function (payload, ctx) {\n";

/** Parses the node's code as the body of an async function; throws a SyntaxError with the code's own line and column. */
function parse(code) {
  try {
    return acorn.parse(`${WRAP_HEAD}${code}\n})`, { ecmaVersion: "latest", sourceType: "script", locations: true });
  } catch (err) {
    const end = err.pos >= WRAP_HEAD.length + code.length;
    const where = end ? " (at the end of the code)" : err.loc ? ` (line ${err.loc.line - 1}, column ${err.loc.column + 1})` : "";
    throw new SyntaxError(`${err.message.replace(/ \(\d+:\d+\)$/, "")}${where}`);
  }
}

/** Thrown when a run went on past `overrunMs` before any effect: its caller runs it again elsewhere, from the start. */
export class MoveToWorker extends Error {}

const isThenable = (v) => v !== null && (typeof v === "object" || typeof v === "function") && typeof v.then === "function";

/** Whether the body awaits (outside functions of its own): only then is it wrapped in an async function. */
function awaits(ast) {
  let found = false;
  const root = ast.body[0].expression;
  walk.recursive(root.body, null, {
    Function() {}, // a nested function's awaits are its own
    AwaitExpression() {
      found = true;
    },
    ForOfStatement(node, st, c) {
      if (node.await) found = true;
      walk.base.ForOfStatement(node, st, c);
    },
  });
  return found;
}

/** The code with a tick at the start of every loop body and function body. */
export function instrument(code) {
  const source = `${WRAP_HEAD}${code}\n})`;
  const ast = parse(code);
  const inserts = []; // [position, text]
  const loop = (node) => {
    const body = node.body;
    if (body.type === "BlockStatement") inserts.push([body.start + 1, `${TICK}();`]);
    else inserts.push([body.start, `{${TICK}();`], [body.end, "}"]);
  };
  const fn = (node) => {
    const body = node.body;
    if (body.type === "BlockStatement") inserts.push([body.start + 1, `${TICK}();`]);
    else inserts.push([body.start, `(${TICK}(), `], [body.end, ")"]);
  };
  walk.full(ast, (node) => {
    if (node.type === "Identifier" && node.name.startsWith("__evoflow")) throw new SyntaxError(`names starting with __evoflow are reserved (line ${node.loc.start.line - 1})`);
    if (/^(While|DoWhile|For|ForIn|ForOf)Statement$/.test(node.type)) loop(node);
    else if (/^(FunctionDeclaration|FunctionExpression|ArrowFunctionExpression)$/.test(node.type)) fn(node);
  });
  inserts.sort((a, b) => b[0] - a[0]);
  let out = source;
  for (const [at, text] of inserts) out = out.slice(0, at) + text + out.slice(at);
  // A body that never awaits runs as a plain function: no promise per message.
  return awaits(ast) ? out : `(function${out.slice("(async function".length)}`;
}

/**
 * A deep copy of plain data (objects, arrays, typed arrays, dates) made of `realm`'s builtins,
 * held as locals: evaluated once on each side of the sandbox. Inside a vm context every global
 * name is looked up through the context's interceptor, which made a copy several times slower.
 */
function makeCopyData(realm) {
  const { Array, ArrayBuffer, Date, Error, Object } = realm;
  const { isArray } = Array;
  const { isView } = ArrayBuffer;
  const { keys } = Object;
  const toString = Object.prototype.toString;
  const getTime = Date.prototype.getTime;
  const copyData = (value, depth = 0) => {
    if (value === null || typeof value !== "object") return typeof value === "function" ? undefined : value;
    if (depth > 200) throw new Error("value nested deeper than 200 levels (a cycle?)");
    if (isArray(value)) {
      const out = new Array(value.length);
      for (let i = 0; i < value.length; i++) out[i] = copyData(value[i], depth + 1);
      return out;
    }
    if (isView(value)) {
      const Ctor = realm[toString.call(value).slice(8, -1)];
      return typeof Ctor === "function" ? new Ctor(value) : undefined;
    }
    if (toString.call(value) === "[object Date]") return new Date(getTime.call(value));
    const out = {};
    for (const key of keys(value)) {
      const v = copyData(value[key], depth + 1);
      if (v !== undefined) out[key] = v;
    }
    return out;
  };
  return copyData;
}

const copyData = makeCopyData(globalThis);

// Runs inside the context: the code's clock, its ctx and the bridge to the host, in a closure the
// user's code cannot reach. Everything it hands the code is of the context's realm.
const BOOTSTRAP = `(function (host, copyData) {
  "use strict";
  let calls = 0, deadline = -Infinity, overrunAt = Infinity, heapLimit = Infinity, tripped = null;
  const fail = (message) => { const err = new Error(message); err.name = "UserCodeLimitError"; return err; };
  Object.defineProperty(globalThis, "${TICK}", { value: function () {
    if (tripped) throw fail(tripped.message);
    if (++calls % ${CHECK_EVERY} !== 0) return;
    if (deadline === -Infinity) throw fail("the message this code ran for is handled already: its code may not run on");
    const now = host.now();
    if (now > deadline) { tripped = host.trip("time"); throw fail(tripped.message); }
    if (now > overrunAt) { tripped = host.trip("overrun"); throw fail(tripped.message); }
    if (host.heapUsed() > heapLimit) { tripped = host.trip("memory"); throw fail(tripped.message); }
  } });
  const text = (args) => args.map((a) => (typeof a === "string" ? a : (() => { try { return JSON.stringify(a); } catch { return String(a); } })())).join(" ");
  const log = (...args) => host.log("info", text(args));
  for (const level of ["debug", "info", "warn", "error"]) log[level] = (...args) => host.log(level, text(args));
  return {
    copyIn: copyData,
    /** Sets the clock for the calls running now; a tripped limit stays tripped until reset. */
    limits(d, overrun, heap) { deadline = d; overrunAt = overrun; heapLimit = heap; if (d !== -Infinity) tripped = null; },
    /** Once the run had an effect (an emit, a log) it cannot start over elsewhere: it runs on here to its deadline. */
    stay() { overrunAt = Infinity; },
    ctx(state) {
      return Object.freeze({
        state,
        log,
        emit(port, payload) {
          const sent = host.emit(String(port), payload);
          return new Promise((resolve, reject) => { sent.then(() => resolve(), (e) => reject(new Error(String(e && e.message || e)))); });
        },
      });
    },
  };
})`;

/**
 * Compiles `code` for one sandbox. `hooks` are called by the code: `emit(port, payload)` (a
 * promise) and `log(level, text)`; `libs` are the package names `require` may load, from `requireFrom`.
 */
export function compileFunction(code, { libs = [], requireFrom, what = "JavaScript function" } = {}) {
  const script = new vm.Script(instrument(code), { filename: "transform.function.js" });
  const global = Object.create(null);
  const context = vm.createContext(global, { codeGeneration: { strings: false, wasm: false } });
  let hooks = { emit: async () => {}, log: () => {} };
  let budget;
  const host = {
    now: () => performance.now(),
    heapUsed: () => v8.getHeapStatistics().used_heap_size,
    trip: (limit) => {
      budget.tripped = limit === "time"
        ? new UserCodeLimitError(`${what} exceeded its time limit of ${formatCount(budget.timeoutMs)} ms`, "time")
        : limit === "memory"
          ? new UserCodeLimitError(`${what} exceeded its memory limit of ${formatCount(budget.memoryMb)} MB`, "memory")
          : new MoveToWorker(`${what} ran over ${formatCount(budget.overrunMs)} ms on the runtime's thread`);
      return { message: budget.tripped.message };
    },
    emit: (port, payload) => {
      inside.stay();
      return hooks.emit(port, copyData(payload));
    },
    log: (level, text) => {
      inside.stay();
      hooks.log(level, text);
    },
  };
  const inside = vm.runInContext(BOOTSTRAP, context)(host, vm.runInContext(`(${makeCopyData})(globalThis)`, context));
  if (libs.length) {
    const load = createRequire(requireFrom);
    const allowed = (name) => libs.some((lib) => name === lib || name.startsWith(`${lib}/`));
    vm.runInContext("(r) => { globalThis.require = r; }", context)((name) => {
      if (!allowed(String(name))) throw new Error(`require("${name}"): not in the node's libs (${libs.join(", ")})`);
      return load(String(name));
    });
  }
  const fn = script.runInContext(context);
  let running = false;
  let heapBase = 0;
  let heapReadAt = -Infinity;

  /** Ends a run: the clock stops (code still running for it later meets a tripped clock), then `outcome` gives its result or its error. */
  const finish = (own, outcome, timer) => {
    clearTimeout(timer);
    try {
      if (own.tripped) throw own.tripped;
      return outcome();
    } catch (err) {
      throw own.tripped ?? (err instanceof Error ? err : new Error(describe(err)));
    } finally {
      inside.limits(-Infinity, Infinity, Infinity);
      running = false;
    }
  };

  return {
    /**
     * Runs the code once on `payload` with `state` (a context object from `makeState`): returns
     * its result copied out, or a promise of it when the code is async. Throws (rejects) a
     * UserCodeLimitError when it ran into a limit, else the code's own error. One run at a time
     * per compiled function: callers queue. Code without `await` runs as a plain function, with
     * no promise or timer: most per-message transforms.
     */
    run(payload, state, runHooks, limits) {
      if (running) throw new Error("one run at a time");
      running = true;
      hooks = runHooks;
      const overrunMs = limits.overrunMs ?? Infinity;
      const own = (budget = { timeoutMs: limits.label ?? limits.timeoutMs, memoryMb: limits.memoryMb, overrunMs, tripped: undefined });
      const now = performance.now();
      // The heap is read at most once a millisecond: a run's own growth is what the limit is about.
      if (now - heapReadAt > 1) {
        heapBase = v8.getHeapStatistics().used_heap_size;
        heapReadAt = now;
      }
      inside.limits(now + limits.timeoutMs, now + overrunMs, heapBase + limits.memoryMb * 2 ** 20);
      let value;
      try {
        value = fn(inside.copyIn(payload), state.ctx);
        if (!isThenable(value)) return finish(own, () => copyData(value));
      } catch (err) {
        return finish(own, () => {
          throw err;
        });
      }
      // Async code: a timer ends a promise that never settles.
      let timer;
      const never = new Promise((_, reject) => {
        timer = setTimeout(() => {
          own.tripped ??= new UserCodeLimitError(`${what} exceeded its time limit of ${formatCount(own.timeoutMs)} ms`, "time");
          reject(own.tripped);
        }, limits.timeoutMs + 1);
      });
      return Promise.race([value, never]).then(
        (settled) => finish(own, () => copyData(settled), timer),
        (err) => finish(own, () => {
          throw err;
        }, timer),
      );
    },
    /** A state object of the context's realm, from plain data (JSON, or as a worker sends it). */
    makeState(data) {
      const state = inside.copyIn(data ?? {});
      return { state, ctx: inside.ctx(state) };
    },
    /** The state as plain data of the host's realm (to save, or to send back from a worker). */
    readState(state) {
      return copyData(state.state);
    },
  };
}

/** The message of something the code threw, read defensively (a getter there is the code's). */
export function describe(err) {
  try {
    return String(err && typeof err === "object" && "message" in err ? err.message : err);
  } catch {
    return "the code threw a value that cannot be read";
  }
}
