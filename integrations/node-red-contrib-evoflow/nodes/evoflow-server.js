/**
 * The config node: where an Evoflow runtime (or agent) is and its token. The token is a
 * Node-RED credential, so it is kept encrypted in flows_cred.json, never in flows.json,
 * and the editor gets back only whether one is set.
 */
"use strict";
const { EvoflowClient } = require("../lib/client");

module.exports = function (RED) {
  function EvoflowServerNode(config) {
    RED.nodes.createNode(this, config);
    this.url = config.url;
    const token = this.credentials && this.credentials.token;
    try {
      this.client = new EvoflowClient(config.url, token);
    } catch (err) {
      // The nodes using this server say so on their status; the flow keeps running.
      this.client = undefined;
      this.problem = `bad Evoflow URL "${config.url}": ${err.message}`;
      this.error(this.problem);
    }
    this.on("close", () => {
      if (this.client) this.client.close();
    });
  }

  RED.nodes.registerType("evoflow-server", EvoflowServerNode, {
    credentials: { token: { type: "password" } },
  });
};
