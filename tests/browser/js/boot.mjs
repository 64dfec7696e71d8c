// Boots Pyodide with this project's wheel and its dependencies, then runs a Python program.
// Shared by run_node.mjs (Node) and index.html (Chromium): only how bytes are read differs.
//
// config: { indexURL?, wheels: [path or URL], files: { "/abs/path.py": "source" }, args: any, code: "python" }
// The program sees the JSON text of config.args as the global CONFIG_JSON; its last expression
// (a str) is what boot() resolves to.
export async function boot(loadPyodide, config, readBytes) {
  const options = config.indexURL ? { indexURL: config.indexURL } : {};
  const pyodide = await loadPyodide(options);
  for (const wheel of config.wheels) {
    pyodide.unpackArchive(await readBytes(wheel), "wheel");
  }
  for (const [path, text] of Object.entries(config.files || {})) {
    pyodide.FS.mkdirTree(path.slice(0, path.lastIndexOf("/")));
    pyodide.FS.writeFile(path, text);
  }
  pyodide.globals.set("CONFIG_JSON", JSON.stringify(config.args ?? null));
  return await pyodide.runPythonAsync(config.code);
}
