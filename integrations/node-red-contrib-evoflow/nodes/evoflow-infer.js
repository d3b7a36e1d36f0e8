/**
 * `evoflow infer`: Open Inference Protocol (KServe v2) inference, POST
 * /v2/models/<name>[/versions/<v>]/infer, on an Evoflow agent or runtime (or any v2 server).
 * msg.payload is either a whole v2 request (`{ inputs: [...] }`) or numbers (an array,
 * nested arrays or a typed array), sent as one input with the configured name, shape and datatype.
 */
"use strict";
const { reportFailure } = require("../lib/report");

const DATATYPES = new Set(["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"]);

/** "1,4" or "-1,4" → [1, 4] or [-1, 4]; "" → undefined (the data's own length). */
function parseShape(text) {
  const s = String(text || "").trim();
  if (s === "") return undefined;
  const dims = s.split(/[\s,x×]+/).filter(Boolean).map(Number);
  if (dims.some((d) => !Number.isInteger(d) || d < -1 || d === 0)) throw new Error(`shape "${text}" must be whole numbers above 0 (one may be -1), e.g. 1,4`);
  if (dims.filter((d) => d === -1).length > 1) throw new Error(`shape "${text}" may have one -1 at most`);
  return dims;
}

/** The request body for msg.payload; throws with what is wrong with it. */
function requestFor(payload, options) {
  if (payload && typeof payload === "object" && !Array.isArray(payload) && !ArrayBuffer.isView(payload)) {
    if (!Array.isArray(payload.inputs)) throw new Error("msg.payload is an object without an inputs array: give a v2 request ({ inputs: [...] }) or an array of numbers");
    return payload;
  }
  if (!Array.isArray(payload) && !ArrayBuffer.isView(payload)) throw new Error(`msg.payload must be a v2 request or an array of numbers, not ${payload === null ? "null" : typeof payload}`);
  const data = Array.isArray(payload) ? payload.flat(Infinity) : Array.from(payload);
  if (options.datatype !== "BYTES" && data.some((v) => typeof v !== "number" && typeof v !== "boolean")) throw new Error(`msg.payload holds values that are not numbers, for datatype ${options.datatype}`);
  const shape = options.shape ? options.shape.slice() : [data.length];
  const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const free = shape.indexOf(-1);
  if (free !== -1) {
    if (data.length % known !== 0) throw new Error(`${data.length} values do not fill shape [${shape}]`);
    shape[free] = data.length / known;
  } else if (known !== data.length) throw new Error(`${data.length} values, but shape [${shape}] holds ${known}`);
  return { inputs: [{ name: options.inputName, shape, datatype: options.datatype, data }] };
}

module.exports = function (RED) {
  function EvoflowInferNode(config) {
    RED.nodes.createNode(this, config);
    const server = RED.nodes.getNode(config.server);
    const datatype = DATATYPES.has(config.datatype) ? config.datatype : "FP32";
    let shape;
    try {
      shape = parseShape(config.shape);
    } catch (err) {
      this.status({ fill: "red", shape: "ring", text: "bad shape" });
      this.error(err.message);
    }
    const options = { inputName: config.inputName || "input", datatype, shape };
    const timeoutMs = Number(config.timeout) > 0 ? Number(config.timeout) * 1000 : 60000;
    if (!server) this.status({ fill: "red", shape: "ring", text: "no Evoflow server" });

    this.on("input", async (msg, send, done) => {
      const model = config.model || msg.model;
      if (!server || !server.client) return done(new Error(server ? server.problem : "no Evoflow server configured"));
      if (typeof model !== "string" || model === "") return done(new Error("no model: set one on the node or in msg.model"));
      const version = config.version || msg.modelVersion;
      let body;
      try {
        body = requestFor(msg.payload, options);
      } catch (err) {
        return reportFailure(this, "bad payload", err, msg, done);
      }
      const path = `/v2/models/${encodeURIComponent(model)}${version ? `/versions/${encodeURIComponent(version)}` : ""}/infer`;
      try {
        const res = await server.client.postJson(path, body, { timeoutMs });
        this.status({ fill: "green", shape: "dot", text: `${model}${res.body.model_version ? `@${res.body.model_version}` : ""}` });
        msg.inference = res.body;
        const first = Array.isArray(res.body.outputs) ? res.body.outputs[0] : undefined;
        // "data": the first output's values, for flows that pass numbers on; "response": the whole v2 answer.
        msg.payload = config.output === "response" || !first ? res.body : first.data;
        send(msg);
        done();
      } catch (err) {
        reportFailure(this, model, err, msg, done);
      }
    });
  }

  RED.nodes.registerType("evoflow-infer", EvoflowInferNode);
};
