// The example's JS entry: what worker-build 0.8.7 generates (its src/js/shim.js, panic=abort
// flavour) for a wasm that exports `fetch` only, importing the wasm-bindgen glue that
// scripts/build-example.sh writes to build/glue/. esbuild bundles both into build/index.js.
//
// The `worker` crate's start function counts instances and flags a panic in
// `__worker_init_state().criticalError`; a trapped instance is reset before the next call.
import { WorkerEntrypoint } from "cloudflare:workers";
import * as exports from "./build/glue/index.js";

Error.stackTraceLimit = 100;
const initState = exports.__worker_init_state();

function checkReinitialize() {
  if (initState.criticalError) {
    console.log("Reinitializing Wasm application");
    exports.__wbg_reset_state();
    initState.criticalError = false;
    initState.instanceId++;
  }
}

function handleMaybeCritical(e) {
  if (e instanceof WebAssembly.RuntimeError) {
    console.error("Critical", e);
    initState.criticalError = true;
  }
}

addEventListener("error", (e) => {
  handleMaybeCritical(e.error);
});

export default class Entrypoint extends WorkerEntrypoint {
  async fetch(request) {
    checkReinitialize();
    try {
      return await exports.fetch.call(this, request, this.env, this.ctx);
    } catch (e) {
      handleMaybeCritical(e);
      throw e;
    }
  }
}
