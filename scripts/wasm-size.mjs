// Size and start-up of the built worker (build/index_bg.wasm): raw and gzip bytes against
// Workers' limits (3 MB free / 10 MB paid, compressed), and module compile + instantiate time
// in V8 (Node), median of 30. Imports are stubbed: instantiation runs no worker code.
// Usage: bash scripts/node.sh scripts/wasm-size.mjs [path/to/index_bg.wasm]
// (e.g. examples/hello/build/index_bg.wasm for the workers-rs example).
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { performance } from "node:perf_hooks";

const path = process.argv[2] ?? new URL("../build/index_bg.wasm", import.meta.url);
const bytes = readFileSync(path);
const gzip = gzipSync(bytes, { level: 9 }).length;
const stubs = (module) => {
  const imports = {};
  for (const { module: m, name, kind } of WebAssembly.Module.imports(module)) {
    imports[m] ??= {};
    imports[m][name] =
      kind === "function" ? () => {} :
      kind === "memory" ? new WebAssembly.Memory({ initial: 17 }) :
      kind === "table" ? new WebAssembly.Table({ initial: 1, element: "anyfunc" }) :
      kind === "tag" ? new WebAssembly.Tag({ parameters: ["externref"] }) :
      new WebAssembly.Global({ value: "i32", mutable: true }, 0);
  }
  return imports;
};
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const compile = [], instantiate = [];
for (let i = 0; i < 30; i++) {
  const t0 = performance.now();
  const module = await WebAssembly.compile(bytes);
  const t1 = performance.now();
  await WebAssembly.instantiate(module, stubs(module));
  const t2 = performance.now();
  compile.push(t1 - t0);
  instantiate.push(t2 - t1);
}
const kb = (n) => (n / 1024).toFixed(1);
console.log(JSON.stringify({
  raw_bytes: bytes.length, gzip_bytes: gzip, raw_kib: kb(bytes.length), gzip_kib: kb(gzip),
  compile_ms_median: +median(compile).toFixed(2), instantiate_ms_median: +median(instantiate).toFixed(2),
  node: process.version,
}, null, 2));
