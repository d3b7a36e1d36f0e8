/**
 * The `userCode` service (sdk/user-code.ts) every runtime gives its nodes: JSONata and
 * JavaScript under the limits of this folder.
 */
import type { UserCode } from "../../sdk/user-code";
import { LimitedFunction } from "./limited-function";
import { LimitedJsonata } from "./limited-jsonata";

export const userCodeService: UserCode = {
  jsonata: (expression, limits) => new LimitedJsonata(expression, limits),
  javascript: (code, options, state) => new LimitedFunction(code, options, state),
};
