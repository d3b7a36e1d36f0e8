/**
 * The one `application/json` body parser of the API: fastify's own (secure-json-parse,
 * refusing `__proto__` and `constructor.prototype` keys) behind a nesting-depth check
 * (runtime/json-depth.ts), so a 100,000-deep body is a 400 with the reason before it is
 * parsed, never a payload that later breaks whatever recurses over it. The `/v2` routes
 * read their bodies raw and check the same limit in their own reader (gpu-agent/v2-routes.ts, gpu-agent/v2-json.ts).
 */
import type { FastifyInstance } from "fastify";
import { checkJsonDepth, DEFAULT_MAX_JSON_DEPTH } from "../json-depth";

export function registerJsonBodyParser(app: FastifyInstance, maxDepth = DEFAULT_MAX_JSON_DEPTH): void {
  const parse = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (req, body, done) => {
    try {
      checkJsonDepth(body as string, maxDepth);
    } catch (err) {
      return done(err as Error, undefined);
    }
    parse(req, body as string, done);
  });
}
