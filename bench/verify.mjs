// One signature check in wasm inside workerd, by the crate's two verifiers: the pure-Rust
// `RustCryptoVerifier` (jwt-simple's public keys: `superboring`'s RSA and `p256`, compiled to
// wasm; it verifies the whole compact token) against `webcrypto::WebCryptoVerifier`
// (the runtime's crypto.subtle, what the worker uses). Backs the README's ratio.
//
//   bash scripts/node.sh bench/verify.mjs [--rounds N] [--no-build]
//
// Builds bench/verify-wasm/ (a cdylib over this crate, the worker's release profile) for
// wasm32 with cargo, wasm-bindgen and wasm-opt -Os as scripts/build.sh does (its own target
// directory, bench/build/verify-target: the first build takes a couple of minutes), then runs
// it in one workerd process (Miniflare 4) and times loops of checks there: the workerd
// process's CPU (schedstat run time, all threads) over a loop, divided by the checks in it;
// median and min–max over rounds, the verifiers alternating. The signature is the same valid
// one every time (an RSA-2048 key, and a P-256 key, made here): the pure-Rust verifier
// decodes the key on every call, as the worker would on every cache miss; WebCrypto imports
// it once and keeps it, as the worker does. Before timing, each verifier must accept the
// signature and refuse a corrupted one.

import { spawnSync } from "node:child_process";
import { generateKeyPairSync, sign } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { children, cpuOf, median } from "./lib/proc.mjs";
import { COMPAT_DATE } from "./lib/settings.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CRATE = path.join(ROOT, "bench/verify-wasm");
const TARGET = path.join(ROOT, "bench/build/verify-target");
const OUT = path.join(ROOT, "bench/build/verify");

const opts = { rounds: 7, build: true };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === "--rounds") opts.rounds = Number(process.argv[++i]);
  else if (a === "--no-build") opts.build = false;
  else throw new Error(`unknown option ${a}`);
}

function run(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}`);
}

if (opts.build) {
  run("cargo", ["build", "--release", "--target", "wasm32-unknown-unknown", "--manifest-path", path.join(CRATE, "Cargo.toml")], { CARGO_TARGET_DIR: TARGET });
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  run("wasm-bindgen", [path.join(TARGET, "wasm32-unknown-unknown/release/verify_bench.wasm"), "--target", "module", "--out-dir", OUT, "--out-name", "glue", "--no-typescript"]);
  run(path.join(ROOT, "node_modules/.bin/wasm-opt"), [path.join(OUT, "glue_bg.wasm"), "-o", path.join(OUT, "glue_bg.wasm"), "-Os", "--strip-debug", "--strip-producers",
    "--enable-mutable-globals", "--enable-sign-ext", "--enable-nontrapping-float-to-int", "--enable-bulk-memory", "--enable-multivalue", "--enable-reference-types"]);
  // workerd imports a .wasm file as a compiled module (scripts/build.sh does the same).
  const glue = path.join(OUT, "glue.js");
  writeFileSync(glue, readFileSync(glue, "utf8").replace(/^import source /m, "import "));
}

writeFileSync(
  path.join(OUT, "driver.js"),
  `import { setup, rust, webcrypto } from "./glue.js";
export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/setup") {
      const b = await request.json();
      setup(b.alg, b.a, b.b, new Uint8Array(b.message), new Uint8Array(b.signature));
      return new Response("ok");
    }
    const n = Number(url.searchParams.get("n"));
    const ok = url.searchParams.get("which") === "rust" ? rust(n) : await webcrypto(n);
    return Response.json({ ok });
  },
};
`,
);

// Keys and one signed message per algorithm: a JWT signing input (`header.payload`, about 600
// bytes of claims) with that algorithm's header, since the pure-Rust verifier (jwt-simple)
// checks the token they make with the signature.
const b64u = (s) => Buffer.from(s).toString("base64url");
const claims = b64u(JSON.stringify({ iss: "https://team.example.com", pad: "a".repeat(560) }));
const messages = { RS256: Buffer.from(`${b64u('{"alg":"RS256"}')}.${claims}`), ES256: Buffer.from(`${b64u('{"alg":"ES256"}')}.${claims}`) };
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const rsaJwk = rsa.publicKey.export({ format: "jwk" });
const ecJwk = ec.publicKey.export({ format: "jwk" });
const inputs = {
  RS256: { alg: "RS256", a: rsaJwk.n, b: rsaJwk.e, message: messages.RS256, signature: sign("sha256", messages.RS256, rsa.privateKey) },
  ES256: { alg: "ES256", a: ecJwk.x, b: ecJwk.y, message: messages.ES256, signature: sign("sha256", messages.ES256, { key: ec.privateKey, dsaEncoding: "ieee-p1363" }) },
};
// Checks per timed loop: each loop well over 100 ms of CPU.
const CALLS = { RS256: { rust: 100, webcrypto: 4000 }, ES256: { rust: 200, webcrypto: 2000 } };

const before = children();
const mf = new Miniflare({
  host: "127.0.0.1",
  port: 0,
  modulesRoot: ROOT,
  workers: [
    {
      name: "verify",
      modules: true,
      scriptPath: path.relative(process.cwd(), path.join(OUT, "driver.js")),
      modulesRules: [
        { type: "ESModule", include: ["**/*.js"] },
        { type: "CompiledWasm", include: ["**/*.wasm"] },
      ],
      compatibilityDate: COMPAT_DATE,
    },
  ],
});
const base = (await mf.ready).toString().replace(/\/$/, "");
const fresh = [...children()].filter(([pid, name]) => !before.has(pid) && name === "workerd");
if (fresh.length !== 1) throw new Error(`expected one new workerd child, found ${fresh.length}`);
const pid = fresh[0][0];

async function setupInput(x, signature = x.signature) {
  const r = await fetch(`${base}/setup`, { method: "POST", body: JSON.stringify({ ...x, message: [...x.message], signature: [...signature] }) });
  if (!r.ok) throw new Error(`setup: ${r.status} ${await r.text()}`);
}
async function loop(which, n) {
  const r = await fetch(`${base}/run?which=${which}&n=${n}`);
  const text = await r.text();
  if (!r.ok) throw new Error(`run: ${r.status} ${text}`);
  return JSON.parse(text).ok;
}

const rows = [];
try {
  for (const [alg, x] of Object.entries(inputs)) {
    // Each verifier accepts the signature and refuses a corrupted one.
    const bad = Buffer.from(x.signature);
    bad[bad.length - 1] ^= 1;
    await setupInput(x, bad);
    for (const which of ["rust", "webcrypto"]) if ((await loop(which, 1)) !== 0) throw new Error(`${alg} ${which}: a corrupted signature verified`);
    await setupInput(x);
    for (const which of ["rust", "webcrypto"]) {
      const n = CALLS[alg][which];
      if ((await loop(which, n)) !== n) throw new Error(`${alg} ${which}: the signature did not verify`); // also the warm-up
    }
    const us = { rust: [], webcrypto: [] };
    for (let round = 0; round < opts.rounds; round++) {
      for (const which of round % 2 ? ["webcrypto", "rust"] : ["rust", "webcrypto"]) {
        const n = CALLS[alg][which];
        const c0 = cpuOf(pid).sched;
        const ok = await loop(which, n);
        const c1 = cpuOf(pid).sched;
        if (ok !== n) throw new Error(`${alg} ${which}: ${ok} of ${n} verified`);
        us[which].push((c1 - c0) / 1000 / n);
      }
    }
    const ratios = us.rust.map((r, i) => r / us.webcrypto[i]);
    rows.push({ alg, rust: us.rust, webcrypto: us.webcrypto, ratios });
    console.error(`${alg} done`);
  }
} finally {
  await mf.dispose();
}

const f = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const mm = (xs) => `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`;
const workerd = JSON.parse(readFileSync(path.join(ROOT, "node_modules/workerd/package.json"), "utf8")).version;
const md = [
  "| signature | pure Rust in wasm, µs/check (min–max) | WebCrypto, µs/check (min–max) | pure Rust ÷ WebCrypto (min–max) |",
  "| --- | ---: | ---: | ---: |",
  ...rows.map((r) => `| ${r.alg} | ${mm(r.rust)} | ${mm(r.webcrypto)} | ${mm(r.ratios)}× |`),
  "",
  `Medians of ${opts.rounds} rounds (per-round ratios), the verifiers alternating; workerd ${workerd}'s CPU per check, one process; ` +
    `${cpus().length} × ${cpus()[0]?.model.trim()}; node ${process.version}.`,
  "",
].join("\n");
mkdirSync(path.join(ROOT, "bench/results"), { recursive: true });
writeFileSync(path.join(ROOT, "bench/results/verify.json"), JSON.stringify({ date: new Date().toISOString(), opts, calls: CALLS, rows }, null, 2));
writeFileSync(path.join(ROOT, "bench/results/verify.md"), md);
console.log(md);
