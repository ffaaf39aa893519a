//! One conformance suite for every `Store`: each behaviour is written once, as a function of
//! the store, and run against the memory store and against a real Redis.
//!
//! The Redis is shared by every test running at the same time, so each test makes its own
//! sessions with a fresh id and join code, and reads the feed only for its own session.

use crate::helpers::{store, Backend};
use palabre::domain::definition::{RawDefinition, RawItem};
use palabre::domain::text::QuestionText;
use palabre::domain::{Actor, AgendaCommand, Command, DomainError, Event, Phase, Role, Sequenced, Session};
use palabre::domain::{AgendaEvent, QuestionCommand, QuestionEvent, QuestionStatus, Reply, SessionDefinition};
use palabre::store::{Applied, Credentials, Feed, Participant, Store, StoreError, EVENT_LOG_LEN, PRESENCE_TTL_MS};
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// Generates, for every behaviour, one test per backend: `memory::<behaviour>` and
/// `redis::<behaviour>`. Behaviours in `one` take a store; those in `two` take two handles on
/// one store (two Redis clients sharing one Redis, as two instances do; for memory, the same
/// store twice, since it serves one process only).
macro_rules! conformance {
    (one: [$($one:ident),* $(,)?], two: [$($two:ident),* $(,)?] $(,)?) => {
        conformance!(@backend memory, Backend::Memory, [$($one),*], [$($two),*]);
        conformance!(@backend redis, Backend::Redis, [$($one),*], [$($two),*]);
    };
    (@backend $module:ident, $backend:expr, [$($one:ident),*], [$($two:ident),*]) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $one() {
                    super::$one(store($backend).await).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $two() {
                    let (a, b) = two_handles($backend).await;
                    super::$two(a, b).await;
                }
            )*
        }
    };
}

conformance! {
    one: [
        a_created_session_loads_back_unchanged_and_is_found_by_code_credentials_and_list,
        creating_a_session_with_a_code_in_use_fails_with_code_taken,
        a_missing_session_reads_as_none_and_refuses_writes_as_not_found,
        the_first_agenda_next_starts_the_session_and_stores_what_the_domain_decided,
        a_command_id_applied_twice_is_applied_once_and_acknowledged_with_the_same_seq,
        a_refused_command_changes_nothing_and_does_not_use_up_its_id,
        events_since_returns_exactly_the_events_after_a_seq,
        the_event_log_keeps_the_latest_events_and_forgets_the_oldest,
        the_feed_carries_every_applied_batch_in_order,
        a_deleted_session_is_gone_everywhere_and_announced_on_the_feed,
        a_retry_reaching_a_deleted_session_is_not_found,
        a_participant_is_registered_once_per_token_hash,
        presence_sums_recent_reports_of_every_instance_and_drops_stale_ones,
        participant_lookups_and_presence_reports_for_a_missing_session_are_not_found,
        a_vote_is_checked_by_the_rules_and_a_refused_one_counts_nothing,
        an_upvote_changes_the_count_once_and_publishes_it_on_the_feed,
        merging_unites_the_upvoter_sets_and_counts_each_upvoter_once,
        approving_a_rejected_question_is_decided_as_the_rules_decide_it,
        a_ballot_counts_once_per_voter_and_a_changed_choice_keeps_its_receipt,
        a_claimed_roster_entry_holds_one_ballot_whoever_holds_it_now,
        the_roster_cannot_be_replaced_while_a_poll_is_open_and_a_new_one_voids_every_claim,
        wrong_voting_codes_are_refused_for_the_session_after_fifty_in_a_minute,
    ],
    two: [
        commands_racing_on_two_instances_lose_no_update,
        retries_of_one_command_racing_on_two_instances_apply_it_once,
        upvotes_racing_on_two_instances_are_counted_exactly,
        retries_of_one_vote_racing_on_two_instances_count_it_once,
        the_open_question_caps_hold_under_concurrent_asks,
        ballots_racing_on_two_instances_are_counted_exactly,
        retries_of_one_ballot_racing_on_two_instances_count_it_once,
        ballots_racing_a_close_on_two_instances_are_counted_before_it_or_refused_as_closed,
    ],
}

// ---------------------------------------------------------------------------------------------
// Behaviours
// ---------------------------------------------------------------------------------------------

async fn a_created_session_loads_back_unchanged_and_is_found_by_code_credentials_and_list(store: Arc<dyn Store>) {
    let (session, credentials) = create(&store, 3).await;

    let loaded = load(&store, &session.id).await;
    assert_eq!(loaded.as_ref(), Some(&session));
    assert_eq!(store.resolve_code(&session.code).await.expect("resolve"), Some(session.id.clone()));
    assert_eq!(store.credentials(&session.id).await.expect("credentials"), Some(credentials));

    let list = store.list().await.expect("list");
    let summary =
        list.iter().find(|s| s.id == session.id).unwrap_or_else(|| panic!("{} missing from the list", session.id));
    assert_eq!(
        (&summary.code, &summary.title, summary.phase, summary.created_at, summary.seq),
        (&session.code, &definition(3).title, Phase::Pending, session.created_at, 0)
    );
}

async fn creating_a_session_with_a_code_in_use_fails_with_code_taken(store: Arc<dyn Store>) {
    let (first, _) = create(&store, 1).await;
    let second = Session::new(new_id(), first.code.clone(), &definition(1), now_ms());

    let result = store.create(&definition(1), &second, &new_credentials()).await;

    assert!(matches!(result, Err(StoreError::CodeTaken)), "got {result:?}");
    assert_eq!(load(&store, &second.id).await, None);
    assert_eq!(store.resolve_code(&first.code).await.expect("resolve"), Some(first.id.clone()));
    assert_eq!(load(&store, &first.id).await, Some(first));
}

async fn a_missing_session_reads_as_none_and_refuses_writes_as_not_found(store: Arc<dyn Store>) {
    let id = new_id();

    assert_eq!(load(&store, &id).await, None);
    assert_eq!(store.credentials(&id).await.expect("credentials"), None);
    assert_eq!(store.resolve_code(&new_code()).await.expect("resolve"), None);
    let applied = store
        .apply(&id, &new_id(), &Actor::new(Role::Moderator), &Command::Agenda(AgendaCommand::Next), now_ms())
        .await;
    assert!(matches!(applied, Err(StoreError::NotFound)), "apply: {applied:?}");
    let since = store.events_since(&id, 0).await;
    assert!(matches!(since, Err(StoreError::NotFound)), "events_since: {since:?}");
    let participant = store.participant(&id, &new_id(), &fresh_participant()).await;
    assert!(matches!(participant, Err(StoreError::NotFound)), "participant: {participant:?}");
    assert!(!store.delete(&id).await.expect("delete"));
    // Nothing was left behind by the refused writes.
    assert_eq!(load(&store, &id).await, None);
}

async fn the_first_agenda_next_starts_the_session_and_stores_what_the_domain_decided(store: Arc<dyn Store>) {
    let (session, _) = create(&store, 3).await;
    let now = now_ms();
    let mut expected = session.clone();
    let decided =
        expected.handle(&Actor::new(Role::Moderator), &Command::Agenda(AgendaCommand::Next), now).expect("domain");

    let applied = store
        .apply(&session.id, &new_id(), &Actor::new(Role::Moderator), &Command::Agenda(AgendaCommand::Next), now)
        .await
        .expect("apply");

    let Applied::New { seq, events, .. } = applied else {
        panic!("expected Applied::New, got {applied:?}");
    };
    assert_eq!(seq, 2);
    assert_eq!(seqs(&events), [1, 2]);
    assert_eq!(kinds(&events), ["session.started", "agenda.moved"]);
    assert_eq!(events.into_iter().map(|e| e.event).collect::<Vec<_>>(), decided.events);
    let loaded = load(&store, &session.id).await.expect("session");
    assert_eq!((loaded.phase(), loaded.agenda.current, loaded.seq), (Phase::Running, Some(0), 2));
    expected.seq = 2;
    assert_eq!(loaded, expected);
}

async fn a_command_id_applied_twice_is_applied_once_and_acknowledged_with_the_same_seq(store: Arc<dyn Store>) {
    let (session, _) = create(&store, 3).await;
    let cmd = new_id();

    let first = next(&store, &session.id, &cmd).await.expect("first apply");
    let again = next(&store, &session.id, &cmd).await.expect("second apply");

    assert!(matches!(first, Applied::New { seq: 2, .. }), "first: {first:?}");
    assert_eq!(again, Applied::Duplicate { seq: 2, reply: None });
    let loaded = load(&store, &session.id).await.expect("session");
    assert_eq!((loaded.seq, loaded.agenda.current), (2, Some(0)));
    let log = store.events_since(&session.id, 0).await.expect("events").expect("kept");
    assert_eq!(seqs(&log), [1, 2]);
}

async fn a_refused_command_changes_nothing_and_does_not_use_up_its_id(store: Arc<dyn Store>) {
    let (session, _) = create(&store, 3).await;
    let prev = new_id();

    // Refused before the session started: the first item has no previous one.
    let refused = store
        .apply(&session.id, &prev, &Actor::new(Role::Moderator), &Command::Agenda(AgendaCommand::Prev), now_ms())
        .await;
    assert!(matches!(refused, Err(StoreError::Domain(DomainError::Conflict(_)))), "prev: {refused:?}");
    assert_eq!(load(&store, &session.id).await.as_ref(), Some(&session));

    next(&store, &session.id, &new_id()).await.expect("start");
    let before = load(&store, &session.id).await.expect("session");

    // Refused for the role: only the moderator moves the agenda.
    let forbidden_id = new_id();
    let forbidden = store
        .apply(&session.id, &forbidden_id, &Actor::participant("p"), &Command::Agenda(AgendaCommand::Next), now_ms())
        .await;
    assert!(matches!(forbidden, Err(StoreError::Domain(DomainError::Forbidden(_)))), "next: {forbidden:?}");
    // Refused again on the first item, now that the session runs.
    let refused = store
        .apply(&session.id, &prev, &Actor::new(Role::Moderator), &Command::Agenda(AgendaCommand::Prev), now_ms())
        .await;
    assert!(matches!(refused, Err(StoreError::Domain(DomainError::Conflict(_)))), "prev: {refused:?}");

    let after = load(&store, &session.id).await.expect("session");
    assert_eq!(after, before);
    assert_eq!(after.seq, 2);
    let log = store.events_since(&session.id, 0).await.expect("events").expect("kept");
    assert_eq!(seqs(&log), [1, 2]);
    // A retry of a refused command is refused again, never acknowledged as if it had been applied.
    let retried = store
        .apply(&session.id, &forbidden_id, &Actor::participant("p"), &Command::Agenda(AgendaCommand::Next), now_ms())
        .await;
    assert!(matches!(retried, Err(StoreError::Domain(DomainError::Forbidden(_)))), "retry: {retried:?}");
}

async fn events_since_returns_exactly_the_events_after_a_seq(store: Arc<dyn Store>) {
    let (session, _) = create(&store, 5).await;
    assert_eq!(store.events_since(&session.id, 0).await.expect("events"), Some(vec![]));
    let mut applied = Vec::new();
    for _ in 0..4 {
        match next(&store, &session.id, &new_id()).await.expect("apply") {
            Applied::New { events, .. } => applied.extend(events),
            other => panic!("expected Applied::New, got {other:?}"),
        }
    }
    assert_eq!(seqs(&applied), [1, 2, 3, 4, 5]);

    for since in 0..=5 {
        let got = store.events_since(&session.id, since).await.expect("events");
        assert_eq!(got.as_deref(), Some(&applied[since as usize..]), "since {since}");
    }
    assert_eq!(store.events_since(&session.id, 6).await.expect("events"), None);
    assert_eq!(store.events_since(&session.id, u64::MAX).await.expect("events"), None);
}

async fn the_event_log_keeps_the_latest_events_and_forgets_the_oldest(store: Arc<dyn Store>) {
    // Redis trims its log with `MAXLEN ~`, which drops whole stream nodes (at most 100 entries
    // each) and so may keep up to a node more than asked; well past that, the oldest are gone.
    const BEYOND: u64 = EVENT_LOG_LEN as u64 + 200;
    let (session, _) = create(&store, 2).await;
    next(&store, &session.id, &new_id()).await.expect("start");
    for i in 0..BEYOND - 2 {
        let command =
            if i % 2 == 0 { Command::Agenda(AgendaCommand::Next) } else { Command::Agenda(AgendaCommand::Prev) };
        store.apply(&session.id, &new_id(), &Actor::new(Role::Moderator), &command, now_ms()).await.expect("apply");
    }
    let last = load(&store, &session.id).await.expect("session").seq;
    assert_eq!(last, BEYOND);

    assert_eq!(store.events_since(&session.id, 0).await.expect("events"), None);
    let oldest_kept = last - EVENT_LOG_LEN as u64;
    let kept = store
        .events_since(&session.id, oldest_kept)
        .await
        .expect("events")
        .expect("the latest EVENT_LOG_LEN events are kept");
    assert_eq!(seqs(&kept), (oldest_kept + 1..=last).collect::<Vec<_>>());
    let recent = store.events_since(&session.id, last - 3).await.expect("events").expect("kept");
    assert_eq!(seqs(&recent), [last - 2, last - 1, last]);
    assert_eq!(recent, kept[kept.len() - 3..]);
    assert_eq!(store.events_since(&session.id, last).await.expect("events"), Some(vec![]));
    assert_eq!(store.events_since(&session.id, last + 1).await.expect("events"), None);
}

async fn the_feed_carries_every_applied_batch_in_order(store: Arc<dyn Store>) {
    let (session, _) = create(&store, 3).await;
    let mut feed = store.feed();
    feed_is_live(&store, &mut feed, &session.id).await;

    let mut batches = Vec::new();
    for _ in 0..2 {
        match next(&store, &session.id, &new_id()).await.expect("apply") {
            Applied::New { events, .. } => batches.push(events),
            other => panic!("expected Applied::New, got {other:?}"),
        }
    }
    assert_eq!(batches.iter().map(|b| seqs(b)).collect::<Vec<_>>(), [vec![1, 2], vec![3]]);

    let mut heard = Vec::new();
    while heard.len() < batches.len() {
        match recv(&mut feed).await {
            Feed::Events { session: s, events } if *s == *session.id => heard.push(events.as_ref().clone()),
            Feed::Deleted { session: s } if *s == *session.id => panic!("the session was announced deleted"),
            _ => {}
        }
    }
    assert_eq!(heard, batches);
}

async fn a_deleted_session_is_gone_everywhere_and_announced_on_the_feed(store: Arc<dyn Store>) {
    let (session, _) = create(&store, 2).await;
    next(&store, &session.id, &new_id()).await.expect("apply");
    store.participant(&session.id, &new_id(), &fresh_participant()).await.expect("participant");
    let mut feed = store.feed();
    feed_is_live(&store, &mut feed, &session.id).await;

    assert!(store.delete(&session.id).await.expect("delete"));

    assert_eq!(load(&store, &session.id).await, None);
    assert_eq!(store.credentials(&session.id).await.expect("credentials"), None);
    assert_eq!(store.resolve_code(&session.code).await.expect("resolve"), None);
    assert!(!store.list().await.expect("list").iter().any(|s| s.id == session.id));
    let applied = next(&store, &session.id, &new_id()).await;
    assert!(matches!(applied, Err(StoreError::NotFound)), "apply: {applied:?}");
    assert!(!store.delete(&session.id).await.expect("second delete"));
    loop {
        match recv(&mut feed).await {
            Feed::Deleted { session: s } if *s == *session.id => break,
            Feed::Events { session: s, .. } if *s == *session.id => panic!("events after the delete"),
            _ => {}
        }
    }
    // Its code is free again.
    let reuse = Session::new(new_id(), session.code.clone(), &definition(1), now_ms());
    store.create(&definition(1), &reuse, &new_credentials()).await.expect("the code is free");
}

async fn a_retry_reaching_a_deleted_session_is_not_found(store: Arc<dyn Store>) {
    let (session, _) = create(&store, 2).await;
    let cmd = new_id();
    next(&store, &session.id, &cmd).await.expect("apply");
    assert!(store.delete(&session.id).await.expect("delete"));

    // The retry must not be acknowledged: the command's effects are gone with the session.
    let retried = next(&store, &session.id, &cmd).await;

    assert!(matches!(retried, Err(StoreError::NotFound)), "retry: {retried:?}");
}

async fn a_participant_is_registered_once_per_token_hash(store: Arc<dyn Store>) {
    let (session, _) = create(&store, 1).await;
    let hash = new_id();
    let first = fresh_participant();
    let second = fresh_participant();
    assert_ne!(first.id, second.id);

    assert_eq!(store.find_participant(&session.id, &hash).await.expect("find"), None);
    assert_eq!(store.participant(&session.id, &hash, &first).await.expect("register"), first);
    assert_eq!(store.participant(&session.id, &hash, &second).await.expect("again"), first);
    assert_eq!(store.find_participant(&session.id, &hash).await.expect("find"), Some(first.clone()));
    assert_eq!(store.find_participant(&session.id, &new_id()).await.expect("find"), None);
    // Another token hash is another participant.
    let other = new_id();
    assert_eq!(store.participant(&session.id, &other, &second).await.expect("other"), second);
    assert_eq!(store.find_participant(&session.id, &hash).await.expect("find"), Some(first));
}

async fn presence_sums_recent_reports_of_every_instance_and_drops_stale_ones(store: Arc<dyn Store>) {
    let (session, _) = create(&store, 1).await;
    let id = &session.id;
    let t = now_ms();

    assert_eq!(store.report_presence(id, "a", 3, 2, t).await.expect("a"), (3, 2));
    assert_eq!(store.report_presence(id, "b", 4, 1, t).await.expect("b"), (7, 3));
    // An instance's new report replaces its previous one.
    assert_eq!(store.report_presence(id, "a", 5, 4, t + 1).await.expect("a again"), (9, 5));
    // Only "b" reports once "a"'s last report is older than the time-to-live.
    let later = t + 1 + PRESENCE_TTL_MS + 1;
    assert_eq!(store.report_presence(id, "b", 4, 1, later).await.expect("b later"), (4, 1));
    assert_eq!(store.report_presence(id, "b", 2, 0, later + 1).await.expect("b again"), (2, 0));
}

async fn participant_lookups_and_presence_reports_for_a_missing_session_are_not_found(store: Arc<dyn Store>) {
    // `participant`, `events_since` and `apply` already answer NotFound for a missing session
    // on every store; the lookup and the presence report must agree with them.
    let missing = new_id();
    let found = store.find_participant(&missing, &new_id()).await;
    assert!(matches!(found, Err(StoreError::NotFound)), "find_participant: {found:?}");
    let totals = store.report_presence(&missing, "a", 1, 1, now_ms()).await;
    assert!(matches!(totals, Err(StoreError::NotFound)), "report_presence: {totals:?}");

    // A hub still reporting for a session just deleted must not bring its presence back.
    let (session, _) = create(&store, 1).await;
    let hash = new_id();
    store.participant(&session.id, &hash, &fresh_participant()).await.expect("participant");
    assert!(store.delete(&session.id).await.expect("delete"));
    let found = store.find_participant(&session.id, &hash).await;
    assert!(matches!(found, Err(StoreError::NotFound)), "find_participant after delete: {found:?}");
    let totals = store.report_presence(&session.id, "a", 1, 1, now_ms()).await;
    assert!(matches!(totals, Err(StoreError::NotFound)), "report_presence after delete: {totals:?}");
}

async fn commands_racing_on_two_instances_lose_no_update(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    const RACERS: usize = 60;
    let (session, _) = create(&a, 100).await;
    let id: Arc<str> = session.id.as_str().into();

    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let id = id.clone();
            tokio::spawn(async move { next(&store, &id, &new_id()).await })
        })
        .collect();
    let mut returned = Vec::new();
    let mut acked = Vec::new();
    for task in tasks {
        match within(task).await.expect("task") {
            Ok(Applied::New { seq, events, .. }) => {
                acked.push(seq);
                returned.extend(events);
            }
            other => panic!("expected Applied::New, got {other:?}"),
        }
    }

    let last = 1 + RACERS as u64;
    let loaded = load(&b, &id).await.expect("session");
    assert_eq!((loaded.agenda.current, loaded.seq), (Some(RACERS - 1), last));
    acked.sort_unstable();
    acked.dedup();
    returned.sort_by_key(|e| e.seq);
    assert_eq!(acked.len(), RACERS, "every command was acknowledged with its own seq");
    for store in [&a, &b] {
        let log = store.events_since(&id, 0).await.expect("events").expect("kept");
        assert_eq!(seqs(&log), (1..=last).collect::<Vec<_>>());
        // Each move starts where the one before it ended: no command decided on a stale state.
        let moves: Vec<(Option<usize>, usize)> = log
            .iter()
            .filter_map(|e| match e.event {
                Event::Agenda(AgendaEvent::Moved { previous, current, .. }) => Some((previous, current)),
                _ => None,
            })
            .collect();
        let expected: Vec<_> = (0..RACERS).map(|i| (i.checked_sub(1), i)).collect();
        assert_eq!(moves, expected);
        assert_eq!(returned, log, "the events returned are the events stored");
    }
}

async fn retries_of_one_command_racing_on_two_instances_apply_it_once(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    const RETRIES: usize = 10;
    let (session, _) = create(&a, 3).await;
    let id: Arc<str> = session.id.as_str().into();
    let cmd: Arc<str> = new_id().into();

    let tasks: Vec<_> = (0..RETRIES)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (id, cmd) = (id.clone(), cmd.clone());
            tokio::spawn(async move { next(&store, &id, &cmd).await })
        })
        .collect();
    let mut new = Vec::new();
    let mut duplicates = Vec::new();
    for task in tasks {
        match within(task).await.expect("task").expect("apply") {
            Applied::New { seq, .. } => new.push(seq),
            Applied::Duplicate { seq, .. } => duplicates.push(seq),
        }
    }

    assert_eq!(new, [2], "exactly one retry is applied");
    assert_eq!(duplicates, [2; RETRIES - 1]);
    let loaded = load(&b, &id).await.expect("session");
    assert_eq!((loaded.agenda.current, loaded.seq), (Some(0), 2));
    let log = a.events_since(&id, 0).await.expect("events").expect("kept");
    assert_eq!(seqs(&log), [1, 2]);
}

// ---------------------------------------------------------------------------------------------
// Plumbing
// ---------------------------------------------------------------------------------------------

/// Upper bound on any single wait, so that a failure shows as a failed test, not a hung one.
const PATIENCE: Duration = Duration::from_secs(20);

const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

async fn two_handles(backend: Backend) -> (Arc<dyn Store>, Arc<dyn Store>) {
    match backend {
        // The memory store serves one process: its "instances" share the one store.
        Backend::Memory => {
            let one = store(backend).await;
            (one.clone(), one)
        }
        Backend::Redis => (store(backend).await, store(backend).await),
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn new_code() -> String {
    (0..6).map(|_| char::from(CODE_ALPHABET[rand::random_range(0..CODE_ALPHABET.len())])).collect()
}

fn new_credentials() -> Credentials {
    Credentials { moderator: new_id(), rapporteur: new_id(), code: String::new(), ballot_salt: new_id() }
}

fn fresh_participant() -> Participant {
    Participant { id: new_id(), joined_at: now_ms() }
}

fn now_ms() -> i64 {
    let since_epoch =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("the clock is after 1970");
    i64::try_from(since_epoch.as_millis()).expect("milliseconds fit in i64")
}

/// A valid definition with `items` agenda items of the default kind (no debate, so moving
/// through the agenda makes exactly one `agenda.moved` per move).
fn definition(items: usize) -> SessionDefinition {
    SessionDefinition::parse(RawDefinition {
        title: Some("Conformance".into()),
        agenda: Some(
            (0..items)
                .map(|i| RawItem {
                    title: Some(format!("Item {i}").into()),
                    kind: None,
                    minutes: Some(10),
                    speakers: None,
                    turn_seconds: None,
                })
                .collect(),
        ),
        ..Default::default()
    })
    .expect("a valid definition")
}

/// Behaviours of the Redis store alone (the memory store serves one process and carries every
/// session on its feed).
mod redis_only {
    use super::*;

    /// An instance hears the sessions its sockets are in, not the others: each session has a
    /// channel of its own, followed while a hub needs it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_instance_hears_only_the_sessions_it_follows() {
        let store = store(Backend::Redis).await;
        let (followed, _) = create(&store, 3).await;
        let (other, _) = create(&store, 3).await;
        let mut feed = store.feed();
        feed_is_live(&store, &mut feed, &followed.id).await;
        next(&store, &other.id, &new_id()).await.expect("apply");
        next(&store, &followed.id, &new_id()).await.expect("apply");
        loop {
            match recv(&mut feed).await {
                Feed::Events { session, .. } if *session == *followed.id => break,
                Feed::Events { session, .. } => panic!("heard session {session}, which this instance does not follow"),
                _ => {}
            }
        }
        // Following the other one now: its next event is heard.
        store.follow(&other.id).await.expect("follow");
        let applied = next(&store, &other.id, &new_id()).await.expect("apply");
        loop {
            if let Feed::Events { session, events } = recv(&mut feed).await {
                if *session == *other.id {
                    assert_eq!(events.last().map(|e| e.seq), Some(applied.seq()));
                    break;
                }
            }
        }
    }
}

async fn create(store: &Arc<dyn Store>, items: usize) -> (Session, Credentials) {
    let session = Session::new(new_id(), new_code(), &definition(items), now_ms());
    let credentials = new_credentials();
    store.create(&definition(items), &session, &credentials).await.expect("create");
    (session, credentials)
}

async fn next(store: &Arc<dyn Store>, id: &str, cmd: &str) -> Result<Applied, StoreError> {
    store.apply(id, cmd, &Actor::new(Role::Moderator), &Command::Agenda(AgendaCommand::Next), now_ms()).await
}

fn seqs(events: &[Sequenced]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

fn kinds(events: &[Sequenced]) -> Vec<&'static str> {
    events.iter().map(|e| e.event.kind()).collect()
}

async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future).await.expect("no answer in time")
}

/// The next message on the feed. A lagged receiver is a failure: the test cannot know what
/// it missed.
async fn recv(feed: &mut broadcast::Receiver<Feed>) -> Feed {
    within(feed.recv()).await.expect("the feed is open and not lagging")
}

/// Returns once `feed` is known to carry what this store publishes. A Redis store subscribes
/// in the background after connecting and announces [`Feed::Gap`] when it has: whatever was
/// published before is lost, as the gap says. So publish (a presence report, which every store
/// publishes) until one is heard, publishing again after each gap.
async fn feed_is_live(store: &Arc<dyn Store>, feed: &mut broadcast::Receiver<Feed>, id: &str) {
    store.follow(id).await.expect("follow the session");
    store.report_presence(id, "feed-probe", 0, 0, now_ms()).await.expect("report presence");
    loop {
        match recv(feed).await {
            Feed::Presence { session, .. } if *session == *id => return,
            Feed::Gap => {
                store.report_presence(id, "feed-probe", 0, 0, now_ms()).await.expect("report presence");
            }
            _ => {}
        }
    }
}

/// The whole session as the store holds it now.
async fn load(store: &Arc<dyn Store>, id: &str) -> Option<Session> {
    store.snapshot(id, None).await.expect("snapshot").map(|s| s.session)
}

// ---------------------------------------------------------------------------------------------
// Behaviours: questions and upvotes
// ---------------------------------------------------------------------------------------------

async fn a_vote_is_checked_by_the_rules_and_a_refused_one_counts_nothing(store: Arc<dyn Store>) {
    let id = open_debate(&store).await;
    ask_as(&store, &id, "asker", "q1", "Pending ?", now_ms()).await.expect("ask");
    let seq = load(&store, &id).await.expect("session").seq;

    let refused = [
        ("someone else's pending question", vote(&store, &id, "other", "q1", true).await),
        ("an unknown question", vote(&store, &id, "other", "q9", true).await),
    ];
    for (what, r) in refused {
        assert!(matches!(r, Err(StoreError::Domain(DomainError::NotFound(_)))), "{what}: {r:?}");
    }
    let own = vote(&store, &id, "asker", "q1", true).await;
    assert!(matches!(own, Err(StoreError::Domain(DomainError::Conflict(_)))), "own pending: {own:?}");
    let up = Command::Question(QuestionCommand::Upvote { question: "q1".into() });
    let moderator = store.apply(&id, &new_id(), &Actor::new(Role::Moderator), &up, now_ms()).await;
    assert!(matches!(moderator, Err(StoreError::Domain(DomainError::Forbidden(_)))), "moderator: {moderator:?}");
    approve(&store, &id, "q1").await;
    // Upvoted and withdrawn while open (a store may remember the question as open to upvotes),
    // then questions close: the next upvote is refused all the same.
    vote(&store, &id, "other", "q1", true).await.expect("upvote while open");
    vote(&store, &id, "other", "q1", false).await.expect("unvote while open");
    moderate(&store, &id, Command::Agenda(AgendaCommand::QaClose)).await;
    let closed = vote(&store, &id, "other", "q1", true).await;
    assert!(matches!(closed, Err(StoreError::Domain(DomainError::Closed(_)))), "questions closed: {closed:?}");
    moderate(&store, &id, Command::Agenda(AgendaCommand::QaOpen)).await;

    // Thirty votes in ten seconds, then the limit; the refused one is not counted.
    for i in 0..30 {
        let applied = vote(&store, &id, "eager", "q1", i % 2 == 0).await.unwrap_or_else(|e| panic!("vote {i}: {e}"));
        let expected = Reply::Upvote { question: "q1".into(), upvotes: u64::from(i % 2 == 0), upvoted: i % 2 == 0 };
        assert_eq!(applied.reply(), Some(&expected), "vote {i}");
    }
    let over = vote(&store, &id, "eager", "q1", true).await;
    assert!(matches!(over, Err(StoreError::Domain(DomainError::RateLimited(_)))), "31st vote: {over:?}");
    vote(&store, &id, "other", "q1", true).await.expect("another participant votes on");

    assert_eq!(count(&store, &id, "q1").await, 1);
    let snapshot = store.snapshot(&id, Some("eager")).await.expect("snapshot").expect("session");
    assert!(snapshot.upvoted.is_empty(), "{:?}", snapshot.upvoted);
    // Votes are counted, not sequenced: only the approval and the two moves took a seq.
    assert_eq!(snapshot.session.seq, seq + 3);
}

async fn an_upvote_changes_the_count_once_and_publishes_it_on_the_feed(store: Arc<dyn Store>) {
    let id = open_debate(&store).await;
    ask_as(&store, &id, "asker", "q1", "Populaire ?", now_ms()).await.expect("ask");
    approve(&store, &id, "q1").await;
    let mut feed = store.feed();
    feed_is_live(&store, &mut feed, &id).await;

    let first = vote(&store, &id, "v1", "q1", true).await.expect("upvote");
    let again = vote(&store, &id, "v1", "q1", true).await.expect("upvote again");
    let other = vote(&store, &id, "v2", "q1", true).await.expect("another upvote");
    let back = vote(&store, &id, "v1", "q1", false).await.expect("unvote");

    let reply = |n: u64, up: bool| Some(Reply::Upvote { question: "q1".into(), upvotes: n, upvoted: up });
    assert_eq!(
        [first.reply().cloned(), again.reply().cloned(), other.reply().cloned(), back.reply().cloned()],
        [reply(1, true), reply(1, true), reply(2, true), reply(1, false)]
    );
    for applied in [&first, &again, &other, &back] {
        assert!(matches!(applied, Applied::New { events, .. } if events.is_empty()), "{applied:?}");
    }
    // What changed the count is published, absolute; what did not, is not.
    let mut heard = Vec::new();
    while heard.len() < 3 {
        match recv(&mut feed).await {
            Feed::Upvotes { session, question, count } if *session == *id => heard.push((question.to_string(), count)),
            Feed::Events { session, .. } if *session == *id => panic!("a vote is not an event"),
            _ => {}
        }
    }
    assert_eq!(heard, [("q1".to_owned(), 1), ("q1".to_owned(), 2), ("q1".to_owned(), 1)]);
    assert_eq!(store.upvote_counts(&id).await.expect("counts").get("q1"), Some(&1));
    let v2 = store.snapshot(&id, Some("v2")).await.expect("snapshot").expect("session");
    assert_eq!(v2.upvoted, HashSet::from(["q1".to_owned()]));
}

async fn merging_unites_the_upvoter_sets_and_counts_each_upvoter_once(store: Arc<dyn Store>) {
    let id = open_debate(&store).await;
    let t = now_ms();
    ask_as(&store, &id, "a1", "q1", "Quel budget ?", t).await.expect("ask");
    ask_as(&store, &id, "a2", "q2", "Combien d'argent ?", t).await.expect("ask");
    approve(&store, &id, "q1").await;
    approve(&store, &id, "q2").await;
    // p1 upvotes both, p2 only the target, p3 only the duplicate.
    for (voter, question) in [("p1", "q1"), ("p1", "q2"), ("p2", "q1"), ("p3", "q2")] {
        vote(&store, &id, voter, question, true).await.expect("upvote");
    }
    let mut feed = store.feed();
    feed_is_live(&store, &mut feed, &id).await;

    let merged = moderate(&store, &id, merge("q2", "q1")).await;

    let Applied::New { events, .. } = merged else { panic!("expected Applied::New, got {merged:?}") };
    assert_eq!(
        events.into_iter().map(|e| e.event).collect::<Vec<_>>(),
        [Event::Question(QuestionEvent::Merged { question: "q2".into(), into: "q1".into() })]
    );
    loop {
        match recv(&mut feed).await {
            Feed::Upvotes { session, question, count } if *session == *id => {
                assert_eq!((&*question, count), ("q1", 3), "the target's new count is published");
                break;
            }
            _ => {}
        }
    }
    assert_eq!((count(&store, &id, "q1").await, count(&store, &id, "q2").await), (3, 0));
    for voter in ["p1", "p2", "p3"] {
        let snapshot = store.snapshot(&id, Some(voter)).await.expect("snapshot").expect("session");
        assert_eq!(snapshot.upvoted, HashSet::from(["q1".to_owned()]), "{voter}");
    }
    let up = vote(&store, &id, "p1", "q1", true).await.expect("upvote again");
    assert_eq!(up.reply(), Some(&Reply::Upvote { question: "q1".into(), upvotes: 3, upvoted: true }));
    let back = vote(&store, &id, "p3", "q1", false).await.expect("unvote");
    assert_eq!(back.reply(), Some(&Reply::Upvote { question: "q1".into(), upvotes: 2, upvoted: false }));
    let gone = vote(&store, &id, "p2", "q2", true).await;
    assert!(matches!(gone, Err(StoreError::Domain(DomainError::NotFound(_)))), "merged: {gone:?}");
    assert_eq!(store.upvote_counts(&id).await.expect("counts").get("q1"), Some(&2));
}

async fn approving_a_rejected_question_is_decided_as_the_rules_decide_it(store: Arc<dyn Store>) {
    // The rules decide on the whole session, kept here beside the store; the store, which
    // loads only parts of it, must reach the same decisions.
    let (session, rules) = open_debate_with_rules(&store).await;
    let mut rules = rules;
    let id = session.as_str();
    let t0 = now_ms() - 600_000;
    let asker = Actor::participant("p");
    let mut apply_both = |store: Arc<dyn Store>, actor: Actor, command: Command, at: i64| {
        let expected = rules.handle(&actor, &command, at).map(|_| ()).map_err(|e| format!("{e:?}"));
        let id = id.to_owned();
        async move {
            let got = store.apply(&id, &new_id(), &actor, &command, at).await;
            let got = got.map(|_| ()).map_err(|e| match e {
                StoreError::Domain(d) => format!("{d:?}"),
                other => panic!("{} failed: {other}", command.op()),
            });
            (expected, got)
        }
    };
    let mut steps = vec![(asker.clone(), ask_command("q0", "Rejetée par erreur ?"), t0)];
    steps.push((Actor::new(Role::Moderator), Command::Question(QuestionCommand::Reject { question: "q0".into() }), t0));
    // Five more questions: the asker now has as many open as one may.
    for (i, at) in [t0 + 1, t0 + 2, t0 + 60_001, t0 + 60_002, t0 + 60_003].into_iter().enumerate() {
        steps.push((asker.clone(), ask_command(&format!("q{}", i + 1), &format!("Question {} ?", i + 1)), at));
    }
    for (actor, command, at) in steps {
        let (expected, got) = apply_both(store.clone(), actor, command, at).await;
        assert_eq!(expected, Ok(()), "setting up");
        assert_eq!(got, Ok(()), "setting up");
    }

    let approve = Command::Question(QuestionCommand::Approve { question: "q0".into() });
    let (expected, got) = apply_both(store.clone(), Actor::new(Role::Moderator), approve, t0 + 60_004).await;

    assert_eq!(got, expected, "the store decides as the rules do");
    let stored = store.snapshot(id, None).await.expect("snapshot").expect("session").session;
    let status = stored.questions.items.get("q0").map(|q| q.status);
    let wanted = if expected.is_ok() { QuestionStatus::Approved } else { QuestionStatus::Rejected };
    assert_eq!(status, Some(wanted));
}

async fn upvotes_racing_on_two_instances_are_counted_exactly(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    const VOTERS: usize = 60;
    const TAKE_BACK: usize = 20;
    let id: Arc<str> = open_debate(&a).await.into();
    let t = now_ms();
    for q in ["q1", "q2"] {
        ask_as(&a, &id, "asker", q, &format!("Question {q} ?"), t).await.expect("ask");
        approve(&b, &id, q).await;
    }
    let seq = load(&a, &id).await.expect("session").seq;

    let tasks: Vec<_> = (0..VOTERS)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let id = id.clone();
            tokio::spawn(async move {
                let voter = format!("v{i}");
                let mut applied =
                    vec![vote(&store, &id, &voter, "q1", true).await, vote(&store, &id, &voter, "q2", true).await];
                if i < TAKE_BACK {
                    applied.push(vote(&store, &id, &voter, "q1", false).await);
                }
                applied
            })
        })
        .collect();
    for task in tasks {
        for applied in within(task).await.expect("task") {
            match applied {
                Ok(Applied::New { events, reply: Some(Reply::Upvote { .. }), .. }) if events.is_empty() => {}
                other => panic!("expected an applied vote, got {other:?}"),
            }
        }
    }

    for store in [&a, &b] {
        assert_eq!(count(store, &id, "q1").await, (VOTERS - TAKE_BACK) as u64);
        assert_eq!(count(store, &id, "q2").await, VOTERS as u64);
        let counts = store.upvote_counts(&id).await.expect("counts");
        assert_eq!((counts.get("q1"), counts.get("q2")), (Some(&40), Some(&60)));
        let took_back = store.snapshot(&id, Some("v0")).await.expect("snapshot").expect("session");
        assert_eq!(took_back.upvoted, HashSet::from(["q2".to_owned()]));
        let kept = store.snapshot(&id, Some("v59")).await.expect("snapshot").expect("session");
        assert_eq!(kept.upvoted, HashSet::from(["q1".to_owned(), "q2".to_owned()]));
        assert_eq!(kept.session.seq, seq, "votes take no seq");
    }
}

async fn retries_of_one_vote_racing_on_two_instances_count_it_once(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    const RETRIES: usize = 10;
    let id: Arc<str> = open_debate(&a).await.into();
    ask_as(&a, &id, "asker", "q1", "Une voix ?", now_ms()).await.expect("ask");
    approve(&a, &id, "q1").await;
    let cmd: Arc<str> = new_id().into();
    let up = Command::Question(QuestionCommand::Upvote { question: "q1".into() });

    let tasks: Vec<_> = (0..RETRIES)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (id, cmd, up) = (id.clone(), cmd.clone(), up.clone());
            tokio::spawn(async move { store.apply(&id, &cmd, &Actor::participant("voter"), &up, now_ms()).await })
        })
        .collect();
    let (mut new, mut duplicates) = (Vec::new(), Vec::new());
    for task in tasks {
        match within(task).await.expect("task").expect("apply") {
            Applied::New { reply, .. } => new.push(reply),
            Applied::Duplicate { reply, .. } => duplicates.push(reply),
        }
    }

    let once = Some(Reply::Upvote { question: "q1".into(), upvotes: 1, upvoted: true });
    assert_eq!(duplicates, vec![once.clone(); RETRIES - 1], "the others are acknowledged alike");
    assert_eq!(new, [once], "exactly one retry is applied");
    assert_eq!((count(&a, &id, "q1").await, count(&b, &id, "q1").await), (1, 1));
    // The retries used none of the voter's thirty votes in ten seconds.
    for i in 0..29 {
        vote(&b, &id, "voter", "q1", i % 2 == 1).await.unwrap_or_else(|e| panic!("vote {i}: {e}"));
    }
    let over = vote(&a, &id, "voter", "q1", true).await;
    assert!(matches!(over, Err(StoreError::Domain(DomainError::RateLimited(_)))), "31st vote: {over:?}");
}

async fn the_open_question_caps_hold_under_concurrent_asks(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    use palabre::domain::questions::{MAX_OPEN_PER_PARTICIPANT, MAX_OPEN_QUESTIONS};
    // One participant with three questions asked a while ago asks eight more at once: two fit.
    let id: Arc<str> = open_debate(&a).await.into();
    let t0 = now_ms() - 600_000;
    for i in 0..3 {
        ask_as(&a, &id, "p", &format!("qold{i}"), &format!("Ancienne {i} ?"), t0 + i).await.expect("ask");
    }
    let later = t0 + 120_000;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let id = id.clone();
            tokio::spawn(async move {
                ask_as(&store, &id, "p", &format!("qnew{i}"), &format!("Nouvelle {i} ?"), later).await
            })
        })
        .collect();
    let outcomes = outcomes(tasks).await;
    assert_eq!(outcomes, (2, 6), "(applied, refused as conflicts)");
    let session = load(&b, &id).await.expect("session");
    let open = session.questions.items.values().filter(|q| q.by == "p" && q.status.is_open()).count();
    assert_eq!(open as i64, MAX_OPEN_PER_PARTICIPANT);

    // A room asking at once: 170 participants, three questions each; 500 fit in a session.
    const ASKERS: usize = 170;
    let id: Arc<str> = open_debate(&a).await.into();
    let t = now_ms();
    let tasks: Vec<_> = (0..ASKERS)
        .map(|p| {
            let store = if p % 2 == 0 { a.clone() } else { b.clone() };
            let id = id.clone();
            tokio::spawn(async move {
                let mut all = Vec::new();
                for i in 0..3 {
                    all.push(
                        ask_as(&store, &id, &format!("p{p}"), &format!("q{p}x{i}"), &format!("{p} {i} ?"), t).await,
                    );
                }
                all
            })
        })
        .collect();
    let (mut applied, mut full) = (0, 0);
    for task in tasks {
        for outcome in within(task).await.expect("task") {
            match outcome {
                Ok(Applied::New { .. }) => applied += 1,
                Err(StoreError::Domain(DomainError::Conflict(_))) => full += 1,
                other => panic!("expected applied or a conflict, got {other:?}"),
            }
        }
    }
    assert_eq!((applied, full), (MAX_OPEN_QUESTIONS, ASKERS as i64 * 3 - MAX_OPEN_QUESTIONS));
    let session = load(&a, &id).await.expect("session");
    assert_eq!(session.questions.items.len() as i64, MAX_OPEN_QUESTIONS);
}

// ---------------------------------------------------------------------------------------------
// Plumbing: questions
// ---------------------------------------------------------------------------------------------

/// A definition with one debate item: the first `agenda.next` opens questions.
fn debate_definition() -> SessionDefinition {
    SessionDefinition::parse(RawDefinition {
        title: Some("Debate".into()),
        agenda: Some(vec![RawItem {
            title: Some("Debate".into()),
            kind: Some("debate".into()),
            minutes: Some(30),
            speakers: None,
            turn_seconds: None,
        }]),
        ..Default::default()
    })
    .expect("a valid definition")
}

/// A new session in its debate, questions open; returns its id.
async fn open_debate(store: &Arc<dyn Store>) -> String {
    open_debate_with_rules(store).await.0
}

/// Also returns the session as the rules hold it after the same start, to decide on beside
/// the store.
async fn open_debate_with_rules(store: &Arc<dyn Store>) -> (String, Session) {
    let now = now_ms();
    let mut session = Session::new(new_id(), new_code(), &debate_definition(), now);
    store.create(&debate_definition(), &session, &new_credentials()).await.expect("create");
    let next = Command::Agenda(AgendaCommand::Next);
    store.apply(&session.id, &new_id(), &Actor::new(Role::Moderator), &next, now).await.expect("start");
    session.handle(&Actor::new(Role::Moderator), &next, now).expect("the rules start it");
    assert!(session.agenda.qa_open);
    (session.id.clone(), session)
}

fn ask_command(question: &str, text: &str) -> Command {
    Command::Question(QuestionCommand::Ask {
        id: question.to_owned(),
        text: QuestionText::parse(text).expect("a valid question"),
        name: None,
    })
}

async fn ask_as(
    store: &Arc<dyn Store>,
    id: &str,
    participant: &str,
    question: &str,
    text: &str,
    at: i64,
) -> Result<Applied, StoreError> {
    store.apply(id, &new_id(), &Actor::participant(participant), &ask_command(question, text), at).await
}

async fn moderate(store: &Arc<dyn Store>, id: &str, command: Command) -> Applied {
    store
        .apply(id, &new_id(), &Actor::new(Role::Moderator), &command, now_ms())
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", command.op()))
}

async fn approve(store: &Arc<dyn Store>, id: &str, question: &str) {
    moderate(store, id, Command::Question(QuestionCommand::Approve { question: question.into() })).await;
}

fn merge(question: &str, into: &str) -> Command {
    Command::Question(QuestionCommand::Merge { question: question.into(), into: into.into() })
}

async fn vote(store: &Arc<dyn Store>, id: &str, voter: &str, question: &str, up: bool) -> Result<Applied, StoreError> {
    let question = question.to_owned();
    let command =
        Command::Question(if up { QuestionCommand::Upvote { question } } else { QuestionCommand::Unvote { question } });
    store.apply(id, &new_id(), &Actor::participant(voter), &command, now_ms()).await
}

/// A question's upvote count in a snapshot (0 when it has none).
async fn count(store: &Arc<dyn Store>, id: &str, question: &str) -> u64 {
    let snapshot = store.snapshot(id, None).await.expect("snapshot").expect("session");
    snapshot.upvotes.get(question).copied().unwrap_or(0)
}

/// How many asks were applied and how many refused as conflicts; anything else fails.
async fn outcomes(tasks: Vec<tokio::task::JoinHandle<Result<Applied, StoreError>>>) -> (usize, usize) {
    let (mut applied, mut conflicts) = (0, 0);
    for task in tasks {
        match within(task).await.expect("task") {
            Ok(Applied::New { .. }) => applied += 1,
            Err(StoreError::Domain(DomainError::Conflict(_))) => conflicts += 1,
            other => panic!("expected applied or a conflict, got {other:?}"),
        }
    }
    (applied, conflicts)
}

// ---------------------------------------------------------------------------------------------
// Behaviours: votes
// ---------------------------------------------------------------------------------------------

use palabre::domain::votes::{Counts, Outcome, RosterEntry, VoteEvent};
use palabre::domain::{Choice, Method, VoteCommand};
use palabre::store::{Ballot, MAX_CLAIM_FAILURES_PER_MINUTE};
use std::collections::BTreeMap;

async fn a_ballot_counts_once_per_voter_and_a_changed_choice_keeps_its_receipt(store: Arc<dyn Store>) {
    let id = create_for_votes(&store, "open").await;
    let voters = register(&store, &id, 3).await;
    let poll = open_poll_on(&store, &id, "d1", Method::Simple, 0).await;
    let seq = load(&store, &id).await.expect("session").seq;
    let mut feed = store.feed();
    feed_is_live(&store, &mut feed, &id).await;

    let first = cast_as(&store, &id, &voters[0], &poll, Choice::For).await.expect("cast");
    let changed = cast_as(&store, &id, &voters[0], &poll, Choice::Against).await.expect("change");
    let other = cast_as(&store, &id, &voters[1], &poll, Choice::For).await.expect("cast");

    let receipt = receipt_of(&first);
    assert!(matches!(&first, Applied::New { seq: s, events, .. } if *s == seq && events.is_empty()), "{first:?}");
    let expected = Reply::Ballot { poll: poll.clone(), choice: Choice::Against, receipt: receipt.clone() };
    assert_eq!(changed.reply(), Some(&expected), "the same receipt for the changed choice");
    assert_ne!(receipt_of(&other), receipt, "a receipt per voter");
    // Each ballot publishes the poll's whole tally, with the eligible weight: three registered.
    let mut heard = Vec::new();
    while heard.len() < 3 {
        match recv(&mut feed).await {
            Feed::Tally { session, poll: p, tally, eligible, hidden } if *session == *id => {
                assert_eq!((&*p, eligible, hidden), (poll.as_str(), 3, false));
                heard.push((tally.for_, tally.against, tally.abstain, tally.cast, tally.cast_weight));
            }
            Feed::Events { session, .. } if *session == *id => panic!("a ballot is not an event"),
            _ => {}
        }
    }
    assert_eq!(heard, [(1, 0, 0, 1, 1), (0, 1, 0, 1, 1), (1, 1, 0, 2, 2)]);
    let mut kept = vec![
        Ballot { choice: Choice::Against, weight: 1, receipt: receipt.clone() },
        Ballot { choice: Choice::For, weight: 1, receipt: receipt_of(&other) },
    ];
    kept.sort_by(|a, b| a.receipt.cmp(&b.receipt));
    assert_eq!(store.ballots(&id, &poll).await.expect("ballots"), kept, "sorted by receipt, no voter named");
    let own = store.snapshot(&id, Some(&voters[0])).await.expect("snapshot").expect("session");
    assert_eq!(
        own.ballots,
        BTreeMap::from([(poll.clone(), kept.iter().find(|b| b.receipt == receipt).cloned().expect("own"))])
    );
    for viewer in [Some(voters[2].as_str()), None] {
        let snapshot = store.snapshot(&id, viewer).await.expect("snapshot").expect("session");
        assert!(snapshot.ballots.is_empty(), "{viewer:?}: {:?}", snapshot.ballots);
    }

    let closed = moderate(&store, &id, Command::Vote(VoteCommand::PollClose { poll: poll.clone() })).await;

    assert_eq!(poll_closed(&closed), (counts(1, 1, 0), 2, 2, 3, Outcome::Rejected), "a tie");
    let late = cast_as(&store, &id, &voters[2], &poll, Choice::For).await;
    assert!(matches!(late, Err(StoreError::Domain(DomainError::Closed(_)))), "after the close: {late:?}");
    assert_eq!(store.ballots(&id, &poll).await.expect("ballots"), kept);
    assert_eq!(load(&store, &id).await.expect("session").seq, seq + 1, "only the close took a seq");
}

async fn a_claimed_roster_entry_holds_one_ballot_whoever_holds_it_now(store: Arc<dyn Store>) {
    let id = create_for_votes(&store, "roster").await;
    let entries = roster(&[3, 2]);
    let replaced = store.replace_roster(&id, &entries, now_ms()).await.expect("roster");
    assert_eq!(kinds(&replaced), ["roster.replaced"]);
    assert_eq!(store.roster(&id).await.expect("roster"), entries);
    let poll = open_poll_on(&store, &id, "d1", Method::Absolute, 0).await;

    let unclaimed = cast_as(&store, &id, "phone", &poll, Choice::For).await;
    assert!(matches!(unclaimed, Err(StoreError::Domain(DomainError::Forbidden(_)))), "{unclaimed:?}");
    let wrong = claim_as(&store, &id, "phone", &wrong_code(&entries)).await;
    assert!(matches!(wrong, Err(StoreError::Domain(DomainError::NotFound(_)))), "{wrong:?}");
    let claimed = claim_as(&store, &id, "phone", &entries[0].code).await.expect("claim");
    let holder = |claim: u64| Reply::Voter {
        entry: "v1".into(),
        name: entries[0].name.clone(),
        organisation: entries[0].organisation.clone(),
        weight: 3,
        claim,
    };
    assert_eq!(claimed.reply(), Some(&holder(1)));
    let Applied::New { events, .. } = &claimed else { panic!("{claimed:?}") };
    assert_eq!(
        events.iter().map(|e| e.event.clone()).collect::<Vec<_>>(),
        [Event::Vote(VoteEvent::VoterClaimed { entry: "v1".into(), claim: 1, participant: "phone".into() })]
    );
    let receipt = receipt_of(&cast_as(&store, &id, "phone", &poll, Choice::For).await.expect("cast"));

    let moved = claim_as(&store, &id, "laptop", &entries[0].code).await.expect("claim elsewhere");

    assert_eq!(moved.reply(), Some(&holder(2)));
    let lost = cast_as(&store, &id, "phone", &poll, Choice::Against).await;
    assert!(matches!(lost, Err(StoreError::Domain(DomainError::Forbidden(_)))), "the right moved: {lost:?}");
    let entrys = Ballot { choice: Choice::For, weight: 3, receipt: receipt.clone() };
    let laptop = store.snapshot(&id, Some("laptop")).await.expect("snapshot").expect("session");
    assert_eq!(laptop.ballots, BTreeMap::from([(poll.clone(), entrys)]), "the entry's ballot, with its holder");
    let phone = store.snapshot(&id, Some("phone")).await.expect("snapshot").expect("session");
    assert!(phone.ballots.is_empty(), "{:?}", phone.ballots);
    let replaced = cast_as(&store, &id, "laptop", &poll, Choice::Against).await.expect("cast");
    assert_eq!(receipt_of(&replaced), receipt, "one ballot per entry");
    let one = Ballot { choice: Choice::Against, weight: 3, receipt };
    assert_eq!(store.ballots(&id, &poll).await.expect("ballots"), [one]);
    assert_eq!(store.snapshot(&id, None).await.expect("snapshot").expect("session").claimed, 1);

    let closed = moderate(&store, &id, Command::Vote(VoteCommand::PollClose { poll })).await;
    assert_eq!(poll_closed(&closed), (counts(0, 3, 0), 1, 3, 5, Outcome::Rejected));
}

async fn the_roster_cannot_be_replaced_while_a_poll_is_open_and_a_new_one_voids_every_claim(store: Arc<dyn Store>) {
    let id = create_for_votes(&store, "roster").await;
    let entries = roster(&[3, 2]);
    store.replace_roster(&id, &entries, now_ms()).await.expect("roster");
    claim_as(&store, &id, "phone", &entries[0].code).await.expect("claim");
    let poll = open_poll_on(&store, &id, "d1", Method::Simple, 0).await;

    let refused = store.replace_roster(&id, &roster(&[7]), now_ms()).await;

    assert!(matches!(refused, Err(StoreError::Domain(DomainError::Conflict(_)))), "{refused:?}");
    assert_eq!(store.roster(&id).await.expect("roster"), entries, "unchanged");
    moderate(&store, &id, Command::Vote(VoteCommand::PollClose { poll })).await;
    let next = roster(&[7]);
    let replaced = store.replace_roster(&id, &next, now_ms()).await.expect("after the close");
    assert_eq!(
        replaced.into_iter().map(|e| e.event).collect::<Vec<_>>(),
        [Event::Vote(VoteEvent::RosterReplaced { entries: 1, weight: 7 })]
    );
    let poll = open_poll_on(&store, &id, "d2", Method::Simple, 0).await;
    let void = cast_as(&store, &id, "phone", &poll, Choice::For).await;
    assert!(matches!(void, Err(StoreError::Domain(DomainError::Forbidden(_)))), "claims went: {void:?}");
    let old = claim_as(&store, &id, "phone", &entries[0].code).await;
    assert!(matches!(old, Err(StoreError::Domain(DomainError::NotFound(_)))), "old codes went: {old:?}");
    let claimed = claim_as(&store, &id, "phone", &next[0].code).await.expect("claim");
    assert!(matches!(claimed.reply(), Some(Reply::Voter { claim: 1, weight: 7, .. })), "{claimed:?}");
    cast_as(&store, &id, "phone", &poll, Choice::For).await.expect("cast");
    let closed = moderate(&store, &id, Command::Vote(VoteCommand::PollClose { poll })).await;
    assert_eq!(poll_closed(&closed), (counts(7, 0, 0), 1, 7, 7, Outcome::Adopted));

    let open = create_for_votes(&store, "open").await;
    let refused = store.replace_roster(&open, &entries, now_ms()).await;
    assert!(matches!(refused, Err(StoreError::Domain(DomainError::Conflict(_)))), "open mode: {refused:?}");
}

async fn wrong_voting_codes_are_refused_for_the_session_after_fifty_in_a_minute(store: Arc<dyn Store>) {
    let id = create_for_votes(&store, "roster").await;
    let entries = roster(&[1, 1]);
    store.replace_roster(&id, &entries, now_ms()).await.expect("roster");
    let other = create_for_votes(&store, "roster").await;
    let theirs = roster(&[1]);
    store.replace_roster(&other, &theirs, now_ms()).await.expect("roster");

    for i in 0..MAX_CLAIM_FAILURES_PER_MINUTE {
        let wrong = claim_as(&store, &id, &format!("p{i}"), &wrong_code(&entries)).await;
        assert!(matches!(wrong, Err(StoreError::Domain(DomainError::NotFound(_)))), "wrong code {i}: {wrong:?}");
    }

    let limited = claim_as(&store, &id, "someone", &entries[1].code).await;

    assert!(matches!(limited, Err(StoreError::Domain(DomainError::RateLimited(_)))), "even a right code: {limited:?}");
    claim_as(&store, &other, "someone", &theirs[0].code).await.expect("another session is not held to it");
    assert_eq!(store.snapshot(&id, None).await.expect("snapshot").expect("session").claimed, 0);
}

async fn ballots_racing_on_two_instances_are_counted_exactly(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    const VOTERS: usize = 60;
    let id: Arc<str> = create_for_votes(&a, "open").await.into();
    let voters = register(&a, &id, VOTERS).await;
    let poll: Arc<str> = open_poll_on(&b, &id, "d1", Method::Simple, 0).await.into();
    let first = |i: usize| CHOICES[i % 3];
    let last = move |i: usize| if i % 2 == 0 { CHOICES[(i + 1) % 3] } else { first(i) };

    let tasks: Vec<_> = voters
        .iter()
        .enumerate()
        .map(|(i, voter)| {
            let (id, poll, voter) = (id.clone(), poll.clone(), voter.clone());
            let (one, two) = if i % 2 == 0 { (a.clone(), b.clone()) } else { (b.clone(), a.clone()) };
            tokio::spawn(async move {
                let cast = cast_as(&one, &id, &voter, &poll, first(i)).await.expect("cast");
                if i % 2 == 0 {
                    let again = cast_as(&two, &id, &voter, &poll, last(i)).await.expect("change");
                    assert_eq!(receipt_of(&again), receipt_of(&cast), "voter {i}: the same receipt");
                }
                receipt_of(&cast)
            })
        })
        .collect();
    let mut receipts = Vec::new();
    for task in tasks {
        receipts.push(within(task).await.expect("voter"));
    }

    for store in [&a, &b] {
        let kept: BTreeMap<String, (Choice, u64)> = store
            .ballots(&id, &poll)
            .await
            .expect("ballots")
            .into_iter()
            .map(|b| (b.receipt, (b.choice, b.weight)))
            .collect();
        assert_eq!(kept.len(), VOTERS);
        for (i, r) in receipts.iter().enumerate() {
            assert_eq!(kept.get(r), Some(&(last(i), 1)), "voter {i}");
        }
    }
    let closed = moderate(&a, &id, Command::Vote(VoteCommand::PollClose { poll: poll.to_string() })).await;
    let expected = tally((0..VOTERS).map(last));
    assert_eq!(poll_closed(&closed), (expected, VOTERS as u64, VOTERS as u64, VOTERS as u64, Outcome::Rejected));
}

async fn retries_of_one_ballot_racing_on_two_instances_count_it_once(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    const RETRIES: usize = 10;
    let id: Arc<str> = create_for_votes(&a, "open").await.into();
    let poll = open_poll_on(&a, &id, "d1", Method::Simple, 0).await;
    let cmd: Arc<str> = new_id().into();
    let ballot = Command::Vote(VoteCommand::Cast { poll: poll.clone(), choice: Choice::Abstain });

    let tasks: Vec<_> = (0..RETRIES)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (id, cmd, ballot) = (id.clone(), cmd.clone(), ballot.clone());
            tokio::spawn(async move { store.apply(&id, &cmd, &Actor::participant("voter"), &ballot, now_ms()).await })
        })
        .collect();
    let (mut new, mut duplicates) = (Vec::new(), Vec::new());
    for task in tasks {
        match within(task).await.expect("task").expect("apply") {
            Applied::New { reply, .. } => new.push(reply),
            Applied::Duplicate { reply, .. } => duplicates.push(reply),
        }
    }

    assert_eq!(new.len(), 1, "exactly one retry is applied: {new:?}");
    assert_eq!(duplicates, vec![new[0].clone(); RETRIES - 1], "the others are acknowledged alike");
    let kept = a.ballots(&id, &poll).await.expect("ballots");
    assert_eq!(kept.len(), 1);
    assert_eq!(
        new[0],
        Some(Reply::Ballot { poll: poll.clone(), choice: Choice::Abstain, receipt: kept[0].receipt.clone() })
    );
    let closed = moderate(&b, &id, Command::Vote(VoteCommand::PollClose { poll })).await;
    assert_eq!(poll_closed(&closed), (counts(0, 0, 1), 1, 1, 0, Outcome::Rejected));
}

async fn ballots_racing_a_close_on_two_instances_are_counted_before_it_or_refused_as_closed(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    const VOTERS: usize = 40;
    const CASTS: usize = 12;
    let id: Arc<str> = create_for_votes(&a, "open").await.into();
    let voters = register(&a, &id, VOTERS).await;
    let poll: Arc<str> = open_poll_on(&a, &id, "d1", Method::Simple, 0).await.into();
    let (acked_tx, mut acked) = tokio::sync::mpsc::unbounded_channel::<()>();

    let tasks: Vec<_> = voters
        .iter()
        .enumerate()
        .map(|(i, voter)| {
            let (id, poll, voter, acked) = (id.clone(), poll.clone(), voter.clone(), acked_tx.clone());
            let stores = [a.clone(), b.clone()];
            tokio::spawn(async move {
                let (mut last, mut refused) = (None, 0);
                for k in 0..CASTS {
                    let choice = CHOICES[(i + k) % 3];
                    match cast_as(&stores[(i + k) % 2], &id, &voter, &poll, choice).await {
                        Ok(_) => {
                            assert_eq!(refused, 0, "voter {i}: a ballot applied after one was refused as closed");
                            last = Some(choice);
                            let _ = acked.send(());
                        }
                        Err(StoreError::Domain(DomainError::Closed(_))) => refused += 1,
                        Err(e) => panic!("voter {i}: {e:?}"),
                    }
                }
                last
            })
        })
        .collect();
    // The close comes in the middle of the stream of ballots.
    for _ in 0..VOTERS * 2 {
        within(acked.recv()).await.expect("ballots");
    }
    let close = Command::Vote(VoteCommand::PollClose { poll: poll.to_string() });
    let closed = within(async {
        loop {
            match b.apply(&id, &new_id(), &Actor::new(Role::Moderator), &close, now_ms()).await {
                Err(StoreError::Contention) => continue,
                other => return other.expect("close"),
            }
        }
    })
    .await;

    let mut last = Vec::new();
    for task in tasks {
        last.extend(within(task).await.expect("voter"));
    }
    let (counted, cast, cast_weight, _, _) = poll_closed(&closed);
    assert_eq!((counted, cast, cast_weight), (tally(last.iter().copied()), last.len() as u64, last.len() as u64));
    let kept = a.ballots(&id, &poll).await.expect("ballots");
    assert_eq!(tally(kept.iter().map(|b| b.choice)), counted, "the ballots kept are the ones counted");
}

// ---------------------------------------------------------------------------------------------
// Plumbing: votes
// ---------------------------------------------------------------------------------------------

const CHOICES: [Choice; 3] = [Choice::For, Choice::Against, Choice::Abstain];

/// One adoption item and two drafts (`d1`, `d2`), voting `open` or by `roster`.
fn voting_definition(voting: &str) -> SessionDefinition {
    let raw: RawDefinition = serde_json::from_value(serde_json::json!({
        "title": "Votes",
        "agenda": [{"title": "Adoption", "kind": "adoption", "minutes": 30}],
        "drafts": [
            {"kind": "resolution", "title": "Première", "text": "Un."},
            {"kind": "recommendation", "title": "Seconde", "text": "Deux."}
        ],
        "settings": {"voting": voting}
    }))
    .expect("a raw definition");
    SessionDefinition::parse(raw).expect("a valid definition")
}

async fn create_for_votes(store: &Arc<dyn Store>, voting: &str) -> String {
    let session = Session::new(new_id(), new_code(), &voting_definition(voting), now_ms());
    store.create(&voting_definition(voting), &session, &new_credentials()).await.expect("create");
    session.id
}

/// Registers `n` participants; returns their public ids.
async fn register(store: &Arc<dyn Store>, id: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let p = fresh_participant();
        store.participant(id, &new_id(), &p).await.expect("register");
        ids.push(p.id);
    }
    ids
}

/// Opens a poll on `draft`; returns its id.
async fn open_poll_on(store: &Arc<dyn Store>, id: &str, draft: &str, method: Method, quorum: u64) -> String {
    let poll = format!("p{}", &new_id()[..8]);
    let open =
        VoteCommand::PollOpen { id: poll.clone(), draft: draft.into(), method, quorum, secret: false, hidden: false };
    moderate(store, id, Command::Vote(open)).await;
    poll
}

async fn cast_as(
    store: &Arc<dyn Store>,
    id: &str,
    voter: &str,
    poll: &str,
    choice: Choice,
) -> Result<Applied, StoreError> {
    let ballot = Command::Vote(VoteCommand::Cast { poll: poll.into(), choice });
    store.apply(id, &new_id(), &Actor::participant(voter), &ballot, now_ms()).await
}

async fn claim_as(store: &Arc<dyn Store>, id: &str, participant: &str, code: &str) -> Result<Applied, StoreError> {
    let claim = Command::Vote(VoteCommand::Claim { code: code.into(), entry: None });
    store.apply(id, &new_id(), &Actor::participant(participant), &claim, now_ms()).await
}

fn receipt_of(applied: &Applied) -> String {
    match applied.reply() {
        Some(Reply::Ballot { receipt, .. }) => receipt.clone(),
        other => panic!("a ballot's reply: {other:?}"),
    }
}

/// Entries `v1`, `v2`, … with these weights and fresh voting codes.
fn roster(weights: &[u64]) -> Vec<RosterEntry> {
    weights
        .iter()
        .enumerate()
        .map(|(i, w)| RosterEntry {
            id: format!("v{}", i + 1),
            name: format!("Délégué {}", i + 1),
            organisation: "AMM".into(),
            weight: *w,
            code: palabre::credentials::new_voting_code(),
        })
        .collect()
}

/// A well-formed voting code that is none of `entries`'.
fn wrong_code(entries: &[RosterEntry]) -> String {
    loop {
        let code = palabre::credentials::new_voting_code();
        if entries.iter().all(|e| e.code != code) {
            return code;
        }
    }
}

fn counts(f: u64, a: u64, ab: u64) -> Counts {
    Counts { for_: f, against: a, abstain: ab }
}

/// Counts by choice, each of weight one.
fn tally(choices: impl IntoIterator<Item = Choice>) -> Counts {
    let mut c = Counts::default();
    for choice in choices {
        match choice {
            Choice::For => c.for_ += 1,
            Choice::Against => c.against += 1,
            Choice::Abstain => c.abstain += 1,
        }
    }
    c
}

/// The figures of the one `poll.closed` a close applied: counts, cast, cast weight, eligible
/// weight, outcome.
fn poll_closed(applied: &Applied) -> (Counts, u64, u64, u64, Outcome) {
    let Applied::New { events, .. } = applied else { panic!("a close applied now: {applied:?}") };
    match events.as_slice() {
        [Sequenced {
            event: Event::Vote(VoteEvent::PollClosed { counts, cast, cast_weight, eligible, outcome, .. }),
            ..
        }] => (*counts, *cast, *cast_weight, *eligible, *outcome),
        other => panic!("one poll.closed: {other:?}"),
    }
}
