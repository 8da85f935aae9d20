//! `config-check [--env NAME] [--dir DIR]`: run the worker's configuration check on
//! `wrangler.toml` and `.dev.vars` before `wrangler deploy`. `SESSION_SECRET` and
//! `GATEWAY_SECRET` in the environment override `.dev.vars`'s. Exits 1 with the worker's own message on a bad
//! configuration, 2 when the files cannot be read.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    use remote_user_filter::config::offline::OfflineConfig;
    use std::process::ExitCode;

    let mut env = None;
    let mut dir = std::path::PathBuf::from(".");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--env" | "-e", Some(name)) => env = Some(name),
            ("--dir", Some(path)) => dir = path.into(),
            _ => {
                eprintln!("usage: config-check [--env NAME] [--dir DIR]");
                return ExitCode::from(2);
            }
        }
    }
    let config = match OfflineConfig::load(&dir, env.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("config-check: {e}");
            return ExitCode::from(2);
        }
    };
    let mut config = config;
    for name in ["SESSION_SECRET", "GATEWAY_SECRET"] {
        if let Ok(secret) = std::env::var(name) {
            if !secret.is_empty() {
                config = config.with_secret(name, secret);
            }
        }
    }
    match config.check() {
        Ok(filters) => {
            println!("configuration ok: {}", filters.join(" -> "));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("configuration error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {}
