// Events people can see (issue 11), end to end in workerd: every login, refusal, key fetch and
// configuration error is one JSON log line, and with AUTH_EVENTS bound one Analytics Engine
// data point.
//
// Miniflare's own Analytics Engine binding (`analyticsEngineDatasets`) is a simulator whose
// writeDataPoint does nothing, so the points cannot be observed there. AUTH_EVENTS is bound
// instead as a wrapped binding (`wrappedBindings`) whose module's writeDataPoint logs
// `AUTH_EVENTS <the point as JSON>`: the test reads the points from the same log as the lines.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import {
  EXAMPLE_SCRIPT,
  HEADER,
  accessAssertion,
  rsaSigningKey,
  send,
  sessionCookie,
  sleep,
  startJwksServer,
  tokenOf,
  useWorker,
} from "./harness.mjs";

const POINT = "AUTH_EVENTS ";

/** Miniflare options that bind AUTH_EVENTS to a recorder logging each data point. */
const recordedDataset = {
  workerOptions: { wrappedBindings: { AUTH_EVENTS: { scriptName: "auth-events-recorder" } } },
  extraWorkers: [
    {
      name: "auth-events-recorder",
      modules: [
        {
          type: "ESModule",
          path: "recorder.mjs",
          contents: `export default function () {
  return { writeDataPoint(point) { console.log(${JSON.stringify(POINT)} + JSON.stringify(point)); } };
}`,
        },
      ],
    },
  ],
};

/** The event lines logged so far, parsed. */
const events = (w) =>
  w.logs.filter((l) => l.message.startsWith('{"event":')).map((l) => JSON.parse(l.message));
/** The data points written so far. */
const points = (w) =>
  w.logs.filter((l) => l.message.startsWith(POINT)).map((l) => JSON.parse(l.message.slice(POINT.length)));

/** Wait until `count(w)` reaches `n` (the log arrives after the response). */
async function until(w, count, n, ms = 2000) {
  const deadline = Date.now() + ms;
  while (count(w).length < n && Date.now() < deadline) await sleep(25);
  return count(w);
}

describe("events: header mode, AUTH_EVENTS bound", () => {
  const w = useWorker({}, recordedDataset);
  let pair;

  it("a login prints one JSON line with event=login and the user, and writes one data point", async () => {
    const r = await send(w, "/", { headers: { [HEADER]: "ann@example.com", "cf-ray": "ray-login-1" } });
    assert.equal(r.status, 200, r.text);
    pair = sessionCookie(r.res).pair;
    assert.ok(pair);
    const lines = await until(w, events, 1);
    assert.deepEqual(lines, [{ event: "login", user: "ann@example.com", ray: "ray-login-1" }]);
    const written = await until(w, points, 1);
    assert.deepEqual(written, [
      { indexes: ["login"], blobs: ["login", "", "ann@example.com", "ray-login-1"], doubles: [0, 0] },
    ]);
  });

  it("the steady request with the session prints and writes nothing", async () => {
    const before = [events(w).length, points(w).length];
    for (let i = 0; i < 3; i += 1) {
      const r = await send(w, "/", { headers: { [HEADER]: "ann@example.com", cookie: pair, "cf-ray": "ray-steady" } });
      assert.equal(r.status, 200, r.text);
    }
    await sleep(200);
    assert.deepEqual([events(w).length, points(w).length], before);
  });

  it("a 401 prints event=refusal reason=missing_identity status=401 with the cf-ray sent", async () => {
    const n = events(w).length;
    const r = await send(w, "/", { headers: { "cf-ray": "8f1c2d3e4f5a6b7c-LHR" } });
    assert.equal(r.status, 401);
    const lines = await until(w, events, n + 1);
    assert.deepEqual(lines.slice(n), [
      { event: "refusal", reason: "missing_identity", status: 401, ray: "8f1c2d3e4f5a6b7c-LHR" },
    ]);
    const written = await until(w, points, 2);
    assert.deepEqual(written.at(-1), {
      indexes: ["refusal"],
      blobs: ["refusal", "missing_identity", "", "8f1c2d3e4f5a6b7c-LHR"],
      doubles: [401, 0],
    });
  });

  it("no line or data point carries the session cookie's token", async () => {
    const token = tokenOf(pair);
    for (const log of w.logs) assert.ok(!log.message.includes(token), log.message);
    assert.ok(!w.logs.some((l) => l.message.includes("e2e-session-secret")));
  });
});

describe("events: Access mode (key fetch, forged assertion)", () => {
  const TEAM = "evteam.cloudflareaccess.com";
  const AUD = "ev-aud";
  const key = rsaSigningKey("ev-key");
  const forger = rsaSigningKey("ev-key");
  const vars = {
    AUTH_FILTERS: "session,gateway_jwt,remote_user",
    TRUST_UNSIGNED_HEADER: "false",
    GATEWAY: "cloudflare_access",
    ACCESS_TEAM_DOMAIN: TEAM,
    ACCESS_AUD: AUD,
  };
  const w = useWorker(vars, {}, async (ctx) => {
    ctx.jwks = await startJwksServer([key]);
    vars.JWKS_URL = ctx.jwks.url;
    return {};
  });
  after(async () => w.jwks?.close());

  it("the first assertion fetches the keys: one key_fetch line with the key count", async () => {
    const token = accessAssertion(key, "ann@example.com", { issuer: `https://${TEAM}`, audience: AUD });
    const r = await send(w, "/", { headers: { "Cf-Access-Jwt-Assertion": token, "cf-ray": "ray-fetch" } });
    assert.equal(r.status, 200, r.text);
    const lines = await until(w, events, 2);
    assert.deepEqual(lines, [
      { event: "key_fetch", ray: "ray-fetch", keys: 1 },
      { event: "login", user: "ann@example.com", ray: "ray-fetch" },
    ]);
    for (const log of w.logs) assert.ok(!log.message.includes(token), log.message);
  });

  it("a forged assertion prints a refusal with its reason, and never the assertion", async () => {
    const forged = accessAssertion(forger, "admin@example.com", { issuer: `https://${TEAM}`, audience: AUD });
    const n = events(w).length;
    const r = await send(w, "/", { headers: { "Cf-Access-Jwt-Assertion": forged, "cf-ray": "ray-forged" } });
    assert.equal(r.status, 401);
    const lines = await until(w, events, n + 1);
    assert.deepEqual(lines.slice(n), [
      { event: "refusal", reason: "assertion_bad_signature", status: 401, ray: "ray-forged" },
    ]);
    for (const log of w.logs) assert.ok(!log.message.includes(forged), log.message);
  });
});

describe("events: a configuration error", () => {
  const w = useWorker({ AUTH_FILTERS: "session,remote_usr" });

  it("is one config_error line per isolate with the detail; each 500 a short refusal", async () => {
    for (const ray of ["ray-500-a", "ray-500-b"]) {
      const r = await send(w, "/", { headers: { "cf-ray": ray } });
      assert.equal(r.status, 500);
    }
    const lines = await until(w, events, 3);
    assert.equal(lines.length, 3, JSON.stringify(lines));
    const [config, ...refusals] = lines;
    assert.equal(config.event, "config_error");
    assert.equal(config.status, 500);
    assert.match(config.detail, /unknown filter `remote_usr`/);
    assert.deepEqual(refusals, [
      { event: "refusal", reason: "config_error", status: 500, ray: "ray-500-a" },
      { event: "refusal", reason: "config_error", status: 500, ray: "ray-500-b" },
    ]);
  });
});

describe("events: the workers-rs API (examples/hello) logs the same events", () => {
  const w = useWorker({}, { script: EXAMPLE_SCRIPT, ...recordedDataset });

  it("a login and a 401 print the stock worker's lines and write its data points", async () => {
    const login = await send(w, "/", { headers: { [HEADER]: "ann@example.com", "cf-ray": "ray-api-1" } });
    assert.equal(login.status, 200, login.text);
    const steady = await send(w, "/", {
      headers: { [HEADER]: "ann@example.com", cookie: sessionCookie(login.res).pair, "cf-ray": "ray-api-2" },
    });
    assert.equal(steady.status, 200, steady.text);
    const refused = await send(w, "/", { headers: { "cf-ray": "ray-api-3" } });
    assert.equal(refused.status, 401);
    const lines = await until(w, events, 2);
    await sleep(100);
    assert.deepEqual(events(w), [
      { event: "login", user: "ann@example.com", ray: "ray-api-1" },
      { event: "refusal", reason: "missing_identity", status: 401, ray: "ray-api-3" },
    ]);
    assert.equal(lines.length, 2);
    assert.deepEqual(
      (await until(w, points, 2)).map((p) => p.blobs),
      [
        ["login", "", "ann@example.com", "ray-api-1"],
        ["refusal", "missing_identity", "", "ray-api-3"],
      ],
    );
  });
});
