/** `bin/evoflow.js` as a child process (`run`, `serve`), resolved with its URL once it says it is listening. */
import { spawn, type ChildProcess } from "node:child_process";

export async function startEvoflow(args: string[]): Promise<{ server: ChildProcess; url: string }> {
  const server = spawn(process.execPath, ["bin/evoflow.js", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    server.stdout!.on("data", (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    server.once("exit", (code) => reject(new Error(`evoflow ${args[0]} exited with ${code}`)));
  });
  return { server, url };
}
