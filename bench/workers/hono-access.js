// Contender `hono-access`: Hono with @hono/cloudflare-access (its keys are cached in the
// middleware instance, i.e. per isolate), then forward to the origin with X-Remote-User.
// The AUD tag is passed too, so it checks the same claims as the other contenders.
import { Hono } from "hono";
import { cloudflareAccess } from "@hono/cloudflare-access";

const app = new Hono();

app.use("*", cloudflareAccess("myteam", "aud-1"));

app.all("*", (c) => {
  const url = new URL(c.req.url);
  const headers = new Headers(c.req.raw.headers);
  headers.set("X-Remote-User", c.get("accessPayload").email);
  return fetch(c.env.ORIGIN_URL + url.pathname + url.search, {
    method: c.req.method,
    headers,
    body: c.req.raw.body,
    redirect: "manual",
  });
});

export default app;
