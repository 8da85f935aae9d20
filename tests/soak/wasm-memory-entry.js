// A soak-only entry (tests/soak/soak.mjs --wasm-memory bundles it into build-soak/): the stock
// entry unchanged, plus `GET /__soak/wasm-memory`, answered with the size in bytes of the wasm
// module's linear memory, the filter's own heap (its caches, its sessions), which the workerd
// process's RSS buries under the runtime's own growth. Never part of the deployed worker.
import worker from "../../src/edge/entry.js";
import { __soak_wasm_bytes } from "../../build/glue/index.js";

export default {
  fetch(request, env, ctx) {
    if (new URL(request.url).pathname === "/__soak/wasm-memory") return new Response(String(__soak_wasm_bytes()));
    return worker.fetch(request, env, ctx);
  },
};
