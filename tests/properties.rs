//! Properties of a session under any sequence of commands, valid or not, from any role.
//!
//! Each case makes a session from a generated definition, then sends it up to 60 generated
//! frames: every op of [`protocol::OPS`] with fields right, wrong or missing, ids of things that
//! exist and of things that do not, retries of command ids, junk that is not a command at all,
//! from the moderator, the rapporteur, the screen and four participants (roster voters too).
//! Each frame goes through [`ClientMsg::parse`] and then through the memory store, which counts
//! ballots and upvotes as in production. After every step the whole observable state is read
//! back and held to the invariants:
//!
//! - `seq` rises by exactly one per event, and the audit trail is every event, without a gap;
//! - replaying the audit trail from the definition gives the state the store holds;
//! - a refused command, a retried command id and a junk frame change nothing at all;
//! - every poll's tally is the sum of its ballots, `cast` is their number, and each voter has
//!   one ballot per poll, the one they were last acknowledged;
//! - each question is in one state, consistent with its fields, and a merged one points to
//!   another that exists; upvote counts are the sizes of the upvoter sets;
//! - no draft is edited, withdrawn or voted on again once it is being voted on, adopted,
//!   rejected or withdrawn; nothing follows `record.finalised`, and after `session.ended`
//!   only the record changes.
//!
//! `PALABRE_PROPERTY_CASES` sets the number of cases (256 by default).

use palabre::domain::definition::RawDefinition;
use palabre::domain::votes::{decide_outcome, Choice, PollStatus, RosterEntry, Tally};
use palabre::domain::{
    Actor, AgendaEvent, Command, DraftEvent, DraftStatus, Event, Phase, QuestionEvent, QuestionStatus, RecordCommand,
    RecordEvent, Reply, Role, Sequenced, Session, SessionDefinition, VoteEvent,
};
use palabre::protocol::{self, ClientMsg, Viewer, OPS};
use palabre::store::memory::MemoryStore;
use palabre::store::{Applied, Audited, Ballot, Credentials, Participant, Snapshot, Store, StoreError};
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::TestCaseError;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

// ---------------------------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------------------------

fn cases() -> u32 {
    std::env::var("PALABRE_PROPERTY_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_of_commands_from_any_role_keeps_the_sessions_invariants(
        setup in setup(),
        steps in sequence(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
        rt.block_on(run(&setup, &steps)).map_err(TestCaseError::fail)?;
    }
}

/// The sequences reach what the properties are about: every kind of event, ballots in both
/// voting modes, changed ballots, upvotes moved by a merge, retries and refusals. Cases from a
/// fixed seed, so this does not depend on the luck of one run.
#[test]
fn the_generated_sequences_reach_every_event_ballots_upvotes_and_retries() {
    use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
    let config = ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]));
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    let reached = std::cell::RefCell::new(BTreeMap::<String, usize>::new());
    let strategy = (setup(), sequence());
    runner
        .run(&strategy, |(setup, steps)| {
            let r = rt.block_on(run(&setup, &steps)).map_err(TestCaseError::fail)?;
            for (k, n) in r {
                *reached.borrow_mut().entry(k).or_default() += n;
            }
            Ok(())
        })
        .expect("the invariants hold");
    let reached = reached.into_inner();
    if std::env::var_os("PALABRE_PROPERTY_REACH").is_some() {
        eprintln!("{reached:#?}");
    }
    let missing: Vec<&str> = REACHED.iter().copied().filter(|k| !reached.contains_key(*k)).collect();
    assert!(missing.is_empty(), "never reached: {missing:?} (reached: {reached:?})");
}

/// What the sequences must reach (see the test above).
const REACHED: &[&str] = &[
    "session.started",
    "agenda.moved",
    "qa.opened",
    "qa.closed",
    "session.ended",
    "agenda.item_inserted",
    "agenda.item_updated",
    "agenda.item_moved",
    "agenda.item_removed",
    "question.asked",
    "question.approved",
    "question.rejected",
    "question.answered",
    "question.highlighted",
    "question.merged",
    "floor.requested",
    "floor.withdrawn",
    "floor.granted",
    "floor.skipped",
    "floor.moved",
    "floor.ended",
    "poll.opened",
    "poll.closed",
    "poll.cancelled",
    "draft.adopted",
    "draft.edited",
    "draft.created",
    "draft.withdrawn",
    "roster.replaced",
    "voter.claimed",
    "record.noted",
    "record.note_edited",
    "record.note_deleted",
    "record.finalised",
    "ballot",
    "roster ballot",
    "ballot changed",
    "upvote",
    "unvote",
    "upvotes merged",
    "retry",
    "command refused",
    "frame refused",
    "roster refused",
    "hello",
];

/// The generator knows every op: a new op is generated as soon as it is in `OPS`, or this
/// fails.
#[test]
fn every_op_the_protocol_knows_is_generated() {
    let generated: BTreeSet<&str> = WEIGHTS.iter().map(|(_, op)| *op).collect();
    let known: BTreeSet<&str> = OPS.iter().copied().collect();
    assert_eq!(generated, known);
}

// ---------------------------------------------------------------------------------------------
// What a case is made of
// ---------------------------------------------------------------------------------------------

const PARTICIPANTS: [&str; 4] = ["p1", "p2", "p3", "p4"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Moderator,
    Rapporteur,
    Screen,
    P(usize),
}

impl Who {
    fn actor(self) -> Actor {
        match self {
            Who::Moderator => Actor::new(Role::Moderator),
            Who::Rapporteur => Actor::new(Role::Rapporteur),
            Who::Screen => Actor::new(Role::Screen),
            Who::P(i) => Actor::participant(PARTICIPANTS[i]),
        }
    }
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Who::Moderator => f.write_str("moderator"),
            Who::Rapporteur => f.write_str("rapporteur"),
            Who::Screen => f.write_str("screen"),
            Who::P(i) => f.write_str(PARTICIPANTS[*i]),
        }
    }
}

/// The session's definition, in the few ways that change the rules.
#[derive(Debug, Clone)]
struct Setup {
    kinds: Vec<&'static str>,
    drafts: usize,
    languages: bool,
    moderate: bool,
    anonymous: bool,
    roster: bool,
    /// Whether the moderator starts the session and opens questions before the steps.
    start: bool,
}

#[derive(Clone)]
enum Step {
    /// A frame from `who`, `after` ms after the step before. Its string values `$q0`, `$p1`…
    /// name things that exist when it is sent (see [`resolve`]).
    Send { who: Who, after: u32, frame: String },
    /// The frame sent `back` sends ago, sent again as it was, by the same sender: a retry.
    Again { after: u32, back: usize },
    /// The moderator replaces the roster (over HTTP): the first `entries` of [`ROSTER`], with
    /// their weights doubled when `heavy`.
    Roster { after: u32, entries: usize, heavy: bool },
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Send { who, after, frame } => write!(f, "{who} +{after}ms {frame}"),
            Step::Again { after, back } => write!(f, "+{after}ms the frame sent {back} sends ago, again"),
            Step::Roster { after, entries, heavy } => {
                write!(f, "moderator +{after}ms PUT roster: {entries} entries{}", if *heavy { ", heavy" } else { "" })
            }
        }
    }
}

/// The roster of roster-mode sessions: (entry, voting code, weight).
const ROSTER: [(&str, &str, u64); 3] = [("r1", "ABCDEFGH", 1), ("r2", "JKMNPQRS", 2), ("r3", "TUVWXYZ2", 3)];

fn roster(entries: usize, heavy: bool) -> Vec<RosterEntry> {
    ROSTER[..entries]
        .iter()
        .map(|(id, code, weight)| RosterEntry {
            id: (*id).into(),
            name: format!("Delegate {id}"),
            organisation: "AMM".into(),
            weight: if heavy { weight * 2 } else { *weight },
            code: (*code).into(),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// Ids of created things come from the command id's first 12 hex digits, its tag: two
/// commands with one tag create the same id (the second is refused as taken).
const TAGS: u32 = 32;

fn setup() -> impl Strategy<Value = Setup> {
    let kinds = prop::collection::vec(
        prop::sample::select(vec!["intro", "presentation", "debate", "adoption", "other"]),
        1..=4,
    );
    let drafts = prop_oneof![1 => Just(0usize), 4 => 1..=2usize];
    let start = prop::bool::weighted(0.85);
    (kinds, drafts, any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>(), start).prop_map(
        |(kinds, drafts, languages, moderate, anonymous, roster, start)| Setup {
            kinds,
            drafts,
            languages,
            moderate,
            anonymous,
            roster,
            start,
        },
    )
}

fn step() -> impl Strategy<Value = Step> {
    let after = || prop_oneof![3 => 0..3_000u32, 1 => 0..120_000u32];
    prop_oneof![
        85 => (command(), after()).prop_map(|((who, frame), after)| Step::Send { who, after, frame }),
        5 => (junk(), any_who(), after()).prop_map(|(frame, who, after)| Step::Send { who, after, frame }),
        6 => (1..=4usize, after()).prop_map(|(back, after)| Step::Again { after, back }),
        3 => (1..=3usize, any::<bool>(), after()).prop_map(|(entries, heavy, after)| Step::Roster { after, entries, heavy }),
    ]
}

/// A sequence: single steps, and scenes of a few related ones, at most 60 steps in all.
fn sequence() -> impl Strategy<Value = Vec<Step>> {
    let part = prop_oneof![8 => step().prop_map(|s| vec![s]), 2 => scene()];
    prop::collection::vec(part, 1..=30).prop_map(|parts| parts.into_iter().flatten().take(60).collect())
}

/// A few commands that lead somewhere together (sent among the others, which may spoil them):
/// a question asked, approved, upvoted, then highlighted, merged or answered; a poll opened,
/// voting rights claimed, ballots cast, the poll closed or cancelled; a speaker asking for the
/// floor, given it, skipped, moved or withdrawing; the session ended and its record finalised.
fn scene() -> BoxedStrategy<Vec<Step>> {
    let debate = (
        0..TAGS,
        0..PARTICIPANTS.len(),
        question_text(),
        prop::collection::vec(0..PARTICIPANTS.len(), 0..4),
        0..4u8,
        seed(),
    )
        .prop_map(|(tag, asker, text, upvoters, then, seed)| {
            let q = created('q', tag);
            let mut steps = vec![
                send(Who::P(asker), tag, seed, "question.ask", json!({"text": text, "name": "Awa"})),
                send(Who::Moderator, tag, seed + 1, "question.approve", json!({"question": q})),
            ];
            for (i, p) in upvoters.into_iter().enumerate() {
                steps.push(send(Who::P(p), tag, seed + 2 + i as u32, "question.upvote", json!({"question": q})));
            }
            let last = match then {
                0 => ("question.highlight", json!({"question": q})),
                1 => ("question.merge", json!({"question": "$q1", "into": q})),
                2 => ("question.merge", json!({"question": q, "into": "$q1"})),
                _ => ("question.answer", json!({"question": q})),
            };
            steps.push(send(Who::Moderator, tag, seed + 10, last.0, last.1));
            steps
        });
    let choice = prop::sample::select(vec!["for", "against", "abstain"]);
    let vote =
        (0..TAGS, prop::collection::vec((0..PARTICIPANTS.len(), choice), 0..5), any::<bool>(), any::<bool>(), seed())
            .prop_map(|(tag, casts, claim, close, seed)| {
                let poll = created('p', tag);
                let mut steps =
                    vec![send(Who::Moderator, tag, seed, "poll.open", json!({"draft": "$d0", "quorum": 1}))];
                for (i, (p, choice)) in casts.into_iter().enumerate() {
                    let n = seed + 1 + 2 * i as u32;
                    if claim {
                        let code = ROSTER[p % ROSTER.len()].1;
                        steps.push(send(Who::P(p), tag, n, "voter.claim", json!({"code": code})));
                    }
                    steps.push(send(Who::P(p), tag, n + 1, "vote.cast", json!({"poll": poll, "choice": choice})));
                }
                let end = if close { "poll.close" } else { "poll.cancel" };
                steps.push(send(Who::Moderator, tag, seed + 20, end, json!({"poll": poll})));
                steps
            });
    let floor = (0..TAGS, 0..PARTICIPANTS.len(), 0..4u8, seed()).prop_map(|(tag, p, then, seed)| {
        let request = created('f', tag);
        let mut steps =
            vec![send(Who::P(p), tag, seed, "floor.request", json!({"name": "Awa", "organisation": "AMM"}))];
        match then {
            0 => {
                steps.push(send(Who::Moderator, tag, seed + 1, "floor.grant", json!({"request": request})));
                steps.push(send(Who::Moderator, tag, seed + 2, "floor.end", json!({})));
            }
            1 => steps.push(send(Who::P(p), tag, seed + 1, "floor.withdraw", json!({}))),
            2 => steps.push(send(Who::Moderator, tag, seed + 1, "floor.skip", json!({"request": request}))),
            _ => {
                // A second speaker, moved ahead of the first.
                let (other, second) = ((p + 1) % PARTICIPANTS.len(), (tag + 1) % TAGS);
                let fields = json!({"name": "Moussa"});
                steps.push(send(Who::P(other), second, seed + 1, "floor.request", fields));
                let fields = json!({"request": created('f', second), "position": 0});
                steps.push(send(Who::Moderator, tag, seed + 2, "floor.move", fields));
            }
        }
        steps
    });
    let agenda = (0..TAGS, seed(), any::<(bool, bool, bool)>()).prop_map(|(tag, seed, (moved, updated, removed))| {
        let item = created('i', tag);
        let fields = json!({"at": 1, "item": {"title": "Added", "kind": "debate", "minutes": 5}});
        let mut steps = vec![send(Who::Moderator, tag, seed, "agenda.insert", fields)];
        if moved {
            steps.push(send(Who::Moderator, tag, seed + 1, "agenda.move", json!({"item": item, "to": 0})));
        }
        if updated {
            steps.push(send(Who::Moderator, tag, seed + 2, "agenda.update", json!({"item": item, "minutes": 7})));
        }
        if removed {
            steps.push(send(Who::Moderator, tag, seed + 3, "agenda.remove", json!({"item": item})));
        }
        steps
    });
    let closing = (0..TAGS, seed(), any::<(bool, bool)>()).prop_map(|(tag, seed, (end, delete))| {
        let note = created('n', tag);
        let mut steps = vec![
            send(Who::Rapporteur, tag, seed, "record.note", json!({"text": "Adopted as amended."})),
            send(Who::Rapporteur, tag, seed + 1, "record.note", json!({"note": note, "text": "Adopted."})),
        ];
        if delete {
            steps.push(send(Who::Rapporteur, tag, seed + 2, "record.note_delete", json!({"note": note})));
        }
        if end {
            steps.push(send(Who::Moderator, tag, seed + 3, "session.end", json!({})));
            steps.push(send(Who::Rapporteur, tag, seed + 4, "record.finalise", json!({})));
        }
        steps
    });
    prop_oneof![3 => debate, 3 => vote, 2 => floor, 1 => agenda, 2 => closing].boxed()
}

/// The nonce of a scene's first command id (the next ones count on from it).
fn seed() -> impl Strategy<Value = u32> {
    0..1_000_000_000u32
}

/// One step of a scene: `op` with `fields`, half a second after the step before.
fn send(who: Who, tag: u32, nonce: u32, op: &str, fields: Value) -> Step {
    let mut frame = fields;
    frame["type"] = json!("cmd");
    frame["id"] = json!(cmd_id(tag, nonce));
    frame["op"] = json!(op);
    Step::Send { who, after: 500, frame: frame.to_string() }
}

/// How often each op is sent. Every op of `OPS` is here (a test holds them together).
const WEIGHTS: &[(u32, &str)] = &[
    (6, "agenda.next"),
    (2, "agenda.prev"),
    (1, "agenda.goto"),
    (1, "agenda.insert"),
    (2, "agenda.update"),
    (1, "agenda.move"),
    (1, "agenda.remove"),
    (2, "qa.open"),
    (1, "qa.close"),
    (1, "session.end"),
    (10, "question.ask"),
    (8, "question.upvote"),
    (2, "question.unvote"),
    (6, "question.approve"),
    (2, "question.reject"),
    (2, "question.answer"),
    (3, "question.highlight"),
    (3, "question.merge"),
    (3, "floor.request"),
    (2, "floor.withdraw"),
    (3, "floor.grant"),
    (1, "floor.skip"),
    (2, "floor.move"),
    (2, "floor.end"),
    (6, "poll.open"),
    (3, "poll.close"),
    (1, "poll.cancel"),
    (1, "draft.adopt_by_consensus"),
    (10, "vote.cast"),
    (3, "draft.edit"),
    (2, "draft.create"),
    (1, "draft.withdraw"),
    (3, "record.note"),
    (1, "record.note_delete"),
    (1, "record.finalise"),
    (4, "voter.claim"),
];

/// The role whose op it is (for drafts, the rapporteur; the moderator may word them too).
fn role_of(op: &str) -> Role {
    match op {
        "question.ask" | "question.upvote" | "question.unvote" | "floor.request" | "floor.withdraw" | "vote.cast"
        | "voter.claim" => Role::Participant,
        o if o.starts_with("draft.") && o != "draft.adopt_by_consensus" => Role::Rapporteur,
        o if o.starts_with("record.") => Role::Rapporteur,
        _ => Role::Moderator,
    }
}

fn any_who() -> impl Strategy<Value = Who> {
    prop_oneof![
        Just(Who::Moderator),
        Just(Who::Rapporteur),
        Just(Who::Screen),
        (0..PARTICIPANTS.len()).prop_map(Who::P)
    ]
}

/// Mostly the op's own role, sometimes anyone.
fn who_for(op: &'static str) -> impl Strategy<Value = Who> {
    let own = (0..PARTICIPANTS.len(), any::<bool>()).prop_map(move |(p, moderator)| match role_of(op) {
        Role::Participant => Who::P(p),
        Role::Rapporteur if moderator && op.starts_with("draft.") => Who::Moderator,
        Role::Rapporteur => Who::Rapporteur,
        _ => Who::Moderator,
    });
    prop_oneof![8 => own, 1 => any_who()]
}

/// A command id whose first 12 hex digits are its tag's (so what it creates is named by the
/// tag).
fn cmd_id(tag: u32, nonce: u32) -> String {
    format!("{tag:08x}-0000-4000-8000-{nonce:012x}")
}

fn created(prefix: char, tag: u32) -> String {
    format!("{prefix}{tag:08x}0000")
}

/// A `cmd` frame: mostly well-formed (its fields may still be refused by the rules), sometimes
/// with fields wrong or missing.
fn command() -> impl Strategy<Value = (Who, String)> {
    type Op = BoxedStrategy<(&'static str, Map<String, Value>, Who)>;
    let ops: Vec<(u32, Op)> = WEIGHTS
        .iter()
        .map(|(w, op)| {
            let fields = prop_oneof![6 => fields(op, true), 1 => fields(op, false)];
            (*w, (Just(*op), fields, who_for(op)).boxed())
        })
        .collect();
    (Union::new_weighted(ops), 0..TAGS, any::<u32>()).prop_map(|((op, mut fields, who), tag, nonce)| {
        fields.insert("type".into(), json!("cmd"));
        fields.insert("id".into(), json!(cmd_id(tag, nonce)));
        fields.insert("op".into(), json!(op));
        (who, Value::Object(fields).to_string())
    })
}

fn pick(values: Vec<Value>) -> BoxedStrategy<Value> {
    prop::sample::select(values).boxed()
}

/// A field: when `ok`, always one of `good`; otherwise sometimes one of `bad`, or missing.
fn field(ok: bool, good: BoxedStrategy<Value>, bad: Vec<Value>) -> BoxedStrategy<Option<Value>> {
    if ok {
        good.prop_map(Some).boxed()
    } else {
        prop_oneof![4 => good.prop_map(Some), 2 => pick(bad).prop_map(Some), 1 => Just(None)].boxed()
    }
}

/// An optional field: absent, or as [`field`].
fn optional(ok: bool, good: BoxedStrategy<Value>, bad: Vec<Value>) -> BoxedStrategy<Option<Value>> {
    prop_oneof![1 => Just(None), 1 => field(ok, good, bad)].boxed()
}

/// Ids that cannot name anything: empty, too long, not a string.
fn bad_ids() -> Vec<Value> {
    vec![json!(""), json!("x".repeat(65)), json!(7), Value::Null, json!(["q1"])]
}

/// Something of a kind (`q` questions, `f` floor requests, `p` polls, `d` drafts, `n` notes,
/// `a` agenda items): a token resolved when the frame is sent to one that exists, or an id of
/// the kind that may exist or not.
fn reference(kind: char) -> BoxedStrategy<Value> {
    prop_oneof![
        8 => (0..4usize).prop_map(move |k| json!(format!("${kind}{k}"))),
        1 => (0..TAGS).prop_map(move |t| json!(created(kind, t))),
        1 => pick(vec![json!("nope"), json!("d1"), json!("a1")]),
    ]
    .boxed()
}

fn index() -> BoxedStrategy<Value> {
    (0..5u64).prop_map(|i| json!(i)).boxed()
}

fn bad_indexes() -> Vec<Value> {
    vec![json!(-1), json!("2"), json!(1.5), Value::Null]
}

/// Texts from `pool` (close to each other on purpose), or made up.
fn text_from(pool: &[&str]) -> BoxedStrategy<Value> {
    let pool: Vec<Value> = pool.iter().map(|t| json!(t)).collect();
    prop_oneof![3 => pick(pool), 1 => "[a-zA-Zé ?]{0,11}[a-z]".prop_map(|t| json!(t))].boxed()
}

fn bad_texts() -> Vec<Value> {
    vec![json!("   "), json!("a\u{7}b"), json!("a\u{202E}b"), json!(3), Value::Null, json!("x".repeat(501))]
}

fn question_text() -> BoxedStrategy<Value> {
    text_from(&["Quel budget pour les régions ?", "quel BUDGET pour les regions", "Why?", "Who decides?", "When?"])
}

fn name() -> BoxedStrategy<Value> {
    pick(vec![json!("Awa"), json!("Moussa Traoré")])
}

fn bad_names() -> Vec<Value> {
    vec![json!(""), json!("a\nb"), json!("x".repeat(81)), json!(5)]
}

fn draft_text() -> BoxedStrategy<Value> {
    text_from(&["The participants agree.", "Les participants conviennent.", "A new wording.", "Une autre rédaction."])
}

/// A text given as a string or by language (the session may not have these languages).
fn localized() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => draft_text(),
        2 => (draft_text(), draft_text()).prop_map(|(en, fr)| json!({"en": en, "fr": fr})),
        1 => draft_text().prop_map(|t| json!({"de": t})),
    ]
    .boxed()
}

fn bad_localized() -> Vec<Value> {
    vec![json!({"EN!": "x"}), json!({"fr": 3}), json!(3), json!("  ")]
}

fn object<const N: usize>(pairs: [(&str, Option<Value>); N]) -> Map<String, Value> {
    pairs.into_iter().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v))).collect()
}

fn agenda_item(ok: bool) -> BoxedStrategy<Value> {
    let kind = pick(vec![json!("intro"), json!("presentation"), json!("debate"), json!("adoption")]);
    let minutes = pick(vec![json!(0), json!(10)]);
    let turn = pick(vec![json!(60), Value::Null]);
    (
        field(ok, localized(), bad_localized()),
        optional(ok, kind, vec![json!("party")]),
        optional(ok, minutes, vec![json!(2_000), json!(-3)]),
        optional(ok, turn, vec![json!(5)]),
    )
        .prop_map(|(title, kind, minutes, turn)| {
            Value::Object(object([("title", title), ("kind", kind), ("minutes", minutes), ("turn_seconds", turn)]))
        })
        .boxed()
}

/// The fields of a frame for `op`: when `ok`, well-formed (the rules may still refuse them);
/// otherwise some wrong or missing.
fn fields(op: &str, ok: bool) -> BoxedStrategy<Map<String, Value>> {
    let one = |name: &'static str, s: BoxedStrategy<Option<Value>>| s.prop_map(move |v| object([(name, v)])).boxed();
    let item_ref = || prop_oneof![3 => reference('a'), 1 => index()].boxed();
    match op {
        "agenda.next" | "agenda.prev" | "qa.open" | "qa.close" | "session.end" => Just(Map::new()).boxed(),
        // A stale finalisation: the record changed since it was read (the connection reads it).
        "record.finalise" => {
            prop_oneof![5 => Just(Map::new()), 1 => Just(object([("stale", Some(json!(true)))]))].boxed()
        }
        "agenda.goto" => one("item", field(ok, index(), bad_indexes())),
        "agenda.insert" => (field(ok, index(), bad_indexes()), field(ok, agenda_item(ok), vec![json!("an item")]))
            .prop_map(|(at, item)| object([("at", at), ("item", item)]))
            .boxed(),
        "agenda.update" => (
            field(ok, item_ref(), bad_indexes()),
            optional(ok, localized(), bad_localized()),
            optional(ok, pick(vec![json!("debate"), json!("other")]), vec![json!("party")]),
            optional(ok, pick(vec![json!(15)]), vec![json!(5_000)]),
            optional(ok, pick(vec![json!(60), Value::Null]), vec![json!(5)]),
            optional(false, Just(Value::Null).boxed(), vec![json!("red")]),
        )
            .prop_map(|(item, title, kind, minutes, turn, colour)| {
                object([
                    ("item", item),
                    ("title", title),
                    ("kind", kind),
                    ("minutes", minutes),
                    ("turn_seconds", turn),
                    ("colour", colour),
                ])
            })
            .boxed(),
        "agenda.move" => (field(ok, item_ref(), bad_indexes()), field(ok, index(), bad_indexes()))
            .prop_map(|(i, to)| object([("item", i), ("to", to)]))
            .boxed(),
        "agenda.remove" => one("item", field(ok, item_ref(), bad_indexes())),
        "question.ask" => (field(ok, question_text(), bad_texts()), optional(ok, name(), bad_names()))
            .prop_map(|(text, name)| object([("text", text), ("name", name)]))
            .boxed(),
        "question.upvote" | "question.unvote" | "question.approve" | "question.reject" | "question.answer" => {
            one("question", field(ok, reference('q'), bad_ids()))
        }
        "question.highlight" => one("question", optional(ok, reference('q'), bad_ids())),
        "question.merge" => (field(ok, reference('q'), bad_ids()), field(ok, reference('q'), bad_ids()))
            .prop_map(|(q, into)| object([("question", q), ("into", into)]))
            .boxed(),
        "floor.request" => (field(ok, name(), bad_names()), optional(ok, pick(vec![json!("AMM")]), vec![json!(3)]))
            .prop_map(|(name, org)| object([("name", name), ("organisation", org)]))
            .boxed(),
        "floor.withdraw" | "floor.end" => one("request", optional(ok, reference('f'), bad_ids())),
        "floor.grant" | "floor.skip" => one("request", field(ok, reference('f'), bad_ids())),
        "floor.move" => (field(ok, reference('f'), bad_ids()), field(ok, index(), bad_indexes()))
            .prop_map(|(r, p)| object([("request", r), ("position", p)]))
            .boxed(),
        "poll.open" => (
            field(ok, reference('d'), bad_ids()),
            optional(ok, pick(vec![json!("simple"), json!("absolute"), json!("two_thirds")]), vec![json!("plurality")]),
            optional(ok, pick(vec![json!(0), json!(1), json!(2), json!(4)]), vec![json!(-1), json!("x")]),
            optional(ok, pick(vec![json!(true), json!(false)]), vec![json!("yes")]),
            optional(ok, pick(vec![json!(true), json!(false)]), vec![json!(1)]),
        )
            .prop_map(|(draft, method, quorum, secret, hidden)| {
                object([
                    ("draft", draft),
                    ("method", method),
                    ("quorum", quorum),
                    ("secret", secret),
                    ("hidden", hidden),
                ])
            })
            .boxed(),
        "poll.close" | "poll.cancel" => one("poll", field(ok, reference('p'), bad_ids())),
        "draft.adopt_by_consensus" | "draft.withdraw" => one("draft", field(ok, reference('d'), bad_ids())),
        "vote.cast" => (
            field(ok, reference('p'), bad_ids()),
            field(ok, pick(vec![json!("for"), json!("against"), json!("abstain")]), vec![json!("maybe")]),
        )
            .prop_map(|(poll, choice)| object([("poll", poll), ("choice", choice)]))
            .boxed(),
        "draft.edit" => (
            field(ok, reference('d'), bad_ids()),
            field(ok, draft_text(), bad_texts()),
            optional(ok, pick(vec![json!("en"), json!("fr"), json!("de")]), vec![json!("EN"), json!(1)]),
        )
            .prop_map(|(draft, text, lang)| object([("draft", draft), ("text", text), ("lang", lang)]))
            .boxed(),
        "draft.create" => (
            field(ok, pick(vec![json!("resolution"), json!("recommendation")]), vec![json!("law")]),
            field(ok, localized(), bad_localized()),
            field(ok, localized(), bad_localized()),
        )
            .prop_map(|(kind, title, text)| object([("kind", kind), ("title", title), ("text", text)]))
            .boxed(),
        "record.note" => (
            field(ok, text_from(&["The debate opened.", "Le débat est ouvert.", "Vote postponed."]), bad_texts()),
            prop_oneof![2 => Just(None), 1 => field(ok, reference('n'), bad_ids())],
        )
            .prop_map(|(text, note)| object([("text", text), ("note", note)]))
            .boxed(),
        "record.note_delete" => one("note", field(ok, reference('n'), bad_ids())),
        "voter.claim" => one(
            "code",
            field(
                ok,
                pick(vec![json!("ABCDEFGH"), json!("jkmn-pqrs"), json!("TUVW XYZ2"), json!("ZZZZZZZZ")]),
                vec![json!("short"), json!("ABCDEFG1"), json!(12345678)],
            ),
        ),
        other => panic!("no fields for {other}: add it to `fields`"),
    }
}

/// Frames that are not commands, or not well-formed ones: refused, or a second `hello`.
fn junk() -> impl Strategy<Value = String> {
    let fixed = vec![
        String::new(),
        "nul".into(),
        "[]".into(),
        "{}".into(),
        r#"{"type":"dance"}"#.into(),
        r#"{"type":"hello","role":"participant","code":"ABCDEF"}"#.into(),
        r#"{"type":"hello","role":"emperor"}"#.into(),
        r#"{"type":"cmd","op":"agenda.next"}"#.into(),
        r#"{"type":"cmd","id":"x","op":"agenda.next"}"#.into(),
        format!(r#"{{"type":"cmd","id":"{}"}}"#, cmd_id(1, 1)),
        format!(r#"{{"type":"cmd","id":"{}","op":7}}"#, cmd_id(1, 1)),
        format!(r#"{{"type":"cmd","id":"{}","op":"agenda.fly"}}"#, cmd_id(1, 1)),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::from),
        Just(json!([1, "a"])),
        Just(json!({"en": 1})),
    ];
    let names = prop::sample::select(vec![
        "item",
        "at",
        "to",
        "text",
        "name",
        "question",
        "into",
        "request",
        "position",
        "draft",
        "poll",
        "method",
        "quorum",
        "secret",
        "hidden",
        "choice",
        "lang",
        "kind",
        "title",
        "note",
        "code",
        "organisation",
    ]);
    let wrong_types = (prop::sample::select(OPS), prop::collection::vec((names, leaf), 0..4), 0..TAGS).prop_map(
        |(op, fields, tag)| {
            let mut m: Map<String, Value> = fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            m.insert("type".into(), json!("cmd"));
            m.insert("id".into(), json!(cmd_id(tag, 999_999)));
            m.insert("op".into(), json!(op));
            Value::Object(m).to_string()
        },
    );
    prop_oneof![3 => prop::sample::select(fixed), 1 => "\\PC{0,30}", 4 => wrong_types]
}

// ---------------------------------------------------------------------------------------------
// Running a case
// ---------------------------------------------------------------------------------------------

fn definition(setup: &Setup) -> SessionDefinition {
    let text = |en: &str, fr: &str| if setup.languages { json!({"en": en, "fr": fr}) } else { json!(en) };
    let agenda: Vec<Value> = setup
        .kinds
        .iter()
        .enumerate()
        .map(|(i, k)| json!({"title": text(&format!("Item {i}"), &format!("Point {i}")), "kind": k, "minutes": 10}))
        .collect();
    let drafts: Vec<Value> = (0..setup.drafts)
        .map(|i| json!({"title": text(&format!("Draft {i}"), &format!("Projet {i}")), "text": text("We agree.", "Nous convenons.")}))
        .collect();
    let raw = json!({
        "title": text("Properties", "Propriétés"),
        "languages": if setup.languages { json!(["en", "fr"]) } else { json!([]) },
        "agenda": agenda,
        "drafts": drafts,
        "settings": {
            "moderate_questions": setup.moderate,
            "anonymous_questions": setup.anonymous,
            "voting": if setup.roster { "roster" } else { "open" },
        },
    });
    let raw: RawDefinition = serde_json::from_value(raw).expect("a raw definition");
    SessionDefinition::parse(raw).expect("a valid definition")
}

/// Everything the store lets one read of the session, from every side.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Probe {
    /// As the moderator's desk reads it.
    snapshot: Snapshot,
    /// As each participant reads it (their upvotes, ballots and voting right).
    mine: Vec<Snapshot>,
    audit: Vec<Audited>,
    since_zero: Option<Vec<Sequenced>>,
    ballots: BTreeMap<String, Vec<Ballot>>,
    roster: Vec<RosterEntry>,
}

impl Probe {
    fn session(&self) -> &Session {
        &self.snapshot.session
    }
}

struct Run<'a> {
    store: MemoryStore,
    id: String,
    definition: SessionDefinition,
    setup: &'a Setup,
    now: i64,
    /// (poll, voter) → the ballot last acknowledged: (choice, weight, receipt).
    ballots: BTreeMap<(String, String), (Choice, u64, String)>,
    /// Question → who upvotes it, from the acks (and merges).
    upvoters: BTreeMap<String, BTreeSet<String>>,
    /// Command id → what it was first acknowledged with.
    acks: BTreeMap<String, (u64, Option<Reply>)>,
    /// Every frame sent (as resolved), by whom: what a retry sends again.
    sent: Vec<(Who, String)>,
    /// What each step did, for the report of a failure.
    log: Vec<String>,
    /// How often each outcome was reached (event kinds, ballots, upvotes, refusals, retries).
    reached: BTreeMap<String, usize>,
}

async fn run(setup: &Setup, steps: &[Step]) -> Result<BTreeMap<String, usize>, String> {
    let mut run = Run::new(setup).await?;
    let start: Vec<Step> = ["agenda.next", "qa.open"]
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let frame = json!({"type": "cmd", "id": cmd_id(TAGS + i as u32, 0), "op": op}).to_string();
            Step::Send { who: Who::Moderator, after: 1_000, frame }
        })
        .filter(|_| setup.start)
        .collect();
    for (i, step) in start.iter().chain(steps).enumerate() {
        if let Err(e) = run.step(step).await {
            // Numbered as in the failing input (the start's two steps before it).
            let at = match i.checked_sub(start.len()) {
                Some(n) => format!("step {n}"),
                None => format!("start step {i}"),
            };
            return Err(format!(
                "{at} ({step:?}) broke an invariant: {e}\n\nwhat the steps did:\n{}",
                run.log.join("\n")
            ));
        }
    }
    Ok(run.reached)
}

fn io(e: StoreError) -> String {
    format!("the memory store failed: {e}")
}

impl<'a> Run<'a> {
    async fn new(setup: &'a Setup) -> Result<Run<'a>, String> {
        let definition = definition(setup);
        let created_at = 1_700_000_000_000;
        let session = Session::new("s1".into(), "ABCDEF".into(), &definition, created_at);
        let credentials = Credentials {
            moderator: "m".into(),
            rapporteur: "r".into(),
            code: "ABCDEF".into(),
            ballot_salt: "salt".into(),
        };
        let store = MemoryStore::new();
        store.create(&definition, &session, &credentials).await.map_err(io)?;
        for p in PARTICIPANTS {
            let fresh = Participant { id: p.into(), joined_at: created_at };
            store.participant("s1", &format!("token-{p}"), &fresh).await.map_err(io)?;
        }
        let run = Run {
            store,
            id: "s1".into(),
            definition,
            setup,
            now: created_at + 1_000,
            ballots: BTreeMap::new(),
            upvoters: BTreeMap::new(),
            acks: BTreeMap::new(),
            sent: Vec::new(),
            log: Vec::new(),
            reached: BTreeMap::new(),
        };
        if setup.roster {
            run.store.replace_roster("s1", &roster(ROSTER.len(), false), run.now).await.map_err(io)?;
        }
        let first = run.probe().await?;
        run.check(&first)?;
        Ok(run)
    }

    async fn probe(&self) -> Result<Probe, String> {
        let snapshot = self.store.snapshot(&self.id, None).await.map_err(io)?.ok_or("the session is gone")?;
        let mut mine = Vec::new();
        for p in PARTICIPANTS {
            mine.push(self.store.snapshot(&self.id, Some(p)).await.map_err(io)?.ok_or("the session is gone")?);
        }
        let mut ballots = BTreeMap::new();
        for poll in snapshot.session.votes.polls.keys() {
            ballots.insert(poll.clone(), self.store.ballots(&self.id, poll).await.map_err(io)?);
        }
        Ok(Probe {
            audit: self.store.audit(&self.id).await.map_err(io)?,
            since_zero: self.store.events_since(&self.id, 0).await.map_err(io)?,
            roster: self.store.roster(&self.id).await.map_err(io)?,
            snapshot,
            mine,
            ballots,
        })
    }

    async fn step(&mut self, step: &Step) -> Result<(), String> {
        let before = self.probe().await?;
        match step {
            Step::Roster { after, entries, heavy } => {
                self.now += i64::from(*after);
                match self.store.replace_roster(&self.id, &roster(*entries, *heavy), self.now).await {
                    Ok(events) => {
                        self.log.push(format!("roster replaced: {}", kinds(&events)));
                        self.reach(events.iter().map(|e| e.event.kind()));
                        let after = self.probe().await?;
                        self.applied(&before, &after, Role::Moderator, &events)?;
                        if after.mine.iter().any(|m| !m.session.votes.bound.is_empty() || m.claimed != 0) {
                            return Err("a replaced roster left a claim standing".into());
                        }
                        self.check(&after)
                    }
                    Err(e) => {
                        self.reach(["roster refused"]);
                        self.refused(&before, &format!("roster refused: {e}")).await
                    }
                }
            }
            Step::Again { after, back } => {
                self.now += i64::from(*after);
                match self.sent.len().checked_sub(*back).map(|i| self.sent[i].clone()) {
                    Some((who, frame)) => self.send(who, &frame, before).await,
                    None => self.refused(&before, "nothing to send again").await,
                }
            }
            Step::Send { who, after, frame } => {
                self.now += i64::from(*after);
                let frame = resolve(frame, &before);
                self.sent.push((*who, frame.clone()));
                self.send(*who, &frame, before).await
            }
        }
    }

    /// Sends one frame from `who`, as a connection does: parsed, then applied by the store.
    async fn send(&mut self, who: Who, frame: &str, before: Probe) -> Result<(), String> {
        let (id, command) = match ClientMsg::parse(frame) {
            Err(r) => {
                if let Some(id) = &r.id {
                    uuid::Uuid::parse_str(id).map_err(|_| format!("a refusal names a non-UUID id {id}"))?;
                }
                self.reach(["frame refused"]);
                return self.refused(&before, &format!("{who}: {frame}: refused: {}", r.message)).await;
            }
            Ok(ClientMsg::Hello(_)) => {
                self.reach(["hello"]);
                return self.refused(&before, &format!("{who}: a second hello")).await;
            }
            Ok(ClientMsg::Cmd { id, command }) => (id, command),
        };
        let command = match command {
            // The connection seals the record as it stands when it reads it.
            Command::Record(RecordCommand::Finalise { .. }) => {
                let digest = palabre::record::digest(&palabre::record::build(&before.snapshot, &before.audit));
                let stale = frame.contains(r#""stale":true"#);
                let changes = before.session().record.changes + u32::from(stale);
                Command::Record(RecordCommand::Finalise { digest, changes })
            }
            other => other,
        };
        let actor = who.actor();
        match self.store.apply(&self.id, &id, &actor, &command, self.now).await {
            Err(StoreError::Domain(e)) => {
                self.reach(["command refused"]);
                self.refused(&before, &format!("{who}: {frame}: refused: {e:?}")).await
            }
            Err(e) => Err(io(e)),
            Ok(Applied::Duplicate { seq, reply }) => {
                let first = self.acks.get(&id).ok_or(format!("{id} is a duplicate of nothing acknowledged"))?;
                if first != &(seq, reply.clone()) {
                    return Err(format!("a retry of {id} got {:?}, first acknowledged {first:?}", (seq, reply)));
                }
                self.reach(["retry"]);
                self.refused(&before, &format!("{who}: {frame}: a retry of {id}")).await
            }
            Ok(Applied::New { seq, events, reply }) => {
                self.log.push(format!("{who}: {frame}: applied: [{}] {reply:?}", kinds(&events)));
                self.reach(events.iter().map(|e| e.event.kind()));
                self.acks.insert(id.clone(), (seq, reply.clone()));
                let after = self.probe().await?;
                if seq != after.session().seq {
                    return Err(format!("acknowledged with seq {seq}, the session is at {}", after.session().seq));
                }
                self.applied(&before, &after, actor.role, &events)?;
                self.counted(&before, &after, &actor, &command, reply.as_ref(), &events)?;
                self.check(&after)
            }
        }
    }

    fn reach<'k>(&mut self, what: impl IntoIterator<Item = &'k str>) {
        for w in what {
            *self.reached.entry(w.to_owned()).or_default() += 1;
        }
    }

    /// A refused command (or a retry, or junk) changes nothing anyone can read.
    async fn refused(&mut self, before: &Probe, what: &str) -> Result<(), String> {
        self.log.push(what.to_owned());
        let after = self.probe().await?;
        if &after != before {
            return Err(format!("{what}, yet the state changed: {}", difference(before, &after)));
        }
        Ok(())
    }

    /// The events of an applied command: numbered on from the session's `seq`, kept whole in
    /// the audit trail, and allowed by where the session stood.
    fn applied(&self, before: &Probe, after: &Probe, role: Role, events: &[Sequenced]) -> Result<(), String> {
        let from = before.session().seq;
        let numbered: Vec<u64> = events.iter().map(|e| e.seq).collect();
        let expected: Vec<u64> = (from + 1..=from + events.len() as u64).collect();
        if numbered != expected || after.session().seq != from + events.len() as u64 {
            return Err(format!(
                "events numbered {numbered:?} after seq {from}; the session is at {}",
                after.session().seq
            ));
        }
        if after.audit.len() != before.audit.len() + events.len()
            || after.audit[..before.audit.len()] != before.audit[..]
        {
            return Err("the audit trail was not extended by exactly the new events".into());
        }
        for (audited, e) in after.audit[before.audit.len()..].iter().zip(events) {
            if (audited.seq, &audited.event, audited.role, audited.at) != (e.seq, &e.event, role, self.now) {
                return Err(format!("audited {audited:?} for event {e:?} by the {role:?} at {}", self.now));
            }
        }
        if before.session().record.finalised.is_some() && !events.is_empty() {
            return Err(format!("events after the record was finalised: {}", kinds(events)));
        }
        if before.session().agenda.phase == Phase::Ended {
            if let Some(e) = events.iter().find(|e| !matches!(e.event, Event::Record(_))) {
                return Err(format!("{} after the session ended", e.event.kind()));
            }
            if after.session().votes.tallies != before.session().votes.tallies
                || after.snapshot.upvotes != before.snapshot.upvotes
            {
                return Err("ballots or upvotes counted after the session ended".into());
            }
        }
        for e in events {
            event_reads_back(e)?;
        }
        Ok(())
    }

    /// Ballots and upvotes as acknowledged: the model of what the store must hold.
    fn counted(
        &mut self,
        before: &Probe,
        after: &Probe,
        actor: &Actor,
        command: &Command,
        reply: Option<&Reply>,
        events: &[Sequenced],
    ) -> Result<(), String> {
        let participant = actor.participant.clone().unwrap_or_default();
        match (command.ballot(), command.vote(), reply) {
            (Some((poll, choice)), _, Some(Reply::Ballot { poll: p, choice: c, receipt })) => {
                if (poll, choice) != (p.as_str(), *c) || !events.is_empty() {
                    return Err(format!("a ballot for {poll} {choice:?} acknowledged as {reply:?} with events"));
                }
                let (voter, weight) = if self.setup.roster {
                    let index =
                        PARTICIPANTS.iter().position(|p| *p == participant).ok_or("an unknown participant voted")?;
                    let entry = before.mine[index]
                        .session
                        .votes
                        .bound
                        .get(&participant)
                        .ok_or("a ballot without a voting right")?;
                    let weight = before
                        .roster
                        .iter()
                        .find(|e| &e.id == entry)
                        .map(|e| e.weight)
                        .ok_or("a ballot for no entry")?;
                    (entry.clone(), weight)
                } else {
                    (participant, 1)
                };
                let key = (poll.to_owned(), voter);
                if let Some((_, _, old)) = self.ballots.get(&key) {
                    *self.reached.entry("ballot changed".into()).or_default() += 1;
                    if old != receipt {
                        return Err(format!("a changed ballot got receipt {receipt}, the first was {old}"));
                    }
                }
                self.ballots.insert(key, (choice, weight, receipt.clone()));
                self.reach([if self.setup.roster { "roster ballot" } else { "ballot" }]);
            }
            (Some(_), _, other) => return Err(format!("a ballot acknowledged with {other:?}")),
            (_, Some((question, up)), Some(Reply::Upvote { question: q, upvotes, upvoted })) => {
                if (question, up) != (q.as_str(), *upvoted) || !events.is_empty() {
                    return Err(format!("an upvote of {question} ({up}) acknowledged as {reply:?} with events"));
                }
                self.reach([if up { "upvote" } else { "unvote" }]);
                let set = self.upvoters.entry(question.to_owned()).or_default();
                if up {
                    set.insert(participant);
                } else {
                    set.remove(&participant);
                }
                if *upvotes != set.len() as u64 {
                    return Err(format!(
                        "{question} acknowledged with {upvotes} upvotes; {} participants upvote it",
                        set.len()
                    ));
                }
            }
            (_, Some(_), other) => return Err(format!("an upvote acknowledged with {other:?}")),
            _ => {
                if after.ballots.iter().any(|(poll, b)| before.ballots.get(poll).is_some_and(|old| old != b)) {
                    return Err(format!("{} changed ballots", command.op()));
                }
            }
        }
        for e in events {
            if let Event::Question(QuestionEvent::Merged { question, into }) = &e.event {
                let moved = self.upvoters.remove(question).unwrap_or_default();
                if !moved.is_empty() {
                    self.reach(["upvotes merged"]);
                }
                self.upvoters.entry(into.clone()).or_default().extend(moved);
            }
        }
        Ok(())
    }

    /// The invariants of a state, whatever led to it.
    fn check(&self, probe: &Probe) -> Result<(), String> {
        let s = probe.session();
        // `seq` and the audit trail: every event, numbered from 1 without a gap; the resync log
        // (under its bound) is the same events.
        if probe.audit.len() as u64 != s.seq {
            return Err(format!("seq {} but {} events audited", s.seq, probe.audit.len()));
        }
        if let Some((i, a)) = probe.audit.iter().enumerate().find(|(i, a)| a.seq != *i as u64 + 1) {
            return Err(format!("the audit trail has seq {} at place {i}", a.seq));
        }
        let audited: Vec<Sequenced> =
            probe.audit.iter().map(|a| Sequenced { seq: a.seq, event: a.event.clone() }).collect();
        if probe.since_zero.as_ref() != Some(&audited) {
            return Err("the events since 0 are not the audit trail".into());
        }
        self.replays(probe)?;
        questions_hold(probe, &self.upvoters)?;
        self.polls_hold(probe)?;
        drafts_hold(probe)?;
        ending_holds(probe)?;
        let eligible = if self.setup.roster { s.roster.map_or(0, |r| r.weight) } else { PARTICIPANTS.len() as u64 };
        if s.votes.eligible != eligible {
            return Err(format!("eligible weight {} where {eligible} may vote", s.votes.eligible));
        }
        for role in Role::ALL {
            let none = HashSet::new();
            let viewer = Viewer { role, participant: None, upvoted: &none };
            serde_json::to_value(protocol::state_view(&probe.snapshot, &viewer)).map_err(|e| format!("a view: {e}"))?;
        }
        Ok(())
    }

    /// The state is the definition with the audited events folded in: what a client that
    /// saw every event holds (tallies, upvotes and the roster's entries are the store's).
    fn replays(&self, probe: &Probe) -> Result<(), String> {
        let s = probe.session();
        let mut replayed = Session::new(s.id.clone(), s.code.clone(), &self.definition, s.created_at);
        for a in &probe.audit {
            replayed.apply(&a.event);
        }
        let (held, replayed) = (folded(s), folded(&replayed));
        if held != replayed {
            let part = [
                ("agenda", held.agenda != replayed.agenda),
                ("questions", held.questions != replayed.questions),
                ("floor", held.floor != replayed.floor),
                ("drafts", held.drafts != replayed.drafts),
                ("texts", held.texts != replayed.texts),
                ("votes", held.votes != replayed.votes),
                ("roster", held.roster != replayed.roster),
                ("record", held.record != replayed.record),
            ];
            let parts: Vec<&str> = part.iter().filter(|(_, d)| *d).map(|(p, _)| *p).collect();
            return Err(format!("replaying the audit trail does not give the state held (differs in {parts:?})"));
        }
        Ok(())
    }

    fn polls_hold(&self, probe: &Probe) -> Result<(), String> {
        let s = probe.session();
        if let Some(t) = s.votes.tallies.keys().find(|t| !s.votes.polls.contains_key(*t)) {
            return Err(format!("a tally for {t}, which is no poll"));
        }
        let mut open_drafts = BTreeSet::new();
        for (id, poll) in &s.votes.polls {
            let tally = s.votes.tallies.get(id).copied().unwrap_or_default();
            let ballots = probe.ballots.get(id).ok_or(format!("no ballots read for {id}"))?;
            let sum = |c: Choice| ballots.iter().filter(|b| b.choice == c).map(|b| b.weight).sum::<u64>();
            let from_ballots = Tally {
                for_: sum(Choice::For),
                against: sum(Choice::Against),
                abstain: sum(Choice::Abstain),
                cast: ballots.len() as u64,
                cast_weight: ballots.iter().map(|b| b.weight).sum(),
            };
            if tally != from_ballots {
                return Err(format!("poll {id}: tally {tally:?}, its ballots make {from_ballots:?}"));
            }
            let receipts: BTreeSet<&str> = ballots.iter().map(|b| b.receipt.as_str()).collect();
            if receipts.len() != ballots.len() {
                return Err(format!("poll {id}: two ballots share a receipt"));
            }
            let mut acknowledged: Vec<(Choice, u64, &str)> =
                self.ballots.iter().filter(|((p, _), _)| p == id).map(|(_, (c, w, r))| (*c, *w, r.as_str())).collect();
            let mut held: Vec<(Choice, u64, &str)> =
                ballots.iter().map(|b| (b.choice, b.weight, b.receipt.as_str())).collect();
            acknowledged.sort_by_key(|b| b.2);
            held.sort_by_key(|b| b.2);
            if acknowledged != held {
                return Err(format!(
                    "poll {id}: ballots held {held:?}, one per voter as acknowledged {acknowledged:?}"
                ));
            }
            for (i, p) in PARTICIPANTS.iter().enumerate() {
                let voter = if self.setup.roster {
                    let bound = probe.mine[i].session.votes.bound.get(*p);
                    bound
                        .filter(|e| probe.mine[i].session.votes.claims.get(*e).is_some_and(|c| c.participant == *p))
                        .cloned()
                } else {
                    Some((*p).to_owned())
                };
                let expected = voter.and_then(|v| self.ballots.get(&(id.clone(), v))).map(|(c, _, r)| (*c, r.as_str()));
                let shown = probe.mine[i].ballots.get(id).map(|b| (b.choice, b.receipt.as_str()));
                if expected != shown {
                    return Err(format!("poll {id}: {p} is shown the ballot {shown:?}, theirs is {expected:?}"));
                }
            }
            let draft = s.drafts.iter().find(|d| d.id == poll.draft).ok_or(format!("poll {id} on no draft"))?;
            match poll.status {
                PollStatus::Open => {
                    if !open_drafts.insert(poll.draft.clone()) {
                        return Err(format!("two polls open on {}", poll.draft));
                    }
                    if draft.status != DraftStatus::Voting || draft.poll.as_deref() != Some(id.as_str()) {
                        return Err(format!(
                            "poll {id} is open but its draft is {:?} with poll {:?}",
                            draft.status, draft.poll
                        ));
                    }
                    if poll.result.is_some() {
                        return Err(format!("open poll {id} has a result"));
                    }
                }
                PollStatus::Closed => {
                    let r = poll.result.as_ref().ok_or(format!("closed poll {id} without a result"))?;
                    if (r.counts, r.cast, r.cast_weight) != (tally.counts(), tally.cast, tally.cast_weight) {
                        return Err(format!("poll {id} closed on {r:?}, its ballots are {tally:?}"));
                    }
                    if decide_outcome(poll.method, poll.quorum, &tally, r.eligible).0 != r.outcome {
                        return Err(format!("poll {id}: outcome {:?} is not the rule's", r.outcome));
                    }
                }
                PollStatus::Cancelled => {}
            }
        }
        if let Some(d) = s.drafts.iter().find(|d| d.status == DraftStatus::Voting && !open_drafts.contains(&d.id)) {
            return Err(format!("{} is being voted on with no open poll", d.id));
        }
        Ok(())
    }
}

/// The frame with each token (`"$q0"`: see [`reference`]) replaced by the id of one thing of its
/// kind that exists, counting round (questions approved first, open polls first, drafts still
/// drafts first), or by an id that names nothing when there is none.
fn resolve(frame: &str, probe: &Probe) -> String {
    let s = probe.session();
    let things = |kind: char| -> Vec<String> {
        match kind {
            'q' => {
                let rank = |st: QuestionStatus| match st {
                    QuestionStatus::Approved => 0,
                    QuestionStatus::Pending => 1,
                    QuestionStatus::Answered => 2,
                    QuestionStatus::Rejected => 3,
                    QuestionStatus::Merged => 4,
                };
                let mut qs: Vec<_> = s.questions.items.values().collect();
                qs.sort_by_key(|q| (rank(q.status), q.id.clone()));
                qs.into_iter().map(|q| q.id.clone()).collect()
            }
            'f' => s
                .floor
                .queue
                .iter()
                .map(|r| r.id.clone())
                .chain(s.floor.speaking.iter().map(|t| t.request.id.clone()))
                .collect(),
            'p' => {
                let mut ps: Vec<_> = s.votes.polls.values().collect();
                ps.sort_by_key(|p| (p.status != PollStatus::Open, p.id.clone()));
                ps.into_iter().map(|p| p.id.clone()).collect()
            }
            'd' => {
                let mut ds: Vec<_> = s.drafts.iter().collect();
                ds.sort_by_key(|d| d.status != DraftStatus::Draft);
                ds.into_iter().map(|d| d.id.clone()).collect()
            }
            'n' => s.record.standing.clone(),
            'a' => s.agenda.items.iter().map(|i| i.id.clone()).collect(),
            _ => Vec::new(),
        }
    };
    let mut out = String::with_capacity(frame.len());
    let mut rest = frame;
    while let Some(at) = rest.find("\"$") {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 2..];
        let kind = tail.chars().next().unwrap_or('"');
        let digits: String = tail[kind.len_utf8()..].chars().take_while(char::is_ascii_digit).collect();
        let end = kind.len_utf8() + digits.len();
        match digits.parse::<usize>() {
            Ok(k) if tail[end..].starts_with('"') => {
                let all = things(kind);
                let id = if all.is_empty() { format!("{kind}-none") } else { all[k % all.len()].clone() };
                out.push_str(&json!(id).to_string());
                rest = &tail[end + 1..];
            }
            _ => {
                out.push_str("\"$");
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The parts of a session the events carry (the store's counters, tallies and roster
/// entries left out).
fn folded(s: &Session) -> Session {
    let mut s = s.clone();
    s.seq = 0;
    s.votes.tallies.clear();
    s.votes.eligible = 0;
    s.votes.roster.clear();
    s.votes.claims.clear();
    s.votes.bound.clear();
    s.questions.askers.clear();
    s.questions.open_by.clear();
    s
}

fn questions_hold(probe: &Probe, upvoters: &BTreeMap<String, BTreeSet<String>>) -> Result<(), String> {
    let qs = &probe.session().questions;
    for (id, q) in &qs.items {
        if &q.id != id || !PARTICIPANTS.contains(&q.by.as_str()) {
            return Err(format!("question {id} is {q:?}"));
        }
        let merged = q.status == QuestionStatus::Merged;
        if merged != q.merged_into.is_some() || (q.status == QuestionStatus::Answered) != q.answered_at.is_some() {
            return Err(format!("question {id} is {:?} with {q:?}", q.status));
        }
        if let Some(into) = &q.merged_into {
            if into == id || !qs.items.contains_key(into) {
                return Err(format!("question {id} is merged into {into}, which is no other question"));
            }
        }
    }
    let open = qs.items.values().filter(|q| q.status.is_open()).count() as i64;
    if qs.open_total != open {
        return Err(format!("{} open questions counted, {open} open", qs.open_total));
    }
    if let Some(h) = &qs.highlighted {
        if qs.items.get(h).map(|q| q.status) != Some(QuestionStatus::Approved) {
            return Err(format!("{h} is on the screen but is not an approved question"));
        }
    }
    // Upvotes: each count is its set of upvoters, as acknowledged and as each participant sees it.
    let counts: BTreeMap<&str, u64> =
        probe.snapshot.upvotes.iter().filter(|(_, n)| **n > 0).map(|(q, n)| (q.as_str(), *n)).collect();
    let expected: BTreeMap<&str, u64> =
        upvoters.iter().filter(|(_, s)| !s.is_empty()).map(|(q, s)| (q.as_str(), s.len() as u64)).collect();
    if counts != expected {
        return Err(format!("upvote counts {counts:?}, the upvoters make {expected:?}"));
    }
    for (i, p) in PARTICIPANTS.iter().enumerate() {
        let seen: BTreeSet<&str> = probe.mine[i].upvoted.iter().map(String::as_str).collect();
        let theirs: BTreeSet<&str> = upvoters.iter().filter(|(_, s)| s.contains(*p)).map(|(q, _)| q.as_str()).collect();
        if seen != theirs {
            return Err(format!("{p} is shown as upvoting {seen:?}, they upvote {theirs:?}"));
        }
    }
    if let Some(q) = counts.keys().find(|q| !qs.items.contains_key(**q)) {
        return Err(format!("upvotes for {q}, which is no question"));
    }
    Ok(())
}

/// Where each draft stands, read from the audit trail alone; a draft changes only while it
/// is a draft.
fn drafts_hold(probe: &Probe) -> Result<(), String> {
    let s = probe.session();
    let mut status: BTreeMap<String, (DraftStatus, u32)> =
        (1..=probe.snapshot.definition.drafts.len()).map(|i| (format!("d{i}"), (DraftStatus::Draft, 1))).collect();
    let mut polls: BTreeMap<String, String> = BTreeMap::new();
    for a in &probe.audit {
        let at = |d: &str| status.get(d).copied().ok_or(format!("seq {}: {} on no draft {d}", a.seq, a.event.kind()));
        let drafting = |d: &str| match at(d)? {
            (DraftStatus::Draft, v) => Ok(v),
            (other, _) => Err(format!("seq {}: {} on {d}, which is {other:?}", a.seq, a.event.kind())),
        };
        let next = match &a.event {
            Event::Draft(DraftEvent::Created { draft, .. }) => {
                if status.contains_key(draft) {
                    return Err(format!("seq {}: {draft} created twice", a.seq));
                }
                Some((draft.clone(), DraftStatus::Draft, 1))
            }
            Event::Draft(DraftEvent::Edited { draft, version, .. }) => {
                let v = drafting(draft)?;
                if *version != v + 1 {
                    return Err(format!("seq {}: {draft} edited to version {version} from {v}", a.seq));
                }
                Some((draft.clone(), DraftStatus::Draft, *version))
            }
            Event::Draft(DraftEvent::Withdrawn { draft, .. }) => {
                Some((draft.clone(), DraftStatus::Withdrawn, drafting(draft)?))
            }
            Event::Vote(VoteEvent::PollOpened { poll, .. }) => {
                let v = drafting(&poll.draft)?;
                if poll.version != v {
                    return Err(format!(
                        "seq {}: version {} of {} put to the vote, it is at {v}",
                        a.seq, poll.version, poll.draft
                    ));
                }
                polls.insert(poll.id.clone(), poll.draft.clone());
                Some((poll.draft.clone(), DraftStatus::Voting, v))
            }
            Event::Vote(VoteEvent::DraftAdopted { draft, .. }) => {
                Some((draft.clone(), DraftStatus::Adopted, drafting(draft)?))
            }
            Event::Vote(VoteEvent::PollClosed { poll, outcome, .. }) => {
                let draft = polls.get(poll).ok_or(format!("seq {}: {poll} closed, never opened", a.seq))?;
                let (now, v) = at(draft)?;
                if now != DraftStatus::Voting {
                    return Err(format!("seq {}: {poll} closed on {draft}, which is {now:?}", a.seq));
                }
                let then = match outcome {
                    palabre::domain::votes::Outcome::Adopted => DraftStatus::Adopted,
                    palabre::domain::votes::Outcome::Rejected => DraftStatus::Rejected,
                    palabre::domain::votes::Outcome::NoQuorum => DraftStatus::Draft,
                };
                Some((draft.clone(), then, v))
            }
            Event::Vote(VoteEvent::PollCancelled { poll }) => {
                let draft = polls.get(poll).ok_or(format!("seq {}: {poll} cancelled, never opened", a.seq))?;
                Some((draft.clone(), DraftStatus::Draft, at(draft)?.1))
            }
            _ => None,
        };
        if let Some((draft, st, v)) = next {
            status.insert(draft, (st, v));
        }
    }
    for d in &s.drafts {
        let text = s.texts.get(&d.id).ok_or(format!("{} has no text", d.id))?;
        if status.get(&d.id) != Some(&(d.status, d.version)) || text.version() != d.version {
            return Err(format!(
                "{} is {:?} v{} (text v{}); its events make {:?}",
                d.id,
                d.status,
                d.version,
                text.version(),
                status.get(&d.id)
            ));
        }
        if (d.status == DraftStatus::Adopted) != d.adopted_by.is_some() {
            return Err(format!("{} is {:?}, adopted by {:?}", d.id, d.status, d.adopted_by));
        }
    }
    if status.len() != s.drafts.len() {
        return Err(format!("{} drafts held, {} from the events", s.drafts.len(), status.len()));
    }
    Ok(())
}

/// Nothing after `record.finalised`; only the record after `session.ended`; a finalised
/// record hashes to its seal.
fn ending_holds(probe: &Probe) -> Result<(), String> {
    let s = probe.session();
    let ended = probe.audit.iter().position(|a| matches!(a.event, Event::Agenda(AgendaEvent::SessionEnded { .. })));
    let finalised = probe.audit.iter().position(|a| matches!(a.event, Event::Record(RecordEvent::Finalised { .. })));
    if let Some(e) = ended {
        if let Some(a) = probe.audit[e + 1..].iter().find(|a| !matches!(a.event, Event::Record(_))) {
            return Err(format!("seq {}: {} after the session ended", a.seq, a.event.kind()));
        }
        if s.agenda.phase != Phase::Ended || s.floor.speaking.is_some() {
            return Err("the session ended, yet is not over".into());
        }
        if let Some(p) = s.votes.polls.values().find(|p| p.status == PollStatus::Open) {
            return Err(format!("poll {} is open after the session ended", p.id));
        }
    } else if s.agenda.phase == Phase::Ended {
        return Err("the session is over without a session.ended".into());
    }
    match finalised {
        Some(f) => {
            if f + 1 != probe.audit.len() {
                return Err(format!("{} after the record was finalised", probe.audit[f + 1].event.kind()));
            }
            if ended.is_none_or(|e| e > f) || s.record.finalised.is_none() {
                return Err("the record was finalised before the session ended".into());
            }
            let record = palabre::record::build(&probe.snapshot, &probe.audit);
            palabre::record::verify(&record).map_err(|e| format!("the final record: {e}"))?;
        }
        None if s.record.finalised.is_some() => return Err("finalised without record.finalised".into()),
        None => {}
    }
    Ok(())
}

/// Every event reads back as itself, and every role gets a frame with its `seq` and kind.
fn event_reads_back(e: &Sequenced) -> Result<(), String> {
    let json = serde_json::to_value(&e.event).map_err(|err| format!("{} does not serialise: {err}", e.event.kind()))?;
    let back: Event =
        serde_json::from_value(json.clone()).map_err(|err| format!("{json} does not read back: {err}"))?;
    if back != e.event {
        return Err(format!("{json} reads back as {back:?}"));
    }
    for role in Role::ALL {
        let frame: Value = serde_json::from_str(&protocol::event_frame(e, role)).map_err(|err| err.to_string())?;
        if frame["seq"] != json!(e.seq) || frame["event"]["kind"] != json!(e.event.kind()) {
            return Err(format!("the {role:?}'s frame {frame} for seq {} ({})", e.seq, e.event.kind()));
        }
    }
    Ok(())
}

fn kinds(events: &[Sequenced]) -> String {
    events.iter().map(|e| e.event.kind()).collect::<Vec<_>>().join(", ")
}

/// Which readable part of the state changed, for a failure's message.
fn difference(before: &Probe, after: &Probe) -> String {
    let mut parts = Vec::new();
    if before.session() != after.session() {
        parts.push(format!("session (seq {} → {})", before.session().seq, after.session().seq));
    }
    if before.snapshot.upvotes != after.snapshot.upvotes {
        parts.push(format!("upvotes {:?} → {:?}", before.snapshot.upvotes, after.snapshot.upvotes));
    }
    if before.mine != after.mine {
        parts.push("a participant's view".into());
    }
    if before.audit != after.audit {
        parts.push(format!("audit ({} → {} events)", before.audit.len(), after.audit.len()));
    }
    if before.ballots != after.ballots {
        parts.push("ballots".into());
    }
    if before.roster != after.roster {
        parts.push("roster".into());
    }
    if before.since_zero != after.since_zero {
        parts.push("events since 0".into());
    }
    parts.join("; ")
}
