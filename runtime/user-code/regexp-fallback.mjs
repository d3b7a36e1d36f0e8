// Catastrophic backtracking (`/(a+)+b/` on a long string) is one builtin call: neither the
// JSONata hooks nor transform.function's ticks run inside it, so it cannot be interrupted on the
// runtime's thread. With this flag V8 runs a regexp that backtracks too much (50,000 times by
// default) on its linear-time engine instead: same matches, no unbounded run. Normal matches stay
// on the backtracking engine (the linear one was ~20x slower on a plain pattern here). The flag is
// process-wide (worker threads too) and only changes how long such a regexp takes. Patterns the
// linear engine cannot run (back-references, lookaround) cannot fall back.
import v8 from "node:v8";

v8.setFlagsFromString("--enable-experimental-regexp-engine-on-excessive-backtracks");
