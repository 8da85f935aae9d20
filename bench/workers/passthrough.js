// Contender `passthrough`: forward the request to ORIGIN_URL, path and query kept. The floor
// every other contender is compared to.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.ORIGIN_URL + url.pathname + url.search, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      redirect: "manual",
    });
  },
};
