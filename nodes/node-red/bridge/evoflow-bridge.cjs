/**
 * The Node-RED side of the bridge (../embedded.ts): a node type wired after a hosted node's
 * outputs and its catch, complete and status nodes, handing each message it receives to
 * Evoflow through the embedding's settings (`evoflowBridge`).
 */
module.exports = function (RED) {
  const deliver = RED.settings.evoflowBridge;
  function EvoflowBridge(config) {
    RED.nodes.createNode(this, config);
    this.on("input", (msg, _send, done) => {
      deliver(config, msg);
      done();
    });
  }
  RED.nodes.registerType("evoflow-bridge", EvoflowBridge);
};
