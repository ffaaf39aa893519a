//! `palabre load`: a load generator for a running server (a benchmark, not a test).

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Base URL of the server under load.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
}

pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    anyhow::bail!("load against {} is not written yet", args.url)
}
