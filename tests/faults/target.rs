//! Which Redis a test runs on.

use crate::procs::RedisServer;

pub enum Target {
    /// A `redis-server` the test starts for itself.
    Single,
    /// The Redis Cluster named by `PALABRE_TEST_REDIS_CLUSTER_URL`.
    Cluster(String),
}

impl Target {
    /// The cluster target, or `None` (saying why) when `PALABRE_TEST_REDIS_CLUSTER_URL` is unset.
    pub fn cluster(test: &str) -> Option<Target> {
        match std::env::var("PALABRE_TEST_REDIS_CLUSTER_URL") {
            Ok(url) if !url.trim().is_empty() => Some(Target::Cluster(url)),
            _ => {
                println!("{test} on a Redis Cluster: not run, PALABRE_TEST_REDIS_CLUSTER_URL is not set");
                None
            }
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Target::Single => "single Redis",
            Target::Cluster(_) => "Redis Cluster",
        }
    }

    /// The Redis the instances use, started now when it is the test's own.
    pub fn redis(&self) -> Redis {
        match self {
            Target::Single => Redis::Own(RedisServer::start(false)),
            Target::Cluster(url) => Redis::Given(url.clone()),
        }
    }
}

/// A Redis for the instances: the test's own, or a given cluster's.
pub enum Redis {
    Own(RedisServer),
    Given(String),
}

impl Redis {
    pub fn url(&self) -> String {
        match self {
            Redis::Own(r) => r.url(),
            Redis::Given(url) => url.clone(),
        }
    }
}
