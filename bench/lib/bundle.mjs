// Bundling a JS contender (and its npm dependencies, e.g. jose, hono) into one worker module,
// as wrangler would for workerd.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Bundle `entry` into `outfile` with the repository's esbuild; throws with its output. */
export function bundle(entry, outfile) {
  const r = spawnSync(
    path.join(ROOT, "node_modules/.bin/esbuild"),
    [
      entry,
      "--bundle",
      "--format=esm",
      "--platform=browser",
      "--conditions=workerd,worker,browser",
      `--outfile=${outfile}`,
      "--log-level=warning",
    ],
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`esbuild ${entry} failed:\n${r.stderr}`);
  return outfile;
}
