/** How the request nodes (pipeline, infer) report a refused or failed call. */
"use strict";

/**
 * A red status with the reason and a node error a `catch` node receives; an HTTP refusal
 * puts `{ status, body }` (the server's JSON error body) on the message as `msg.evoflowError`.
 */
function reportFailure(node, label, err, msg, done) {
  const reason = err.status ? `${err.status} ${err.body && err.body.error ? err.body.error : ""}`.trim() : err.message;
  node.status({ fill: "red", shape: "ring", text: `${label}: ${reason}`.slice(0, 80) });
  if (err.status) msg.evoflowError = { status: err.status, body: err.body };
  done(err);
}

module.exports = { reportFailure };
