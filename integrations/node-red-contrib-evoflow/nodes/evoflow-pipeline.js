/**
 * `evoflow pipeline`: msg.payload to a deployed pipeline's sync entry point
 * (POST /pipelines/<name>), its answer out as msg.payload. The rest of msg passes
 * through, so `http in` → evoflow pipeline → `http response` works.
 */
"use strict";
const { reportFailure } = require("../lib/report");

module.exports = function (RED) {
  function EvoflowPipelineNode(config) {
    RED.nodes.createNode(this, config);
    const server = RED.nodes.getNode(config.server);
    const timeoutMs = Number(config.timeout) > 0 ? Number(config.timeout) * 1000 : 60000;
    let inFlight = 0;
    if (!server) this.status({ fill: "red", shape: "ring", text: "no Evoflow server" });
    else if (!server.client) this.status({ fill: "red", shape: "ring", text: "bad server URL" });

    this.on("input", async (msg, send, done) => {
      const pipeline = config.pipeline || msg.pipeline;
      if (!server || !server.client) return done(new Error(server ? server.problem : "no Evoflow server configured"));
      if (typeof pipeline !== "string" || pipeline === "") return done(new Error("no pipeline: set one on the node or in msg.pipeline"));
      inFlight++;
      this.status({ fill: "blue", shape: "dot", text: `${pipeline}: ${inFlight} in flight` });
      // A W3C traceparent on the message joins the pipeline's trace to the caller's.
      const headers = typeof msg.traceparent === "string" ? { traceparent: msg.traceparent } : {};
      try {
        const res = await server.client.postJson(`/pipelines/${encodeURIComponent(pipeline)}`, msg.payload, { timeoutMs, headers });
        inFlight--;
        this.status({ fill: "green", shape: "dot", text: `${pipeline}: ${res.status}` });
        msg.traceId = res.headers["x-trace-id"] || undefined;
        // 204: the sync path ended without an output (e.g. filtered out); nothing to send on.
        if (res.status === 204) return done();
        msg.payload = res.body;
        send(msg);
        done();
      } catch (err) {
        inFlight--;
        reportFailure(this, pipeline, err, msg, done);
      }
    });
  }

  RED.nodes.registerType("evoflow-pipeline", EvoflowPipelineNode);
};
