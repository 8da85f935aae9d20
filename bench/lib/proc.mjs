// /proc readings the benchmarks share: a process's children and its CPU time; and pinning.
import { readFileSync, readdirSync } from "node:fs";
import { spawnSync } from "node:child_process";

/** Children of this process: pid -> command name. */
export function children() {
  const out = new Map();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, "utf8");
      const rest = s.slice(s.lastIndexOf(")") + 2).split(" ");
      if (Number(rest[1]) === process.pid) out.set(Number(d), s.slice(s.indexOf("(") + 1, s.lastIndexOf(")")));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

/** CPU time of process `pid`: schedstat run time summed over its threads, and utime+stime (ns). */
export function cpuOf(pid) {
  let sched = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      sched += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // thread exited
    }
  }
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const rest = s.slice(s.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(rest[11]) + Number(rest[12]);
  return { sched, stat: (ticks * 1e9) / CLK_TCK };
}

/** The median of the finite numbers in `xs` (NaN if none). */
export function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Pin every thread of `pid` to `cpu` (a taskset CPU list, e.g. "0"). */
export function pin(pid, cpu) {
  const r = spawnSync("taskset", ["-a", "-p", "-c", cpu, String(pid)], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`taskset ${pid}: ${r.stderr}`);
}
