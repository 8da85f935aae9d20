// A soak-only entry (tests/soak/soak.mjs --wasm-memory bundles it into build-soak/, with a wasm
// built with the `heap-stats` feature): the stock entry unchanged, plus `GET
// /__soak/wasm-memory`, answered with JSON: `linear`, the size in bytes of the wasm module's
// linear memory (the filter's whole heap, which the workerd process's RSS buries under the
// runtime's own growth); `live` and `blocks`, the bytes and blocks the filter holds now, as the
// counting allocator saw them; `peak`, the most live bytes so far; `allocs`, allocations made.
// Never part of the deployed worker.
import worker from "../../src/edge/entry.js";
import { __heap_stats, __soak_wasm_bytes } from "../../build/glue/index.js";

export default {
  fetch(request, env, ctx) {
    if (new URL(request.url).pathname === "/__soak/wasm-memory") {
      const [live, blocks, peak, allocs] = __heap_stats();
      return Response.json({ linear: __soak_wasm_bytes(), live, blocks, peak, allocs });
    }
    return worker.fetch(request, env, ctx);
  },
};
