//! hello: a workers-rs worker with remote-user-filter in front of its routes. Every request
//! is decided by the stock chain (configured by `wrangler.toml`'s `[vars]`, checked once per
//! isolate); an admitted one reaches the router:
//!
//! - `GET /`: a greeting naming the user and their groups (text);
//! - `GET /groups`: the user's name, email and groups (JSON);
//! - anything under `/app/`: forwarded to `ORIGIN_URL` with the identity headers.
//!
//! Build: `bash scripts/build-example.sh` (from the repository root); tests:
//! `tests/e2e/example.test.mjs`.

use remote_user_filter::{EdgeAuth, SessionUser};
use serde::Serialize;
use worker::{event, Context, Env, Request, Response, Result, RouteContext, Router};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    // 401 without an identity, 403 for a refused user, 500 for a bad configuration, 503
    // when KV fails: the stock worker's answers.
    let admitted = match EdgeAuth::authenticate(&req, &env).await {
        Ok(admitted) => admitted,
        Err(answer) => return answer.into_response(),
    };
    if req.path().starts_with("/app/") {
        let origin = env.var("ORIGIN_URL")?.to_string();
        return admitted.forward(req, &origin).await;
    }
    let response = Router::with_data(admitted.user().cloned())
        .get("/", greet)
        .get("/groups", groups)
        .run(req, env)
        .await?;
    // The login's one Set-Cookie, when this request logged the user in.
    admitted.finish(response)
}

/// `Hello, <username>!` and the groups, one line each.
fn greet(_req: Request, ctx: RouteContext<Option<SessionUser>>) -> Result<Response> {
    let Some(user) = ctx.data else {
        return Response::ok("Hello, stranger!\n");
    };
    let groups = match user.groups.as_slice() {
        [] => "none".to_owned(),
        groups => groups.join(", "),
    };
    Response::ok(format!(
        "Hello, {}!\nYour groups: {groups}\n",
        user.username
    ))
}

/// What `/groups` answers.
#[derive(Serialize)]
struct Groups {
    username: Option<String>,
    email: Option<String>,
    groups: Vec<String>,
}

/// The user's name, email and groups as JSON.
fn groups(_req: Request, ctx: RouteContext<Option<SessionUser>>) -> Result<Response> {
    let body = match ctx.data {
        Some(user) => Groups {
            username: Some(user.username),
            email: user.email,
            groups: user.groups,
        },
        None => Groups {
            username: None,
            email: None,
            groups: Vec::new(),
        },
    };
    Response::from_json(&body)
}
