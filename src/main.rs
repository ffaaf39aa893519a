//! The `palabre` binary: parse the command line, set up logging, pick the store, serve.

use anyhow::Context;
use clap::Parser;
use palabre::app;
use palabre::config::{Cli, CliCommand, Config, ServeArgs};
use palabre::fixtures::SOU94;
use palabre::http::sessions::parse_definition;
use palabre::state::AppState;
use palabre::store::memory::MemoryStore;
use palabre::store::redis::RedisStore;
use palabre::store::Store;
use std::sync::Arc;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("palabre=info,warn"));
    // tungstenite logs every frame it reads or writes at trace level, keys, participant tokens
    // and voting codes included: whatever RUST_LOG asks, it says no more than info.
    tracing_subscriber::fmt().with_env_filter(filter.add_directive("tungstenite=info".parse()?)).init();
    let cli = Cli::parse();
    match cli.command {
        Some(CliCommand::Serve(args)) => serve(args).await,
        Some(CliCommand::Load(args)) => palabre::load::run(args).await,
        Some(CliCommand::Verify { file }) => verify(&file),
        None => serve(cli.serve).await,
    }
}

/// `palabre verify record.json`: exits 0 and prints the digest when the copy is the original.
fn verify(file: &std::path::Path) -> anyhow::Result<()> {
    let raw = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let record = palabre::record::parse(&raw).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    match palabre::record::verify(&record) {
        Ok(digest) => {
            println!("{}: the original record (SHA-256 {digest})", file.display());
            Ok(())
        }
        Err(e) => {
            eprintln!("{}: NOT the original record: {e}", file.display());
            std::process::exit(1)
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_args(&args);
    // Read from the environment only, and kept out of the store: with it, whoever reads Redis
    // alone cannot tell whose ballot is whose.
    match std::env::var("PALABRE_BALLOT_KEY") {
        Ok(key) if !key.is_empty() => palabre::credentials::set_ballot_key(palabre::credentials::Secret::new(key)),
        _ => tracing::info!("PALABRE_BALLOT_KEY is not set: ballots are keyed by a hash salted per session only"),
    }
    if config.admin_token.is_none() {
        tracing::warn!(
            "PALABRE_ADMIN_TOKEN is not set: anyone who reaches this server can create, list and delete sessions"
        );
    }
    let store: Arc<dyn Store> = match &args.redis {
        Some(url) => {
            Arc::new(RedisStore::connect(url.expose()).await.context("cannot reach Redis (check REDIS_URL / --redis)")?)
        }
        None => {
            tracing::warn!(
                "REDIS_URL is not set: using the in-memory store; everything is lost when this process exits"
            );
            Arc::new(MemoryStore::new())
        }
    };
    let listener = app::bind(args.addr).with_context(|| format!("cannot listen on {}", args.addr))?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, store = store.name(), "palabre listening");
    if args.demo {
        demo(&store, &config, local).await?;
    }
    app::serve(listener, store, config, shutdown_signal()).await?;
    tracing::info!("palabre stopped");
    Ok(())
}

/// Creates the SOU 94 session and prints its four links.
async fn demo(store: &Arc<dyn Store>, config: &Config, local: std::net::SocketAddr) -> anyhow::Result<()> {
    let definition = parse_definition(SOU94.as_bytes()).map_err(|e| anyhow::anyhow!("demo session: {e}"))?;
    let base = config.public_url.clone().unwrap_or_else(|| {
        let host = if local.ip().is_unspecified() { "127.0.0.1".to_owned() } else { local.ip().to_string() };
        format!("http://{host}:{}", local.port())
    });
    // A throwaway state just for creating: the real one is made by `serve`.
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let state = AppState::new(store.clone(), config.clone(), rx);
    let created = state.create_session(definition, &base).await.context("creating the demo session")?;
    println!();
    println!("  SOU 94 demo session — join code {}", created.code);
    println!("  moderator:   {}", created.links.moderator);
    println!("  rapporteur:  {}", created.links.rapporteur);
    println!("  participant: {}", created.links.participant);
    println!("  screen:      {}", created.links.screen);
    if local.ip().is_unspecified() && config.public_url.is_none() {
        println!("  (phones need this machine's address on the room's network: set PALABRE_PUBLIC_URL,");
        println!("   e.g. PALABRE_PUBLIC_URL=http://192.168.1.20:{}, so the links and QR code use it)", local.port());
    }
    println!();
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
