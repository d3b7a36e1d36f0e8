/**
 * `evoflow tap`: an edge's messages into the flow, from the runtime's live tap
 * (WebSocket /api/pipelines/<name>/edges/<edge>/live). The runtime samples a fast edge
 * down to `perSecond` messages a second and reports the true count as `{edge, seen}`
 * frames, shown on the status. The socket reconnects with a growing delay (0.5 s up to
 * 30 s) after the runtime restarts, the pipeline is not deployed yet, or the token is refused.
 */
"use strict";
const WebSocket = require("ws");

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 30000;

module.exports = function (RED) {
  function EvoflowTapNode(config) {
    RED.nodes.createNode(this, config);
    const node = this;
    const server = RED.nodes.getNode(config.server);
    const perSecond = Math.min(1000, Math.max(1, Number(config.perSecond) || 20));
    const route = `/api/pipelines/${encodeURIComponent(config.pipeline || "")}/edges/${encodeURIComponent(config.edge || "")}/live`;
    let socket;
    let timer;
    let attempts = 0;
    let closing = false;

    if (!server || !server.client) {
      node.status({ fill: "red", shape: "ring", text: server ? "bad server URL" : "no Evoflow server" });
      if (server) node.error(server.problem);
      return;
    }
    if (!config.pipeline || !config.edge) {
      node.status({ fill: "red", shape: "ring", text: "set pipeline and edge" });
      node.error("evoflow tap needs a pipeline and an edge");
      return;
    }

    function reconnectLater() {
      if (closing || timer) return;
      const delay = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** attempts++);
      timer = setTimeout(() => {
        timer = undefined;
        connect();
      }, delay);
    }

    function failed(reason) {
      node.status({ fill: "red", shape: "ring", text: `disconnected: ${reason}`.slice(0, 80) });
      // With a message, so a catch node receives it (Node-RED only logs an error without one).
      node.error(`evoflow tap ${config.pipeline}/${config.edge}: ${reason}`, { topic: `${config.pipeline}/${config.edge}` });
    }

    function connect() {
      // No Origin header (ws sends none unless asked): the runtime refuses a foreign one.
      const ws = new WebSocket(server.client.socketUrl(route, { perSecond }), { handshakeTimeout: 10000 });
      socket = ws;
      let refused;
      node.status({ fill: "yellow", shape: "ring", text: "connecting" });
      // An upgrade answered with 401/403/404: keep the runtime's JSON reason for the error.
      ws.on("unexpected-response", (req, res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          let reason = Buffer.concat(chunks).toString("utf8");
          try {
            reason = JSON.parse(reason).error || reason;
          } catch {
            // not JSON: the text as it came
          }
          refused = `${res.statusCode} ${reason}`.trim();
          ws.terminate();
        });
      });
      ws.on("open", () => node.status({ fill: "green", shape: "dot", text: "connected" }));
      ws.on("message", (data) => {
        let frame;
        try {
          frame = JSON.parse(data.toString("utf8"));
        } catch {
          return node.warn("evoflow tap: a frame that is not JSON was dropped");
        }
        if (frame.error) {
          refused = frame.error;
          return;
        }
        // The runtime answers: the next drop starts again from the shortest delay.
        attempts = 0;
        if (frame.message) {
          const { payload, ...envelope } = frame.message;
          node.send({ payload, topic: `${config.pipeline}/${frame.edge}`, evoflow: envelope });
        } else if (typeof frame.seen === "number") {
          node.status({ fill: "green", shape: "dot", text: `connected · ${frame.seen} seen` });
        }
      });
      ws.on("error", (err) => {
        if (!refused) refused = err.message;
      });
      ws.on("close", (code) => {
        if (socket === ws) socket = undefined;
        if (closing) return;
        failed(refused || `closed (${code})`);
        reconnectLater();
      });
    }

    connect();
    node.on("close", (done) => {
      closing = true;
      clearTimeout(timer);
      if (!socket || socket.readyState === WebSocket.CLOSED) return done();
      socket.once("close", () => done());
      socket.terminate();
    });
  }

  RED.nodes.registerType("evoflow-tap", EvoflowTapNode);
};
