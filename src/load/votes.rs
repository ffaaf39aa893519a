//! The questions phase's bookkeeping, pure: which questions each participant upvotes and
//! unvotes ([`plan`]), what the counts must be afterwards given what was acknowledged
//! ([`Ballot`], [`expected_counts`]), and what one client shows ([`View`]).

use super::socket::{EventHead, Frame, QuestionHead, QuestionRef, StateHead};
use super::watch::Follow;
use anyhow::bail;
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

/// Upvotes and unvotes one participant may send in 10 s (the server refuses more).
pub const MAX_VOTES_PER_WINDOW: usize = 30;
/// Open questions one session holds at most.
pub const MAX_QUESTIONS: usize = 500;

/// How many questions there are and what each participant does with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub questions: usize,
    pub upvotes: usize,
    pub unvotes: usize,
}

impl Shape {
    pub fn from_args(questions: usize, upvotes: usize, unvotes: usize) -> anyhow::Result<Self> {
        if questions == 0 || questions > MAX_QUESTIONS {
            bail!("--questions {questions}: from 1 to {MAX_QUESTIONS} (the server's open questions per session)");
        }
        if upvotes == 0 || upvotes > questions {
            bail!("--upvotes {upvotes}: from 1 to --questions ({questions}): each upvote is on a distinct question");
        }
        if unvotes > upvotes {
            bail!("--unvotes {unvotes}: at most --upvotes ({upvotes}): only an upvoted question can be unvoted");
        }
        if upvotes + unvotes > MAX_VOTES_PER_WINDOW {
            bail!(
                "--upvotes {upvotes} + --unvotes {unvotes}: at most {MAX_VOTES_PER_WINDOW} \
                 (the server's limit per participant in 10 s)"
            );
        }
        Ok(Shape { questions, upvotes, unvotes })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vote {
    Up,
    Down,
}

impl Vote {
    pub fn op(self) -> &'static str {
        match self {
            Vote::Up => "question.upvote",
            Vote::Down => "question.unvote",
        }
    }
}

/// One command of the storm: a vote on the question at an index of the question list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoteOp {
    pub vote: Vote,
    pub question: usize,
}

/// splitmix64: a small, well-mixed pseudo-random sequence, so that a plan is the same on every run.
pub(super) struct Mix(pub(super) u64);

impl Mix {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Participant `p`'s commands: upvotes on `shape.upvotes` distinct questions, chosen at random
/// (the same on every run), then unvotes on the first `shape.unvotes` of them.
pub fn plan(p: usize, shape: Shape) -> Vec<VoteOp> {
    let mut mix = Mix(p as u64 ^ 0x0070_616c_6162_7265);
    // A partial Fisher–Yates shuffle of the question indices.
    let mut order: Vec<usize> = (0..shape.questions).collect();
    for k in 0..shape.upvotes {
        let j = k + mix.below(shape.questions - k);
        order.swap(k, j);
    }
    let ups = order[..shape.upvotes].iter().map(|&q| VoteOp { vote: Vote::Up, question: q });
    let downs = order[..shape.unvotes].iter().map(|&q| VoteOp { vote: Vote::Down, question: q });
    ups.chain(downs).collect()
}

/// What one participant has upvoted, from the commands the server acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ballot {
    pub upvoted: BTreeSet<usize>,
}

impl Ballot {
    /// Applies an acknowledged vote; returns whether the participant now upvotes the question
    /// (what the ack's `upvoted` must say).
    pub fn apply(&mut self, op: VoteOp) -> bool {
        match op.vote {
            Vote::Up => {
                self.upvoted.insert(op.question);
                true
            }
            Vote::Down => {
                self.upvoted.remove(&op.question);
                false
            }
        }
    }
}

/// The count every question must show: how many ballots upvote it. `ids[k]` is question `k`'s id.
pub fn expected_counts<'a>(ballots: impl IntoIterator<Item = &'a Ballot>, ids: &[String]) -> HashMap<String, u64> {
    let mut counts: HashMap<String, u64> = ids.iter().map(|id| (id.clone(), 0)).collect();
    for b in ballots {
        for &q in &b.upvoted {
            if let Some(c) = ids.get(q).and_then(|id| counts.get_mut(id)) {
                *c += 1;
            }
        }
    }
    counts
}

/// The questions whose count in `seen` differs from `expected`: `(id, expected, seen)`, sorted.
pub fn differences(expected: &HashMap<String, u64>, seen: &HashMap<String, u64>) -> Vec<(String, u64, Option<u64>)> {
    let mut out: Vec<_> = (expected.iter())
        .filter(|(id, n)| seen.get(*id) != Some(n))
        .map(|(id, n)| (id.clone(), *n, seen.get(id).copied()))
        .collect();
    out.sort();
    out
}

/// The upvote counts one client shows: the last value it was given for each question it knows,
/// from the `welcome` state on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    pub counts: HashMap<String, u64>,
}

impl View {
    /// A view from a welcome's questions: the approved and answered ones (those every
    /// participant sees, and whose counts `upvotes` frames carry).
    pub fn from_questions(questions: &[QuestionHead]) -> Self {
        let shown = |q: &&QuestionHead| matches!(q.status.as_deref(), None | Some("approved" | "answered"));
        View { counts: questions.iter().filter(shown).map(|q| (q.id.clone(), q.upvotes.unwrap_or(0))).collect() }
    }

    /// Folds an event; returns whether the view changed.
    pub fn on_event(&mut self, event: &EventHead) -> bool {
        match (event.kind.as_ref(), &event.question) {
            ("question.asked" | "question.approved", Some(QuestionRef::Full(q))) => {
                if !matches!(q.status.as_deref(), None | Some("approved")) || self.counts.contains_key(&q.id) {
                    return false;
                }
                self.counts.insert(q.id.clone(), q.upvotes.unwrap_or(0));
                true
            }
            ("question.rejected" | "question.merged", Some(QuestionRef::Id(id))) => self.counts.remove(id).is_some(),
            _ => false,
        }
    }

    /// Applies an `upvotes` frame to the questions the client knows; returns whether the view changed.
    pub fn on_upvotes(&mut self, counts: &HashMap<String, u64>) -> bool {
        let mut changed = false;
        for (id, n) in counts {
            if let Some(c) = self.counts.get_mut(id) {
                changed |= *c != *n;
                *c = *n;
            }
        }
        changed
    }

    /// Whether every question of `goal` shows its count here.
    pub fn matches(&self, goal: &HashMap<String, u64>) -> bool {
        goal.iter().all(|(id, n)| self.counts.get(id) == Some(n))
    }
}

/// A client's view of the upvote counts: the welcome's questions, the questions approved and
/// removed since, and the counts of `upvotes` frames.
impl Follow for View {
    type Goal = HashMap<String, u64>;

    fn on_event(&mut self, _seq: u64, event: &EventHead, _at: Instant) -> bool {
        View::on_event(self, event)
    }

    fn on_welcome(&mut self, _seq: u64, state: Option<&StateHead>, _at: Instant) -> bool {
        let Some(state) = state else { return false };
        let fresh = View::from_questions(&state.questions);
        let changed = fresh != *self;
        *self = fresh;
        changed
    }

    fn on_frame(&mut self, frame: &Frame, _at: Instant) -> Option<bool> {
        (frame.kind == "upvotes").then(|| frame.counts.as_ref().is_some_and(|c| self.on_upvotes(c)))
    }

    fn matches(&self, goal: &HashMap<String, u64>) -> bool {
        View::matches(self, goal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: Shape = Shape { questions: 20, upvotes: 8, unvotes: 2 };

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|k| format!("q{k}")).collect()
    }

    #[test]
    fn a_plan_upvotes_distinct_questions_then_unvotes_some_of_them() {
        for p in 0..200 {
            let ops = plan(p, SHAPE);
            assert_eq!(ops.len(), 10);
            let ups: BTreeSet<usize> = ops[..8].iter().map(|o| o.question).collect();
            assert_eq!(ups.len(), 8, "distinct");
            assert!(ups.iter().all(|&q| q < 20));
            assert!(ops[..8].iter().all(|o| o.vote == Vote::Up));
            assert!(ops[8..].iter().all(|o| o.vote == Vote::Down && ups.contains(&o.question)));
            assert_eq!(ops[8].question, ops[0].question);
        }
        assert_eq!(plan(7, SHAPE), plan(7, SHAPE), "the same on every run");
        assert_ne!(plan(7, SHAPE), plan(8, SHAPE));
    }

    #[test]
    fn plans_spread_over_every_question() {
        let mut hit = [0usize; 20];
        for p in 0..1000 {
            for op in plan(p, SHAPE) {
                hit[op.question] += usize::from(op.vote == Vote::Up);
            }
        }
        // 8,000 upvotes over 20 questions: about 400 each.
        assert!(hit.iter().all(|&h| (300..500).contains(&h)), "{hit:?}");
    }

    #[test]
    fn the_expected_counts_follow_the_acknowledged_votes() {
        let names = ids(20);
        let mut ballots = vec![Ballot::default(); 100];
        let mut want = [0u64; 20];
        for (p, ballot) in ballots.iter_mut().enumerate() {
            for op in plan(p, SHAPE) {
                assert_eq!(ballot.apply(op), op.vote == Vote::Up);
            }
            for op in &plan(p, SHAPE)[2..8] {
                want[op.question] += 1;
            }
        }
        let counts = expected_counts(&ballots, &names);
        assert_eq!(counts.len(), 20);
        for (k, id) in names.iter().enumerate() {
            assert_eq!(counts[id], want[k], "{id}");
        }
        assert_eq!(counts.values().sum::<u64>(), 600);
    }

    #[test]
    fn a_refused_upvote_is_not_counted_and_its_unvote_changes_nothing() {
        let names = ids(3);
        let mut b = Ballot::default();
        b.apply(VoteOp { vote: Vote::Up, question: 1 });
        // The upvote of question 2 was refused: only its unvote is acknowledged.
        assert!(!b.apply(VoteOp { vote: Vote::Down, question: 2 }));
        let counts = expected_counts([&b], &names);
        assert_eq!((counts["q0"], counts["q1"], counts["q2"]), (0, 1, 0));
    }

    #[test]
    fn shapes_stay_under_the_servers_limits() {
        assert!(Shape::from_args(20, 8, 2).is_ok());
        assert!(Shape::from_args(30, 20, 10).is_ok());
        assert!(Shape::from_args(30, 20, 11).is_err(), "31 votes in a storm");
        assert!(Shape::from_args(5, 6, 0).is_err(), "more upvotes than questions");
        assert!(Shape::from_args(5, 2, 3).is_err(), "more unvotes than upvotes");
        assert!(Shape::from_args(501, 2, 0).is_err());
        assert!(Shape::from_args(0, 0, 0).is_err());
    }

    fn head(id: &str, status: &str, upvotes: Option<u64>) -> QuestionHead {
        QuestionHead { id: id.into(), upvotes, status: Some(status.into()) }
    }

    #[test]
    fn a_view_starts_from_the_welcome_and_keeps_the_last_count_given() {
        let mut v = View::from_questions(&[head("a", "approved", Some(3)), head("b", "pending", Some(0))]);
        assert_eq!(v.counts, HashMap::from([("a".to_owned(), 3)]));
        let approved: EventHead =
            serde_json::from_str(r#"{"kind":"question.approved","question":{"id":"b","status":"approved"}}"#)
                .expect("an event");
        assert!(v.on_event(&approved));
        assert!(!v.on_event(&approved), "known already");
        assert!(v.on_upvotes(&HashMap::from([("b".to_owned(), 2), ("zz".to_owned(), 9)])));
        assert!(!v.on_upvotes(&HashMap::from([("b".to_owned(), 2)])), "same count");
        assert!(v.on_upvotes(&HashMap::from([("a".to_owned(), 1)])), "counts go down too");
        let goal = HashMap::from([("a".to_owned(), 1), ("b".to_owned(), 2)]);
        assert!(v.matches(&goal));
        assert!(differences(&goal, &v.counts).is_empty());
        let rejected: EventHead =
            serde_json::from_str(r#"{"kind":"question.rejected","question":"b"}"#).expect("an event");
        assert!(v.on_event(&rejected));
        assert!(!v.matches(&goal));
        assert_eq!(differences(&goal, &v.counts), vec![("b".to_owned(), 2, None)]);
    }

    #[test]
    fn a_pending_question_asked_stays_out_of_the_view() {
        let mut v = View::default();
        let asked: EventHead =
            serde_json::from_str(r#"{"kind":"question.asked","question":{"id":"p","status":"pending"}}"#)
                .expect("an event");
        assert!(!v.on_event(&asked));
        let bare: EventHead = serde_json::from_str(r#"{"kind":"question.asked"}"#).expect("an event");
        assert!(!v.on_event(&bare));
        assert!(v.counts.is_empty());
    }
}
