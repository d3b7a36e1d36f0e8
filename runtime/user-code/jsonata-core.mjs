// JSONata with limits, shared by the runtime's thread (runtime/user-code/limited-jsonata.ts) and
// the worker that takes over runaways (jsonata-worker.mjs). jsonata 2.x looks up
// Symbol.for("jsonata.__evaluate_entry"/"__evaluate_exit") in the expression's environment and
// awaits them around every step (as its own `timeboxExpression` test does). One exit hook
// checks the depth, measures what the step made, and reads the clock, now and then waiting a
// turn of the event loop: a runaway otherwise runs on microtasks only and no socket is read
// until it ends. Plain JavaScript so the worker needs no TypeScript loader; types in
// jsonata-core.d.mts.
import v8 from "node:v8";
import jsonata from "jsonata";
import { SLICE_MS, TimeBudget, UserCodeLimitError, formatCount } from "./limits.mjs";
import "./regexp-fallback.mjs";

/** Largest array (items counted through nested arrays and objects) one step may make. */
export const MAX_ITEMS = 1_000_000;
/** Longest string one step may make, and the most characters nested in one value. */
export const MAX_STRING = 10_000_000;
/**
 * jsonata's `$sort` and `$distinct` are quadratic and run as one call no hook sees: `$sort` of
 * 10,000 numbers took 1.1 s here, of 100,000 it filled a 1.5 GB heap. `$sort` without a
 * function uses Array.prototype.sort instead (stable, the same order for the numbers or strings
 * it accepts; 100,000 numbers in ~15 ms). On the runtime's thread, longer arrays than these move
 * the evaluation to the worker, where the time and memory limits are hard.
 */
export const INLINE_SORT_ITEMS = 100_000;
export const INLINE_QUADRATIC_ITEMS = 1_000;

/** Flat values up to this many items are measured again when met again rather than remembered. */
const MEMO_ITEMS = 64;

const EXIT = Symbol.for("jsonata.__evaluate_exit");
/** A binding name JSONata syntax cannot spell (it has a space), so an expression cannot read it. */
const STATE_BINDING = " evoflow limits";
const STATE = Symbol("evoflow.jsonata.state");

/** Thrown in the runtime's thread when the evaluation must continue in the worker. */
export class MoveToWorker extends Error {
  constructor(why) {
    super(`JSONata evaluation moved to a worker: ${why}`);
    this.name = "MoveToWorker";
  }
}

// A regexp that backtracks too much falls back to V8's linear engine (regexp-fallback.mjs);
// patterns that engine cannot run (back-references, lookaround) cannot fall back: expressions with
// one run in the worker. This flag lets canRunLinear() ask V8 by compiling the pattern with the `l` flag.
v8.setFlagsFromString("--enable-experimental-regexp-engine");
const linearRegExpAvailable = (() => {
  try {
    return new RegExp("a", "l").test("a");
  } catch {
    return false;
  }
})();

function canRunLinear(re) {
  if (!linearRegExpAvailable) return false;
  try {
    new RegExp(re.source, `${re.flags}l`);
    return true;
  } catch {
    return false;
  }
}

/** Whether any regex literal in the parsed expression can backtrack without bound. */
function hasBacktrackingRegex(node, seen = new Set()) {
  if (node instanceof RegExp) return !canRunLinear(node);
  if (node === null || typeof node !== "object" || seen.has(node)) return false;
  seen.add(node);
  for (const key of Object.keys(node)) if (hasBacktrackingRegex(node[key], seen)) return true;
  return false;
}

const isCallable = (v) => typeof v === "function" || v._jsonata_lambda === true || v._jsonata_function === true;

/** One evaluation's limits and clock, found by the hooks through the environment's root. */
class Evaluation extends TimeBudget {
  constructor(limits, inline) {
    super(limits.timeoutMs, inline ? SLICE_MS : Infinity, inline ? inline.overrunMs : Infinity);
    this.label = limits.label;
    this.maxDepth = limits.maxDepth;
    this.thrown = undefined; // the first limit this evaluation tripped (see evalFor)
    this.sizes = undefined; // WeakMap value -> { items, chars }, made on first use
  }

  /** Remembers the first limit tripped: `$eval` turns any error inside it into its own D3121. */
  fail(err) {
    this.thrown ??= err;
    return err;
  }

  timeError() {
    return this.fail(new UserCodeLimitError(`JSONata expression exceeded its time limit of ${formatCount(this.label ?? this.timeoutMs)} ms`, "time"));
  }

  overrunError() {
    return this.fail(new MoveToWorker(`ran over ${this.overrunMs} ms`));
  }

  /**
   * Counts the items and characters in a value a step made; shared parts are counted once per
   * reference (what serialising it would write). Values holding other values or more than
   * MEMO_ITEMS items are remembered for this evaluation, so each is walked once; small flat ones
   * (most results) are counted again rather than paying for a WeakMap.
   */
  measure(value) {
    const known = this.sizes?.get(value);
    if (known !== undefined) return known;
    let items = 0;
    let chars = 0;
    let nested = false;
    const add = (v) => {
      if (typeof v === "string") chars += v.length;
      else if (v !== null && typeof v === "object" && !isCallable(v)) {
        nested = true;
        const inner = this.measure(v);
        items += inner.items;
        chars += inner.chars;
      }
    };
    if (ArrayBuffer.isView(value)) items = value.length ?? value.byteLength;
    else if (Array.isArray(value)) {
      items = value.length;
      if (items > MAX_ITEMS) this.check({ items, chars });
      for (let i = 0; i < value.length; i++) add(value[i]);
    } else
      for (const key of Object.keys(value)) {
        items++;
        chars += key.length;
        add(value[key]);
      }
    const size = { items, chars };
    this.check(size);
    if (nested || items > MEMO_ITEMS) (this.sizes ??= new WeakMap()).set(value, size);
    return size;
  }

  check({ items, chars }) {
    if (items > MAX_ITEMS)
      throw this.fail(new UserCodeLimitError(`JSONata expression made an array of ${formatCount(items)} items (limit ${formatCount(MAX_ITEMS)})`, "items"));
    if (chars > MAX_STRING)
      throw this.fail(new UserCodeLimitError(`JSONata expression made a string of ${formatCount(chars)} characters (limit ${formatCount(MAX_STRING)})`, "string"));
  }
}

function evaluationOf(env) {
  const base = env.base;
  let evaluation = base[STATE];
  if (evaluation === undefined) {
    evaluation = base[STATE] = base.lookup(STATE_BINDING);
    // jsonata's `sequence` option (MAX_ITEMS) makes a range check its size before it allocates,
    // but also wraps push() of every sequence; this evaluation's sequences go without the wrapper
    // (their size is what the exit hook measures).
    base.createSequence = createSequence;
  }
  return evaluation;
}

/** jsonata's createSequence without the `sequence` option. */
function createSequence(...items) {
  const sequence = [];
  sequence.sequence = true;
  if (items.length === 1) sequence.push(items[0]);
  return sequence;
}

/** jsonata's own limit (D2015: a range longer than the `sequence` option) as ours; any other error as it is. */
export function asLimitError(err) {
  if (err?.code === "D2015")
    return new UserCodeLimitError(`JSONata expression made an array of ${formatCount(err.value)} items (limit ${formatCount(MAX_ITEMS)})`, "items");
  return err;
}

/**
 * After every step: its depth is checked (a recursion's steps end at every level on the way
 * down, so one hook serves; an entry hook too cost ~1 us more per evaluation, jsonata's own
 * `stack` option as much), what it made is measured, and the clock is checked (it may ask to
 * wait a turn).
 */
function onExit(_node, input, env, result) {
  const evaluation = evaluationOf(env);
  if (env.base.depth > evaluation.maxDepth)
    throw evaluation.fail(new UserCodeLimitError(`JSONata expression exceeded its depth limit of ${formatCount(evaluation.maxDepth)} (nested evaluation: a recursion that does not end?)`, "depth"));
  if (typeof result === "string") {
    if (result.length > MAX_STRING) evaluation.check({ items: 0, chars: result.length });
  } else if (result !== null && typeof result === "object" && result !== input && !isCallable(result)) evaluation.measure(result);
  return evaluation.tick();
}

// The builtins replaced below, taken from jsonata itself.
const builtin = {
  sort: await jsonata("$sort").evaluate(undefined),
  distinct: await jsonata("$distinct").evaluate(undefined),
  eval: await jsonata("$eval").evaluate(undefined),
};

const ascending = (a, b) => (a > b ? 1 : a < b ? -1 : 0);
const allOf = (array, type) => array.every((v) => typeof v === type);

function sortFor(inline) {
  const original = builtin.sort.implementation;
  return function (array, compare) {
    if (array === undefined || array.length <= 1) return array;
    if (compare === undefined) {
      if (!allOf(array, "number") && !allOf(array, "string")) throw { code: "D3070", stack: new Error().stack, index: 1 };
      if (inline && array.length > INLINE_SORT_ITEMS) throw evaluationOf(this.environment).fail(new MoveToWorker(`$sort of ${formatCount(array.length)} items`));
      return Array.prototype.slice.call(array).sort(ascending);
    }
    if (inline && array.length > INLINE_QUADRATIC_ITEMS) throw evaluationOf(this.environment).fail(new MoveToWorker(`$sort of ${formatCount(array.length)} items`));
    return original.call(this, array, compare);
  };
}

function distinctFor(inline) {
  const original = builtin.distinct.implementation;
  return function (array) {
    if (inline && Array.isArray(array) && array.length > INLINE_QUADRATIC_ITEMS)
      throw evaluationOf(this.environment).fail(new MoveToWorker(`$distinct of ${formatCount(array.length)} items`));
    return original.call(this, array);
  };
}

/**
 * jsonata's `$eval` turns every error inside it into D3121 ("Dynamic error evaluating..."):
 * a limit tripped inside comes out as itself, and inline, an expression whose regex needs
 * backtracking moves before it starts.
 */
function evalFor(inline) {
  const original = builtin.eval.implementation;
  return async function (source, focus) {
    const evaluation = evaluationOf(this.environment);
    if (inline && typeof source === "string") {
      let ast;
      try {
        ast = jsonata(source).ast();
      } catch {
        // the original reports the syntax error
      }
      if (ast && hasBacktrackingRegex(ast)) throw evaluation.fail(new MoveToWorker("a regex in $eval needs the backtracking regexp engine"));
    }
    try {
      return await original.call(this, source, focus);
    } catch (err) {
      throw evaluation.thrown ?? err;
    }
  };
}

/**
 * Compiles `source` (throws jsonata's syntax error). `inline` (the runtime's thread): an
 * expression with a regex that needs backtracking says so (`needsWorker`), long
 * `$sort`/`$distinct` calls and evaluations past
 * `inline.overrunMs` throw MoveToWorker, and the clock yields every SLICE_MS. Without it (the
 * worker): no yields; the worker's owner enforces the deadline and memory.
 * evaluate() rejects with jsonata's errors: pass them through asLimitError().
 */
export function compileLimited(source, inline) {
  const expression = jsonata(source, { sequence: MAX_ITEMS });
  const needsWorker = inline !== undefined && hasBacktrackingRegex(expression.ast());
  expression.assign(EXIT, onExit);
  expression.registerFunction("sort", sortFor(inline !== undefined), builtin.sort.signature.definition);
  if (inline) expression.registerFunction("distinct", distinctFor(true), builtin.distinct.signature.definition);
  expression.registerFunction("eval", evalFor(inline !== undefined), builtin.eval.signature.definition);
  return {
    /** True when some regex in it needs the backtracking engine: run it in the worker only. */
    needsWorker,
    evaluate(input, bindings, limits) {
      return expression.evaluate(input, { ...bindings, [STATE_BINDING]: new Evaluation(limits, inline) });
    },
  };
}
