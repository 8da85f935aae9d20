// A demo origin for `scripts/dev.sh`: answers every request with the headers it received, so
// you can see the identity headers the worker forwards. Loopback only.
import http from "node:http";

const port = Number(process.env.ECHO_PORT || 8788);
http
  .createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers }, null, 2) + "\n");
  })
  .listen(port, "127.0.0.1", () => console.log(`[echo-origin] http://127.0.0.1:${port}`));
