//! `palabre load`: a load generator for a running server (a benchmark, not a test).
//!
//! It creates a session (`POST /api/sessions` with the SOU 94 definition), opens `--clients`
//! participant sockets in batches, spread over loopback source addresses 127.0.0.1, .2, … (and
//! over the servers when `--url` names several), then runs one phase:
//!
//! - `fanout` (the default, [`fanout`]): a moderator socket sends `--moves` `agenda.goto`
//!   commands `--interval-ms` apart (items 0 and 1 alternately, so each one is valid). For every
//!   move, the latency of one delivery is the time a participant receives the `agenda.moved`
//!   event with the `seq` the command was acknowledged with, minus the time the moderator sent
//!   the command: one process, one clock.
//! - `questions` ([`questions`]): the moderator opens the debate, `--questions` participants ask
//!   one question each, the moderator approves them, then every participant upvotes `--upvotes`
//!   of them and withdraws `--unvotes` of those (a storm). It measures acknowledged upvotes per
//!   second, ack latency, and the time until every client shows the final counts, and checks
//!   those counts against its own bookkeeping ([`votes`]): a difference fails the run.
//! - `vote` ([`vote`]): the moderator opens a poll on `--draft`, every participant casts a
//!   ballot and `--change-percent` of them cast `--recasts` more with another choice; then the
//!   moderator closes the poll. It measures acknowledged ballots per second, ack latency, and the
//!   time until every client's tally shows the final figures, and checks the `poll.closed` result
//!   and every server's published receipts against its own bookkeeping ([`ballots`]).
//! - `session` ([`session`]): a whole session with the other phases' code: questions asked ahead
//!   (every welcome carries them), the join and the memory per idle connection, agenda moves, a
//!   question storm, a vote storm, a reconnect storm (a tenth of the clients drop and come back
//!   with `since`), and every client checked at the last `seq` with the same state; a table, a
//!   `RESULT` line and `--json`.
//!
//! What the phases share: the sockets ([`socket`]), every participant's view kept by a watcher
//! task ([`watch`]), the moderator's socket ([`moderator`]), a storm's commands counted
//! ([`storm`]), the report's common lines ([`report`]), figures from `/proc` ([`stats`]).
//!
//! With `--server-pid` it also reports the servers' memory (VmRSS) and CPU time (and with
//! `--store-pid`, in the vote and session phases, the Redis server's CPU time apart).
//!
//! It only ever talks to this machine's loopback ([`target`]), and stops by itself: every step
//! is bounded, and at a global deadline it reports whatever it measured.

mod ballots;
mod fanout;
mod moderator;
mod questions;
mod report;
mod session;
mod socket;
mod stats;
mod storm;
mod target;
mod vote;
mod votes;
mod watch;

use crate::config::Secret;
use crate::fixtures::SOU94;
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use socket::{Endpoint, Join, Keep};
use stats::{Servers, Usage};
use std::sync::Arc;
use std::time::{Duration, Instant};
use target::{CreatedReply, Target};

#[derive(Debug, Clone, Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct LoadArgs {
    /// Base URL of the server under load (this machine's loopback only: 127.x.x.x, ::1, localhost);
    /// a comma list of several instances sharing one Redis spreads the participants over them.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:8080")]
    pub url: Vec<String>,
    /// What to measure: `fanout` (agenda moves fanned out to every participant), `questions`
    /// (questions asked and approved, then a storm of upvotes), `vote` (a poll: every
    /// participant casts a ballot, some change their mind, the poll is closed and checked) or
    /// `session` (all of it in one run, then a reconnect storm; see below).
    #[arg(long, value_enum, default_value_t = Phase::Fanout)]
    pub phase: Phase,
    /// Participant sockets to open.
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// Loopback source addresses to spread the sockets over (127.0.0.1, 127.0.0.2, …) [default: ceil(clients / 5000)].
    #[arg(long)]
    pub sources: Option<usize>,
    /// Agenda moves the moderator makes (each is one event fanned out to every participant).
    #[arg(long, default_value_t = 20)]
    pub moves: usize,
    /// Milliseconds between two moves (the server allows a socket 10 frames a second).
    #[arg(long, default_value_t = 200)]
    pub interval_ms: u64,
    /// The two agenda items the moves alternate between (moves into or out of a debate item
    /// also open or close questions: two events a move).
    #[arg(long, value_delimiter = ',', value_name = "A,B", default_values_t = [0, 1])]
    pub items: Vec<usize>,
    /// Questions phase: participants who ask one question each (the first ones), at most 500.
    /// Session phase: questions asked (each from a socket of its own) and approved before the
    /// participants join, so that every welcome carries them.
    #[arg(long, default_value_t = 20)]
    pub questions: usize,
    /// Session phase: participants who ask a question in the debate (then upvoted in the storm;
    /// 0: no question storm).
    #[arg(long, default_value_t = 20)]
    pub asks: usize,
    /// Questions, vote and session phases: at most this many participants send their commands at
    /// once in a storm, the others waiting their turn [default: all of them].
    #[arg(long)]
    pub in_flight: Option<usize>,
    /// Questions phase: distinct questions every participant upvotes.
    #[arg(long, default_value_t = 12)]
    pub upvotes: usize,
    /// Questions phase: of those, how many each participant then unvotes (upvotes + unvotes ≤ 30,
    /// the server's limit per participant in 10 s).
    #[arg(long, default_value_t = 6)]
    pub unvotes: usize,
    /// Vote phase: the draft put to the vote.
    #[arg(long, default_value = "d1")]
    pub draft: String,
    /// Vote phase: percent of the participants who change their mind (cast again with another choice).
    #[arg(long, default_value_t = 25)]
    pub change_percent: u32,
    /// Vote phase: how many more ballots each of those casts.
    #[arg(long, default_value_t = 1)]
    pub recasts: usize,
    /// Session phase: percent of the participants who drop and come back with `since`.
    #[arg(long, default_value_t = 10)]
    pub reconnect_percent: u32,
    /// Session phase: once the session is created, print `SESSION id=… code=…` and wait for a
    /// line on stdin before the participants join (a page can join first).
    #[arg(long)]
    pub hold: bool,
    /// Session phase: also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<std::path::PathBuf>,
    /// Session definition to create (JSON) [default: the SOU 94 session, built in].
    #[arg(long)]
    pub definition: Option<std::path::PathBuf>,
    /// Sockets opened at a time.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// PID of the server process, to report its memory (VmRSS) and CPU time (a comma list for
    /// several instances: their figures are added up).
    #[arg(long, value_delimiter = ',')]
    pub server_pid: Vec<u32>,
    /// Vote and session phases: PID of the Redis server the servers use, to report its CPU time apart.
    #[arg(long)]
    pub store_pid: Option<u32>,
    /// Stop after this many seconds and report what was measured [default: 60 + moves × interval
    /// for fanout, 90 + questions / 5 for questions, 90 + clients / 1000 for vote, 150 + moves ×
    /// interval + clients / 100 + questions / 5 for session].
    #[arg(long)]
    pub timeout_s: Option<u64>,
    /// Admin token, needed to create the session when the server has one.
    #[arg(long, env = "PALABRE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,
}

const AFTER_HELP: &str = "\
Phases:
  fanout     the moderator moves the agenda --moves times; latency from each command to each
             participant's agenda.moved event. RESULT line: p50_ms, p99_ms, max_ms, lost, …
  questions  the moderator goes to the first debate item (Q&A opens), the first --questions
             participants ask one question each, the moderator approves them (when the session
             moderates questions), every client is seen to know them all; then the storm: each
             participant upvotes --upvotes distinct questions and unvotes --unvotes of them, one
             command at a time, each sent when the previous one is answered (paced under the
             server's 10 frames/s). Reported: acked commands per second over the storm, ack
             latency p50/p99, and the time from the last ack until every client's view (the last
             count seen in `upvotes` frames, from the welcome state on) equals the expected
             counts. Every client's view and a fresh moderator `welcome` on every --url must equal
             the counts this tool expects from its acks; any difference exits non-zero.
             RESULT line: acked_per_s, ack_p50_ms, ack_p99_ms, converge_ms, mismatched, ok, …
  vote       the moderator opens a simple-majority poll on --draft; every participant casts one
             ballot (a random choice) and --change-percent of them cast --recasts more, each
             with another choice, one command at a time, each sent when the previous one is
             answered. Every voter's acks must carry one receipt. Reported: acked ballots per
             second (acks / time from the first ballot to the last ack), ack latency p50/p99, the
             time from the last ack until every client's last `tally` frame shows the final
             figures, and the servers' CPU per ballot (--server-pid; Redis's apart with
             --store-pid). Then the moderator closes the poll: its `poll.closed` (on the
             moderator's socket and every client's) must carry exactly the tally of every voter's
             last acknowledged choice, and GET /j/{code}/polls/{poll}/receipts.json on every --url
             must list exactly the voters' receipts with their final choices; any difference, any
             refusal or lost ack exits non-zero.
             RESULT line: votes_per_s, ack_p50_ms, ack_p99_ms, converge_ms, close_ok, receipts_ok, ok, …
  session    a whole session. Before the join, the moderator opens the debate and --questions
             questions are asked (each from a socket of its own) and approved, so every welcome
             carries them; `SESSION id=… code=…` is printed (--hold: then a line on stdin is
             awaited). Join: every participant connects; after 1.5 s, the servers' RSS per idle
             connection. Agenda: --moves moves --interval-ms apart through the agenda. Questions:
             back to the debate, --asks participants ask, the moderator approves, then the upvote
             storm (--upvotes, --unvotes); time from the last ack until every client shows the
             counts the acks make. Vote: to the adoption item, a poll on --draft, every
             participant votes and --change-percent change their mind; time from the last ack
             until every client's tally includes it; the close and every server's receipts
             checked. Reconnect: --reconnect-percent of the clients drop (reset), the moderator
             moves twice, they come back all at once with their token and `since` while it moves
             twice more. Final: every client holds the last seq, item, counts and result.
             Fan-out (p50/p99/max) per stage: from each moderator command to each participant's
             event. Table, RESULT line, and --json FILE; exits non-zero when anything was lost
             or doubled, anything was refused, or a figure differs.
             RESULT line: connect_per_s, rss_per_conn_kib, agenda_p99_ms, upvotes_per_s,
             upvote_latency_ms, votes_per_s, tally_latency_ms, lost, doubled, final_ok, ok, …

Examples:
  palabre load --url http://127.0.0.1:8080 --clients 2000
  palabre load --phase questions --clients 2000 --questions 20 --upvotes 12 --unvotes 6 \\
      --url http://127.0.0.1:8081,http://127.0.0.1:8082
  palabre load --phase vote --clients 2000 --change-percent 25 --url http://127.0.0.1:8080
  palabre load --phase session --clients 10000 --questions 500 --json session.json
  bench/fanout.sh 1000 5000   bench/questions.sh 200 2000   bench/votes.sh 2000   bench/session.sh 2000";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Phase {
    Fanout,
    Questions,
    Vote,
    Session,
}

/// One socket (TCP connect, upgrade, hello, welcome) must be up within this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// One command must be answered within this long (in a storm of ten thousand phones on a busy
/// machine, a command may wait its turn for several seconds).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Every client must show what is expected (a question, a count, a tally, a close) within this long.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(15);

/// How long the next command may wait for its answer: [`CALL_TIMEOUT`], less near the deadline.
fn call_limit(deadline: Instant) -> Duration {
    CALL_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()))
}
/// Descriptors this process needs besides the sockets (runtime, stdio, the moderator, HTTP).
const SPARE_FILES: u64 = 32;
/// One source address takes at most this many sockets by default: past ~5,000 connections to
/// one address the kernel's search for a free local port slows connecting down.
const PER_SOURCE: usize = 5000;

/// What every phase starts from: checked arguments, the servers, the created session.
pub struct Setup {
    pub n: usize,
    pub sources: usize,
    /// The first one creates the session and takes the moderator.
    pub targets: Vec<Target>,
    pub endpoints: Vec<Endpoint>,
    pub servers: Servers,
    /// The Redis server's process (`--store-pid`), or none.
    pub store: Servers,
    pub budget: Duration,
    pub deadline: Instant,
    pub definition: Vec<u8>,
    pub session: CreatedReply,
    /// At most this many participants at once in a storm (`--in-flight`).
    pub in_flight: Option<usize>,
}

impl Setup {
    fn ws_urls(&self) -> String {
        self.endpoints.iter().map(|e| e.ws_url.as_str()).collect::<Vec<_>>().join(", ")
    }

    fn participant_hello(&self) -> String {
        serde_json::json!({"type": "hello", "code": self.session.code}).to_string()
    }

    fn moderator_hello(&self) -> String {
        serde_json::json!({"type": "hello", "session": self.session.id, "key": self.session.moderator_key}).to_string()
    }

    /// How the participants join: spread over the servers and source addresses, keeping `keep`
    /// of each welcome.
    fn join(&self, keep: Keep) -> Arc<Join> {
        Arc::new(Join {
            endpoints: self.endpoints.clone(),
            hello: self.participant_hello(),
            sources: self.sources,
            keep,
        })
    }

    /// What lets a participant take part in a storm (`--in-flight`): `None`, anyone at once.
    fn gate(&self) -> Option<Arc<tokio::sync::Semaphore>> {
        self.in_flight.map(|k| Arc::new(tokio::sync::Semaphore::new(k)))
    }

    /// CPU time spent so far by the servers, the store and this process.
    fn usage(&self) -> Usage {
        Usage::now(&self.servers, &self.store)
    }

    /// The first line of a phase's report: who, where, what.
    fn print_header(&self, what: &str) {
        println!(
            "palabre load: {} participants on {} (session {}, code {}), from {} source address{}; {what}; deadline {:.0} s",
            self.n,
            self.ws_urls(),
            self.session.id,
            self.session.code,
            self.sources,
            if self.sources == 1 { "" } else { "es" },
            self.budget.as_secs_f64()
        );
    }
}

pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    let setup = prepare(&args).await?;
    match args.phase {
        Phase::Fanout => fanout::run(&args, setup).await,
        Phase::Questions => questions::run(&args, setup).await,
        Phase::Vote => vote::run(&args, setup).await,
        Phase::Session => session::run(&args, setup).await,
    }
}

/// Checks the arguments and this machine's limits, then creates the session.
async fn prepare(args: &LoadArgs) -> anyhow::Result<Setup> {
    let started = Instant::now();
    let n = args.clients;
    if n == 0 || args.moves == 0 || args.batch == 0 {
        bail!("--clients, --moves and --batch must be at least 1");
    }
    let targets = args.url.iter().map(|u| Target::parse(u)).collect::<anyhow::Result<Vec<_>>>()?;
    if targets.is_empty() {
        bail!("--url: give at least one server");
    }
    let sources = args.sources.unwrap_or_else(|| n.div_ceil(PER_SOURCE)).max(1);
    if sources > 254 {
        bail!("--sources {sources}: at most 254 (127.0.0.1 to 127.0.0.254)");
    }
    if let Some(t) = targets.iter().find(|t| sources > 1 && !t.addr.is_ipv4()) {
        bail!("--sources {sources} needs an IPv4 server address (127.0.0.x); use --sources 1 for {}", t.addr);
    }
    if args.phase == Phase::Fanout && (args.items.len() != 2 || args.items[0] == args.items[1]) {
        bail!("--items needs two different agenda items, e.g. --items 0,1");
    }
    if args.phase == Phase::Questions {
        votes::Shape::from_args(args.questions, args.upvotes, args.unvotes)?;
    }
    if args.phase == Phase::Vote || args.phase == Phase::Session {
        ballots::Shape::from_args(args.change_percent, args.recasts)?;
    }
    if args.phase == Phase::Session {
        if args.questions > votes::MAX_QUESTIONS {
            bail!(
                "--questions {}: at most {} (the server's open questions per session)",
                args.questions,
                votes::MAX_QUESTIONS
            );
        }
        if args.asks > 0 {
            votes::Shape::from_args(args.asks, args.upvotes, args.unvotes)?;
        }
        if args.asks > n {
            bail!("--asks {}: at most --clients ({n})", args.asks);
        }
        if args.reconnect_percent > 100 {
            bail!("--reconnect-percent {}: from 0 to 100", args.reconnect_percent);
        }
    }
    let budget = match (args.timeout_s, args.phase) {
        (Some(s), _) => Duration::from_secs(s),
        (None, Phase::Fanout) => {
            Duration::from_secs(60) + Duration::from_millis(args.interval_ms.saturating_mul(args.moves as u64))
        }
        (None, Phase::Questions) => Duration::from_secs(90 + args.questions as u64 / 5),
        (None, Phase::Vote) => Duration::from_secs(90 + n as u64 / 1000),
        (None, Phase::Session) => {
            Duration::from_secs(150 + n as u64 / 100 + args.questions as u64 / 5)
                + Duration::from_millis(args.interval_ms.saturating_mul(args.moves as u64))
        }
    };
    // The session phase also opens a socket per question asked ahead (closed before the join).
    check_open_files(if args.phase == Phase::Session { n.max(args.questions) } else { n })?;
    let servers = Servers::check(&args.server_pid)?;
    let store = vote::store_servers(args.store_pid)?;
    warn_server_files(&servers, n);
    let definition = match &args.definition {
        Some(path) => std::fs::read(path).with_context(|| format!("--definition {}", path.display()))?,
        None => SOU94.as_bytes().to_vec(),
    };
    let session = target::create_session(&targets[0], args.admin_token.as_ref(), &definition).await?;
    let endpoints = targets.iter().map(|t| Endpoint { addr: t.addr, ws_url: t.ws_url() }).collect();
    Ok(Setup {
        n,
        sources,
        targets,
        endpoints,
        servers,
        store,
        budget,
        deadline: started + budget,
        definition,
        session,
        in_flight: args.in_flight.filter(|&k| k > 0),
    })
}

/// Every socket is a descriptor: raises the soft limit to the hard one, and says so when N does not fit.
fn check_open_files(n: usize) -> anyhow::Result<()> {
    let nofile = rlimit::increase_nofile_limit(u64::MAX).context("cannot raise the open-files limit")?;
    let needed = n as u64 + SPARE_FILES;
    if nofile < needed {
        bail!(
            "--clients {n} does not fit: this process may open {nofile} files (its hard limit, `ulimit -Hn`), \
             and {n} sockets need about {needed}. Use --clients {} at most, or raise the hard limit.",
            nofile.saturating_sub(SPARE_FILES)
        );
    }
    Ok(())
}

/// Warns when a server may not hold its share of the sockets.
fn warn_server_files(servers: &Servers, n: usize) {
    let share = n.div_ceil(servers.pids.len().max(1)) as u64 + SPARE_FILES;
    for &pid in &servers.pids {
        let server_files =
            rlimit::ProcLimits::read_process(pid as i32).ok().and_then(|l| l.max_open_files).and_then(|l| l.soft_limit);
        if let Some(limit) = server_files.filter(|l| *l < share) {
            eprintln!(
                "warning: the server (pid {pid}) may open only {limit} files: it cannot hold {n} sockets \
                 (start it after `ulimit -n $(ulimit -Hn)`); connections past that will fail"
            );
        }
    }
}
