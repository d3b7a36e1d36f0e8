/**
 * A failure at one of a node's ports. The engine dead-letters the message being handled with
 * this reason, and the pipeline keeps serving; any other error a node throws is wrapped in one.
 */
export class NodeError extends Error {
  constructor(readonly node: string, readonly port: string, message: string) {
    super(message);
  }
}
