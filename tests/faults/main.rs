//! Faults, with real processes on loopback: `palabre serve` instances (the binary itself) and a
//! Redis of the tests' own, killed, stopped and restarted while real WebSocket clients run a
//! session through them.
//!
//! - [`kill`]: one of two instances killed (SIGKILL) in the middle of a vote storm and a
//!   question storm; its clients get back in on the other and send their unacknowledged
//!   commands again with the same ids; the tally, the questions, the upvotes and the notes are
//!   exactly the acknowledged commands, each once.
//! - [`redis_down`]: Redis killed (and started again on the same port and data), or hung
//!   (SIGSTOP, then SIGCONT): commands are refused within a bounded time and never falsely
//!   acknowledged, `/healthz` answers 503, and the service comes back by itself.
//! - [`rolling`]: a rolling restart (SIGTERM, start again, then the other instance) during a
//!   vote: nothing lost, every client ends on the last `seq` with the final tally; and an
//!   instance that stopped is no longer counted in the presence every client is sent.
//! - [`stalled`]: clients that stop reading during a storm: the server's memory stays bounded
//!   and the others get every event (the delays they saw are printed, not asserted).
//!
//! Each runs on a Redis of its own (`single::…`) and, when `PALABRE_TEST_REDIS_CLUSTER_URL`
//! names a Redis Cluster, on that cluster (`cluster::…`; the Redis outage test starts a
//! 3-master cluster of its own, since it kills it). The tests of this binary run one at a time
//! ([`serial`]): they start processes and measure memory, and a two-core machine shared by
//! several of them at once would measure nothing.

/// Runs each listed `async fn name(target)` on a single Redis (`single::name`) and on the
/// Redis Cluster of `PALABRE_TEST_REDIS_CLUSTER_URL` (`cluster::name`; it says so and passes
/// when the variable is not set).
macro_rules! on_each_redis {
    ($($name:ident),* $(,)?) => {
        mod single {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::target::Target::Single).await
                }
            )*
        }
        mod cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(target) = crate::target::Target::cluster(stringify!($name)) {
                        super::$name(target).await
                    }
                }
            )*
        }
    };
}

mod client;
mod kill;
mod procs;
mod redis_down;
mod rolling;
mod stalled;
mod storm;
mod target;

/// One fault test at a time in this process.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static ONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    ONE.lock().await
}
