// Runs a program in Pyodide under Node, with the npm ws package as globalThis.WebSocket.
// Usage: node run_node.mjs CONFIG.json  (see boot.mjs); prints "RESULT <text>" on its last line.
import { readFileSync } from "node:fs";
import { loadPyodide } from "pyodide";
import { WebSocket } from "ws";
import { boot } from "./boot.mjs";

globalThis.WebSocket = WebSocket;
const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
try {
  const out = await boot(loadPyodide, config, async (path) => new Uint8Array(readFileSync(path)));
  process.stdout.write(`\nRESULT ${out}\n`, () => process.exit(0));
} catch (error) {
  process.stderr.write(`${error && error.stack ? error.stack : error}\n`, () => process.exit(1));
}
