/** Child process for the multi-process test: registers `count` models into the registry at `dir`. */
import { FsModelRegistry } from "../../runtime/registry/fs";
import { makeMlp } from "../fixtures/mlp";

const [dir, name, count, seed] = process.argv.slice(2);
const registry = new FsModelRegistry(dir);
const versions: number[] = [];
for (let i = 0; i < Number(count); i++) {
  const v = await registry.register({ name, artifact: makeMlp({ sizes: [3, 4, 2], seed: Number(seed) * 100 + i }).bytes, labels: { writer: seed } });
  versions.push(v.version);
}
await registry.close();
process.stdout.write(JSON.stringify(versions));
