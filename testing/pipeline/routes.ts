/**
 * A running pipeline's test cases over HTTP, for the editor's "save as test" and its test list:
 *
 *   GET  /api/pipelines/:name/tests      the test file: where it is and what it holds (viewer)
 *   PUT  /api/pipelines/:name/tests      writes it, checked against the test file schema (operator)
 *   POST /api/pipelines/:name/tests/run  runs its cases against the pipeline as deployed now (operator)
 *
 * (runtime/api/auth.ts gives a PUT and this POST the operator role, and checks Host, Origin and
 * content type as on every route.) Where the file is comes from the server, never the request:
 * `<name>.test.json` beside the file `evoflow run` deployed the pipeline from (what `evoflow test`
 * finds there), or, for a pipeline that came through the API, `<data>/tests/<name>.test.json`
 * with the pipeline as deployed written beside it as `<name>.json`, so `evoflow test <data>/tests`
 * replays it too. Either path is resolved with symlinks followed and confined to its folder.
 * The run is the CLI's runner (run.ts), in-process, one run at a time.
 */
import path from "node:path";
import { readFile } from "node:fs/promises";
import type { FastifyInstance, FastifyReply } from "fastify";
import { formatPipeline } from "../../runtime/canonical";
import { ConfinedPathError, resolveConfined } from "../../runtime/confined-path";
import { writeFileAtomic } from "../../runtime/files";
import type { Runtime } from "../../runtime/runtime";
import { jsonPath } from "../../runtime/validate";
import { runTestFile } from "./run";
import { pipelineTestFileSchema } from "./test-file";

interface TestFilePlace {
  file: string;
  /** The pipeline as deployed is written beside the test file when saving (no file of the user's holds it). */
  snapshot: boolean;
}

/** `sourceFiles`: pipeline name → the file it was deployed from (absolute). */
export function pipelineTestRoutes(sourceFiles: ReadonlyMap<string, string>) {
  return async (app: FastifyInstance, runtime: Runtime): Promise<void> => {
    const place = async (name: string): Promise<TestFilePlace> => {
      const source = sourceFiles.get(name);
      if (source) return { file: await resolveConfined(path.dirname(source), path.basename(source).replace(/\.json$/, "") + ".test.json"), snapshot: false };
      return { file: await resolveConfined(path.resolve(runtime.dataDir, "tests"), `${name}.test.json`), snapshot: true };
    };
    /** The running pipeline and its test file's place, or the reply sent. */
    const locate = async (name: string, reply: FastifyReply) => {
      const running = runtime.get(name);
      if (!running) return void reply.status(404).send({ error: `pipeline ${name} not found` });
      try {
        return { running, ...(await place(name)) };
      } catch (err) {
        if (!(err instanceof ConfinedPathError)) throw err;
        return void reply.status(403).send({ error: `the test file of pipeline ${name}: ${err.message}` });
      }
    };
    // Relative to where the server was started when inside it (pipelines/hello-http.test.json), else absolute.
    const shown = (file: string) => {
      const relative = path.relative(process.cwd(), file);
      return relative && !relative.startsWith("..") ? relative : file;
    };
    const readTests = async (file: string): Promise<string | undefined> => {
      try {
        return await readFile(file, "utf8");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw err;
      }
    };

    app.get<{ Params: { name: string } }>("/api/pipelines/:name/tests", async (req, reply) => {
      const at = await locate(req.params.name, reply);
      if (!at) return reply;
      const text = await readTests(at.file);
      if (text === undefined) return { file: shown(at.file), exists: false, tests: { cases: [] } };
      let tests: unknown;
      try {
        tests = JSON.parse(text);
      } catch (err) {
        return reply.status(422).send({ error: `${shown(at.file)} is not JSON: ${(err as Error).message}` });
      }
      // As written (no defaults filled in), so saving it back changes only what the editor changed.
      const checked = pipelineTestFileSchema.safeParse(tests);
      return { file: shown(at.file), exists: true, tests, problems: checked.success ? [] : checked.error.issues.map((i) => ({ path: jsonPath(i.path), message: i.message })) };
    });

    app.put<{ Params: { name: string } }>("/api/pipelines/:name/tests", async (req, reply) => {
      const at = await locate(req.params.name, reply);
      if (!at) return reply;
      const checked = pipelineTestFileSchema.safeParse(req.body);
      if (!checked.success)
        return reply.status(400).send({ error: "the test file is not valid", problems: checked.error.issues.map((i) => ({ path: jsonPath(i.path), message: i.message })) });
      if (at.snapshot) await writeFileAtomic(at.file.replace(/\.test\.json$/, ".json"), formatPipeline(at.running.compiled.pipeline));
      await writeFileAtomic(at.file, `${JSON.stringify(req.body, null, 2)}\n`);
      return { file: shown(at.file), cases: checked.data.cases.length };
    });

    let busy = false;
    app.post<{ Params: { name: string } }>("/api/pipelines/:name/tests/run", async (req, reply) => {
      const at = await locate(req.params.name, reply);
      if (!at) return reply;
      if ((await readTests(at.file)) === undefined) return reply.status(404).send({ error: `pipeline ${req.params.name} has no test file (${shown(at.file)}): save a case first` });
      // Each case deploys a copy of the pipeline: two runs at once would only slow both.
      if (busy) return reply.status(409).send({ error: "a test run is in progress: try again when it has finished" });
      busy = true;
      try {
        const result = await runTestFile(at.file, { nodeTypes: runtime.nodeTypes, grants: [...runtime.grants], pipeline: at.running.compiled.pipeline });
        return { ...result, file: shown(at.file) };
      } finally {
        busy = false;
      }
    });
  };
}
