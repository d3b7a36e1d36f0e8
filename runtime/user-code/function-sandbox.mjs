// transform.function's JavaScript, compiled for a sandbox: a node:vm context of its own, with
// the code instrumented so it reads a clock at every loop iteration and function entry (loop
// protection as JSBin and CodePen do, with acorn). Used on the runtime's thread and in the
// worker (function-worker.mjs); types in function-sandbox.d.mts.
//
// Why instrumentation rather than vm's `timeout`: that option starts a watchdog thread per call
// (tens of us), and it cannot end a promise that never settles anyway. A check is a counter
// most of the time; the clock and the heap are read every CHECK_EVERY calls (~0.2 us), and a
// run's clock starts at its first read (at its start when the code awaits): code of fewer ticks,
// most per-message transforms, never reads it.
//
// Nothing of the host's realm reaches the code: payloads and state are copied into the
// context's own objects (a host object's `constructor.constructor` would be the host's
// Function, hence `process`), the code sees only functions made inside the context, and string
// compilation (eval, new Function) is off there, so no uninstrumented code can run, and the
// bridge calls no builtin the code could have replaced there (see makeCopyData). With
// `libs` (which needs the exec capability) the code gets a `require` of those packages only,
// and is trusted as any code the exec capability runs.
import { createRequire } from "node:module";
import vm from "node:vm";
import v8 from "node:v8";
import * as acorn from "acorn";
import * as walk from "acorn-walk";
import { UserCodeLimitError, formatCount } from "./limits.mjs";
import "./regexp-fallback.mjs"; // a catastrophically backtracking regexp has no tick in it

const TICK = "__evoflowTick";
const CHECK_EVERY = 8;
const WRAP_HEAD = "(async function (payload, ctx) {\n";
// Builtins the code names are bound as locals when it is compiled: a global read in a vm context
// goes through the context's interceptor (0.3 us each measured in Node 20 at load ~10, more than
// the rest of a small transform). The one difference: after `globalThis.Math = m`, a bare `Math` is still the builtin.
const BOUND_GLOBALS = new Set(["globalThis", "Object", "Array", "JSON", "Math", "Date", "Number", "String", "Boolean", "Symbol", "BigInt", "Promise", "Map", "Set", "WeakMap", "WeakSet", "Reflect", "RegExp", "Error", "TypeError", "RangeError", "parseInt", "parseFloat", "isNaN", "isFinite", "encodeURIComponent", "decodeURIComponent", "Intl", "Uint8Array", "Int32Array", "Float32Array", "Float64Array"]);

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

/** The code with a tick at the start of every loop body and function body, whether it awaits, and the builtins it names (BOUND_GLOBALS). */
export function instrument(code) {
  const source = `${WRAP_HEAD}${code}\n})`;
  const ast = parse(code);
  const inserts = []; // [position, text]
  const named = new Set();
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
    if (node.type === "Identifier" && BOUND_GLOBALS.has(node.name)) named.add(node.name);
    if (/^(While|DoWhile|For|ForIn|ForOf)Statement$/.test(node.type)) loop(node);
    else if (/^(FunctionDeclaration|FunctionExpression|ArrowFunctionExpression)$/.test(node.type)) fn(node);
  });
  inserts.sort((a, b) => b[0] - a[0]);
  let out = source;
  for (const [at, text] of inserts) out = out.slice(0, at) + text + out.slice(at);
  // A body that never awaits runs as a plain function: no promise per message. The tick and the
  // builtins are parameters of an outer function: no global read through the context's interceptor.
  const isAsync = awaits(ast);
  const globals = [...named];
  return { source: `(function (${[TICK, ...globals].join(", ")}) { return ${isAsync ? out : `(function${out.slice("(async function".length)}`}; })`, isAsync, globals };
}

/**
 * A deep copy of plain data (objects, arrays, typed arrays, dates) made of `realm`'s builtins,
 * held as locals: evaluated once on each side of the sandbox, before any user code. Inside the
 * context, nothing is looked up when it runs (the code may have replaced a global or a method of
 * a prototype there, and would get the host's objects passed to it: `Function.prototype.call`
 * then received the payload); a global would also be looked up through the context's interceptor.
 *
 * Objects are built key by key on a fresh `{}`, so copies of one shape share a map (a transition
 * from the realm's `{}`): the code's own property reads and adds then hit V8's caches. A spread
 * or Object.assign copy costs less itself, but its map is detached and every property added to
 * it makes a new map (~1 us in Node 20). Inside the context a key is set with `=`: a setter the
 * code put on Object.prototype is handed only a primitive or a copy of the context's own.
 * `markCopies` (the context's side) gives each copy a private field no code can see: V8 11 then
 * clones it by its generic path, whose maps are shared, where the code spreads it (`{ ...payload,
 * k: 1 }`): without it, a spread followed by a key makes a new map per message.
 */
function makeCopyData(realm, markCopies) {
  const { Array, ArrayBuffer, Date, Error, Function, Object } = realm;
  const uncurry = Function.prototype.bind.bind(Function.prototype.call);
  const { isArray } = Array;
  const { isView } = ArrayBuffer;
  const { defineProperty, hasOwn } = Object;
  const tagOf = uncurry(Object.prototype.toString);
  const getTime = uncurry(Date.prototype.getTime);
  const typedArrays = Object.create(null);
  for (const name of ["Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array"])
    typedArrays[`[object ${name}]`] = realm[name];
  // A class whose constructor returns the object it is given: constructing it adds the field to that object.
  const Mark = class extends function (target) { return target; } { #copied; };
  const copyData = (value, depth = 0) => {
    if (value === null || typeof value !== "object") return typeof value === "function" ? undefined : value;
    if (depth > 200) throw new Error("value nested deeper than 200 levels (a cycle?)");
    if (isArray(value)) {
      const out = new Array(value.length);
      for (let i = 0; i < value.length; i++) out[i] = copyData(value[i], depth + 1);
      return out;
    }
    const tag = tagOf(value);
    if (isView(value)) {
      const Ctor = typedArrays[tag];
      return Ctor === undefined ? undefined : new Ctor(value);
    }
    if (tag === "[object Date]") return new Date(getTime(value));
    // Own enumerable string keys (for...in skips symbols); functions dropped, nested objects copied.
    const out = {};
    if (markCopies) new Mark(out);
    for (const key in value) {
      if (!hasOwn(value, key)) continue;
      let v = value[key];
      if (typeof v === "function") continue;
      if (v !== null && typeof v === "object") {
        v = copyData(v, depth + 1);
        if (v === undefined) continue;
      }
      // An own "__proto__" key (JSON.parse makes one) is data: `=` would set the copy's prototype.
      if (key === "__proto__") defineProperty(out, key, { __proto__: null, value: v, writable: true, enumerable: true, configurable: true });
      else out[key] = v;
    }
    return out;
  };
  return copyData;
}

const copyData = makeCopyData(globalThis, false);

// The slots of a sandbox's clock. DEADLINE is NaN from a run's start to its first clock read
// (CHECK_EVERY ticks in, the heap read then too): code of fewer ticks, most per-message
// transforms, reads no clock at all. -Infinity once the run has ended.
const DEADLINE = 0;
const OVERRUN_AT = 1; // NaN until the clock starts, Infinity once the run had an effect
const HEAP_LIMIT = 2;
const COUNTDOWN = 3; // ticks to the next clock read
const TRIPPED = 4; // 1 once a limit tripped: every later tick throws, even after code caught the first

// Runs inside the context: the code's clock, its ctx and the bridge to the host, in a closure the
// user's code cannot reach. Everything it hands the code is of the context's realm.
// `clock` (a host Float64Array, slots below) is written by the host at the start and end of a
// run: no call into the context per run.
// Every builtin it calls is taken before any user code runs (see makeCopyData: the code may
// replace globals and prototype methods, and a replaced one here would be handed host objects).
const BOOTSTRAP = `(function (host, copyData, clock) {
  "use strict";
  const { Array, Error, Function, JSON, Object, Promise, String } = globalThis;
  const uncurry = Function.prototype.bind.bind(Function.prototype.call);
  const then = uncurry(Promise.prototype.then);
  const map = uncurry(Array.prototype.map);
  const join = uncurry(Array.prototype.join);
  const { stringify } = JSON;
  const { freeze } = Object;
  const fail = (message) => { const err = new Error(message); err.name = "UserCodeLimitError"; return err; };
  const tick = function () {
    if (clock[${TRIPPED}] !== 0) throw fail(host.tripped());
    if (--clock[${COUNTDOWN}] > 0) return;
    clock[${COUNTDOWN}] = ${CHECK_EVERY};
    const deadline = clock[${DEADLINE}];
    if (deadline === -Infinity) throw fail("the message this code ran for is handled already: its code may not run on");
    if (deadline !== deadline) return host.start(); // NaN: this run's first clock read
    const now = host.now();
    if (now > deadline) throw fail(host.trip("time"));
    if (now > clock[${OVERRUN_AT}]) throw fail(host.trip("overrun"));
    if (host.heapUsed() > clock[${HEAP_LIMIT}]) throw fail(host.trip("memory"));
  };
  const text = (args) => join(map(args, (a) => (typeof a === "string" ? a : (() => { try { return stringify(a); } catch { return String(a); } })())), " ");
  const log = (...args) => host.log("info", text(args));
  for (const level of ["debug", "info", "warn", "error"]) log[level] = (...args) => host.log(level, text(args));
  return {
    tick,
    copyIn: copyData,
    /** Hands a promise of the context's own settlement to the host's callbacks (never the host's functions to a then() the code may have replaced). */
    settle(promise, onValue, onError) {
      then(promise, (v) => { onValue(v); }, (e) => { onError(e); });
    },
    ctx(state) {
      return freeze({
        state,
        log,
        emit(port, payload) {
          const sent = host.emit(String(port), payload);
          return new Promise((resolve, reject) => { sent.then(() => resolve(), (e) => reject(new Error(String((e && e.message) || e)))); });
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
  const { source, isAsync, globals } = instrument(code);
  const script = new vm.Script(source, { filename: "transform.function.js" });
  const global = Object.create(null);
  const context = vm.createContext(global, { codeGeneration: { strings: false, wasm: false } });
  let hooks = { emit: async () => {}, log: () => {} };
  let running = false;
  const budget = { timeoutMs: 0, limitMs: 0, memoryMb: 0, overrunMs: 0, tripped: undefined };
  const clock = new Float64Array(5).fill(-Infinity);
  clock[TRIPPED] = 0;
  let heapBase = 0;
  let heapReadAt = -Infinity;
  /** Starts this run's clock: at its first clock read, or at its start when it awaits. */
  const start = () => {
    const now = performance.now();
    clock[DEADLINE] = now + budget.limitMs;
    if (clock[OVERRUN_AT] !== Infinity) clock[OVERRUN_AT] = now + budget.overrunMs;
    clock[HEAP_LIMIT] = heapBase + budget.memoryMb * 2 ** 20;
  };
  /** Once the run had an effect (an emit, a log) it cannot start over elsewhere: it runs on here to its deadline. */
  const stay = () => {
    clock[OVERRUN_AT] = Infinity;
  };
  const host = {
    now: () => performance.now(),
    heapUsed: () => v8.getHeapStatistics().used_heap_size,
    start,
    tripped: () => budget.tripped.message,
    trip: (limit) => {
      budget.tripped = limit === "time"
        ? new UserCodeLimitError(`${what} exceeded its time limit of ${formatCount(budget.timeoutMs)} ms`, "time")
        : limit === "memory"
          ? new UserCodeLimitError(`${what} exceeded its memory limit of ${formatCount(budget.memoryMb)} MB`, "memory")
          : new MoveToWorker(`${what} ran over ${formatCount(budget.overrunMs)} ms on the runtime's thread`);
      clock[TRIPPED] = 1;
      return budget.tripped.message;
    },
    emit: (port, payload) => {
      if (!running) return Promise.reject(new Error(`ctx.emit("${port}") after its run ended`));
      stay();
      return hooks.emit(port, copyData(payload));
    },
    log: (level, text) => {
      if (!running) return;
      stay();
      hooks.log(level, text);
    },
  };
  const inside = vm.runInContext(BOOTSTRAP, context)(host, vm.runInContext(`(${makeCopyData})(globalThis, true)`, context), clock);
  if (libs.length) {
    const load = createRequire(requireFrom);
    const allowed = (name) => libs.some((lib) => name === lib || name.startsWith(`${lib}/`));
    vm.runInContext("(r) => { globalThis.require = r; }", context)((name) => {
      if (!allowed(String(name))) throw new Error(`require("${name}"): not in the node's libs (${libs.join(", ")})`);
      return load(String(name));
    });
  }
  // The context's own builtins, read before any of the code runs.
  const builtins = vm.runInContext(`[${globals.join(", ")}]`, context);
  const fn = script.runInContext(context)(inside.tick, ...builtins);
  const ContextPromise = vm.runInContext("Promise", context);

  /** Ends a run: the clock stops (code still running for it later meets a stopped clock). */
  const stop = () => {
    clock[DEADLINE] = -Infinity;
    running = false;
  };
  /** The error a run ends with: the limit it tripped (even if the code caught it), else its own. */
  const failed = (own, err) => {
    stop();
    return own.tripped ?? (err instanceof Error ? err : new Error(describe(err)));
  };
  /** The run's result copied out (a getter or proxy in it runs on the run's clock), or its error. */
  const settled = (own, value) => {
    try {
      if (own.tripped) throw own.tripped;
      const out = copyData(value);
      stop();
      return out;
    } catch (err) {
      throw failed(own, err);
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
      // One budget, filled per run (runs are one at a time): no object per message.
      const own = budget;
      own.timeoutMs = limits.label ?? limits.timeoutMs;
      own.limitMs = limits.timeoutMs;
      own.memoryMb = limits.memoryMb;
      own.overrunMs = overrunMs;
      own.tripped = undefined;
      // The heap is read at most once a millisecond (a run's own growth is what the limit is about),
      // at the run's start: what it allocates before its first clock read counts.
      const now = Date.now();
      if (now - heapReadAt > 1) {
        heapBase = v8.getHeapStatistics().used_heap_size;
        heapReadAt = now;
      }
      clock[DEADLINE] = NaN;
      clock[OVERRUN_AT] = NaN;
      clock[COUNTDOWN] = CHECK_EVERY;
      clock[TRIPPED] = 0;
      // Code that awaits may run a loop after a long await: its clock starts with the run.
      if (isAsync) start();
      let value;
      try {
        value = fn(inside.copyIn(payload), state.ctx);
      } catch (err) {
        throw failed(own, err);
      }
      // A thenable that is no promise of the context is data here (its `then` is dropped).
      if (!(value instanceof ContextPromise)) return settled(own, value);
      // Async code: a timer ends a promise that never settles. The value comes wrapped: a
      // thenable handed to the host's resolve would get the host's functions.
      let timer;
      return new Promise((resolve, reject) => {
        timer = setTimeout(() => {
          own.tripped ??= new UserCodeLimitError(`${what} exceeded its time limit of ${formatCount(own.timeoutMs)} ms`, "time");
          reject(own.tripped);
        }, limits.timeoutMs + 1);
        try {
          inside.settle(value, (v) => resolve({ v }), reject);
        } catch (err) {
          reject(err); // an object posing as a promise of the context
        }
      }).then(
        (box) => {
          clearTimeout(timer);
          return settled(own, box.v);
        },
        (err) => {
          clearTimeout(timer);
          throw failed(own, err);
        },
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
