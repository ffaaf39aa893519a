//! The vote phase's bookkeeping, pure: which choices each voter casts ([`plan`]), what the
//! server acknowledged ([`Voter`]), the tally that must come out of it ([`expected_tally`]),
//! what one client shows ([`PollView`]), and the check of the published receipts
//! ([`check_receipts`]).

use super::socket::{EventHead, Frame, PollHead, PollRef, StateHead};
use super::votes::Mix;
use super::watch::Follow;
use anyhow::bail;
use serde::Deserialize;
use std::collections::HashMap;
use std::time::Instant;

/// Ballots one voter casts at most (the first one and its changes): under the server's burst
/// of 30 frames, so that pacing never shows in the latencies.
pub const MAX_BALLOTS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    For,
    Against,
    Abstain,
}

impl Choice {
    pub const ALL: [Choice; 3] = [Choice::For, Choice::Against, Choice::Abstain];

    pub fn as_str(self) -> &'static str {
        match self {
            Choice::For => "for",
            Choice::Against => "against",
            Choice::Abstain => "abstain",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Choice::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What every voter does: the share that changes its mind, and how many times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    /// Percent of the voters who cast again with another choice.
    pub change_percent: u32,
    /// How many times each of them casts again.
    pub recasts: usize,
}

impl Shape {
    pub fn from_args(change_percent: u32, recasts: usize) -> anyhow::Result<Self> {
        if change_percent > 100 {
            bail!("--change-percent {change_percent}: from 0 to 100");
        }
        if recasts == 0 || recasts >= MAX_BALLOTS {
            bail!("--recasts {recasts}: from 1 to {} (a voter casts at most {MAX_BALLOTS} ballots)", MAX_BALLOTS - 1);
        }
        Ok(Shape { change_percent, recasts })
    }
}

/// Voter `p`'s ballots in order: a first choice drawn at random (the same on every run); for
/// about `change_percent` % of the voters, `recasts` more, each a choice other than the last.
pub fn plan(p: usize, shape: Shape) -> Vec<Choice> {
    let mut mix = Mix(p as u64 ^ 0x0062_616c_6c6f_7473);
    let mut last = mix.below(3);
    let mut out = vec![Choice::ALL[last]];
    if mix.below(100) < shape.change_percent as usize {
        for _ in 0..shape.recasts {
            last = (last + 1 + mix.below(2)) % 3;
            out.push(Choice::ALL[last]);
        }
    }
    out
}

/// What the server acknowledged to one voter: the last choice, and the receipt (the first one
/// given; every later ack must carry the same).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Voter {
    pub last: Option<Choice>,
    pub receipt: Option<String>,
    /// Acks that carried another receipt than the first.
    pub receipt_changes: u32,
}

impl Voter {
    /// Books an acknowledged ballot; returns false when its receipt is not the voter's first one.
    pub fn acked(&mut self, choice: Choice, receipt: &str) -> bool {
        self.last = Some(choice);
        match &self.receipt {
            None => {
                self.receipt = Some(receipt.to_owned());
                true
            }
            Some(r) if r == receipt => true,
            Some(_) => {
                self.receipt_changes += 1;
                false
            }
        }
    }
}

/// A poll's tally as the clients see it: weights by choice (all 1 in open mode) and ballots cast.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub for_: u64,
    pub against: u64,
    pub abstain: u64,
    pub cast: u64,
}

impl Tally {
    /// From a frame's `counts` and `cast`; `None` without counts (a hidden poll) or cast.
    pub fn of(counts: Option<&HashMap<String, u64>>, cast: Option<u64>) -> Option<Self> {
        let counts = counts?;
        let get = |k: &str| counts.get(k).copied().unwrap_or(0);
        Some(Tally { for_: get("for"), against: get("against"), abstain: get("abstain"), cast: cast? })
    }

    fn add(&mut self, choice: Choice) {
        *match choice {
            Choice::For => &mut self.for_,
            Choice::Against => &mut self.against,
            Choice::Abstain => &mut self.abstain,
        } += 1;
        self.cast += 1;
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "for {} against {} abstain {} (cast {})", self.for_, self.against, self.abstain, self.cast)
    }
}

/// The tally the acknowledged ballots make: each voter's last acknowledged choice, once.
pub fn expected_tally<'a>(voters: impl IntoIterator<Item = &'a Voter>) -> Tally {
    let mut t = Tally::default();
    for choice in voters.into_iter().filter_map(|v| v.last) {
        t.add(choice);
    }
    t
}

/// The receipts the acknowledged ballots make, `(receipt, final choice)`, sorted.
pub fn expected_receipts<'a>(voters: impl IntoIterator<Item = &'a Voter>) -> Vec<(String, Choice)> {
    let mut out: Vec<_> = voters.into_iter().filter_map(|v| Some((v.receipt.clone()?, v.last?))).collect();
    out.sort();
    out
}

/// Receipts given to more than one voter (they could not tell their ballots apart).
pub fn shared_receipts(expected: &[(String, Choice)]) -> usize {
    expected.windows(2).filter(|w| w[0].0 == w[1].0).count()
}

/// `GET /j/{code}/polls/{poll}/receipts.json`, the parts that are checked.
#[derive(Debug, Deserialize)]
pub struct Receipts {
    pub poll: String,
    pub counts: HashMap<String, u64>,
    pub cast: u64,
    pub receipts: Vec<Listed>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Listed {
    pub receipt: String,
    pub choice: String,
    /// Left out of a secret poll's receipts.
    #[serde(default)]
    pub weight: Option<u64>,
}

/// What is wrong with a poll's published receipts, given the expected ones and tally: empty when
/// they list exactly the voters' receipts with their final choices (weight 1 where given), sorted
/// by receipt.
pub fn check_receipts(doc: &Receipts, poll: &str, expected: &[(String, Choice)], tally: Tally) -> Vec<String> {
    let mut problems = Vec::new();
    if doc.poll != poll {
        problems.push(format!("poll {:?}, expected {poll:?}", doc.poll));
    }
    let published = Tally::of(Some(&doc.counts), Some(doc.cast));
    if published != Some(tally) {
        problems.push(format!("counts {}, expected {tally}", published.unwrap_or_default()));
    }
    if !doc.receipts.windows(2).all(|w| w[0].receipt <= w[1].receipt) {
        problems.push("the receipts are not sorted by receipt".into());
    }
    let heavy = doc.receipts.iter().filter(|l| l.weight.is_some_and(|w| w != 1)).count();
    if heavy > 0 {
        problems.push(format!("{heavy} receipts with a weight other than 1"));
    }
    let mut listed: Vec<(String, Option<Choice>, &str)> =
        doc.receipts.iter().map(|l| (l.receipt.clone(), Choice::parse(&l.choice), l.choice.as_str())).collect();
    listed.sort();
    let (mut i, mut j, mut missing, mut extra) = (0, 0, Vec::new(), Vec::new());
    while i < expected.len() || j < listed.len() {
        match (expected.get(i), listed.get(j)) {
            (Some(e), Some(l)) if e.0 == l.0 && Some(e.1) == l.1 => (i, j) = (i + 1, j + 1),
            (Some(e), Some(l)) if (e.0.as_str(), Some(e.1)) < (l.0.as_str(), l.1) => {
                missing.push(format!("{} {}", e.0, e.1.as_str()));
                i += 1;
            }
            (Some(e), None) => {
                missing.push(format!("{} {}", e.0, e.1.as_str()));
                i += 1;
            }
            (_, Some(l)) => {
                extra.push(format!("{} {}", l.0, l.2));
                j += 1;
            }
            (None, None) => break,
        }
    }
    for (what, list) in [("not listed", missing), ("listed but not acknowledged", extra)] {
        if !list.is_empty() {
            let shown: Vec<&str> = list.iter().take(3).map(String::as_str).collect();
            problems.push(format!("{} receipts {what} (e.g. {})", list.len(), shown.join(", ")));
        }
    }
    problems
}

/// One client's view of the poll: the tally its last `tally` frame gave (from `poll.opened` on),
/// and the result of `poll.closed`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollView {
    /// The poll followed: the first one opened.
    pub poll: Option<String>,
    pub tally: Option<Tally>,
    /// When `tally` last changed.
    pub tally_at: Option<Instant>,
    pub closed: Option<Tally>,
}

/// What a [`PollView`] must come to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// The live tally (from `poll.opened` and `tally` frames).
    Tally(Tally),
    /// `poll.closed` with these figures.
    Closed(Tally),
}

impl PollView {
    fn set_tally(&mut self, tally: Option<Tally>, at: Instant) -> bool {
        if tally.is_none() || tally == self.tally {
            return false;
        }
        self.tally = tally;
        self.tally_at = Some(at);
        true
    }

    fn follows(&self, poll: &str) -> bool {
        self.poll.as_deref() == Some(poll)
    }

    /// Takes a poll object; `opened`: from `poll.opened`, where a poll without figures (the
    /// server sends the bare poll there) that does not hide them starts at zero.
    fn on_poll(&mut self, head: &PollHead, opened: bool, at: Instant) -> bool {
        let known = self.poll.is_some();
        if !known {
            self.poll = Some(head.id.clone());
        }
        if !self.follows(&head.id) {
            return false;
        }
        let bare = opened && head.counts.is_none() && head.cast.is_none() && head.hidden != Some(true);
        let tally = if bare { Some(Tally::default()) } else { Tally::of(head.counts.as_ref(), head.cast) };
        let closed = (head.status.as_deref() == Some("closed")).then_some(tally).flatten();
        let mut changed = !known;
        if closed.is_some() && closed != self.closed {
            self.closed = closed;
            changed = true;
        }
        self.set_tally(tally, at) || changed
    }
}

impl Follow for PollView {
    type Goal = Want;

    fn on_event(&mut self, _seq: u64, event: &EventHead, at: Instant) -> bool {
        match (event.kind.as_ref(), &event.poll) {
            ("poll.opened", Some(PollRef::Full(head))) => self.on_poll(head, true, at),
            ("poll.closed", Some(PollRef::Id(id))) if self.follows(id) => {
                let closed = Tally::of(event.counts.as_ref(), event.cast);
                let changed = closed != self.closed;
                self.closed = closed;
                changed
            }
            _ => false,
        }
    }

    fn on_welcome(&mut self, _seq: u64, state: Option<&StateHead>, at: Instant) -> bool {
        let Some(state) = state else { return false };
        let head = match &self.poll {
            Some(id) => state.polls.iter().find(|p| &p.id == id),
            None => state.polls.iter().find(|p| p.status.as_deref() == Some("open")),
        };
        head.is_some_and(|h| self.on_poll(h, false, at))
    }

    fn on_frame(&mut self, frame: &Frame, at: Instant) -> Option<bool> {
        if frame.kind != "tally" {
            return None;
        }
        let ours = frame.poll.as_deref().is_some_and(|p| self.follows(p));
        Some(ours && self.set_tally(Tally::of(frame.counts.as_ref(), frame.cast), at))
    }

    fn matches(&self, goal: &Want) -> bool {
        match goal {
            Want::Tally(t) => self.tally == Some(*t),
            Want::Closed(t) => self.closed == Some(*t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: Shape = Shape { change_percent: 30, recasts: 2 };

    #[test]
    fn a_plan_changes_choice_at_every_recast_for_about_the_share_asked() {
        let mut changers = 0;
        let mut firsts = [0usize; 3];
        for p in 0..3000 {
            let ballots = plan(p, SHAPE);
            assert!(ballots.len() == 1 || ballots.len() == 3, "{ballots:?}");
            assert!(ballots.windows(2).all(|w| w[0] != w[1]), "another choice each time: {ballots:?}");
            changers += usize::from(ballots.len() > 1);
            firsts[ballots[0] as usize] += 1;
        }
        assert!((800..1000).contains(&changers), "{changers} of 3000 change their mind");
        assert!(firsts.iter().all(|&n| (900..1100).contains(&n)), "{firsts:?}");
        assert_eq!(plan(7, SHAPE), plan(7, SHAPE), "the same on every run");
        assert!((0..100).all(|p| plan(p, Shape { change_percent: 0, recasts: 1 }).len() == 1));
        assert!((0..100).all(|p| plan(p, Shape { change_percent: 100, recasts: 1 }).len() == 2));
    }

    #[test]
    fn shapes_stay_under_the_servers_burst() {
        assert!(Shape::from_args(25, 1).is_ok());
        assert!(Shape::from_args(100, 19).is_ok());
        assert!(Shape::from_args(101, 1).is_err());
        assert!(Shape::from_args(25, 0).is_err());
        assert!(Shape::from_args(25, 20).is_err());
    }

    #[test]
    fn the_tally_counts_each_voters_last_acknowledged_choice_once() {
        let mut a = Voter::default();
        assert!(a.acked(Choice::For, "AB-CDEF"));
        assert!(a.acked(Choice::Against, "AB-CDEF"));
        let mut b = Voter::default();
        assert!(b.acked(Choice::Abstain, "ZZ-9999"));
        let silent = Voter::default();
        let t = expected_tally([&a, &b, &silent]);
        assert_eq!(t, Tally { for_: 0, against: 1, abstain: 1, cast: 2 });
        assert_eq!(
            expected_receipts([&a, &b, &silent]),
            vec![("AB-CDEF".to_owned(), Choice::Against), ("ZZ-9999".to_owned(), Choice::Abstain)]
        );
        assert!(!b.acked(Choice::For, "ZZ-0000"), "a new receipt for the same voter");
        assert_eq!((b.receipt.as_deref(), b.receipt_changes), (Some("ZZ-9999"), 1));
        let shared = [("A".to_owned(), Choice::For), ("A".to_owned(), Choice::Against), ("B".to_owned(), Choice::For)];
        assert_eq!(shared_receipts(&shared), 1);
    }

    fn doc(counts: (u64, u64, u64), receipts: &[(&str, &str, u64)]) -> Receipts {
        Receipts {
            poll: "p1".into(),
            counts: HashMap::from([
                ("for".into(), counts.0),
                ("against".into(), counts.1),
                ("abstain".into(), counts.2),
            ]),
            cast: receipts.len() as u64,
            receipts: receipts
                .iter()
                .map(|(r, c, w)| Listed { receipt: (*r).into(), choice: (*c).into(), weight: Some(*w) })
                .collect(),
        }
    }

    #[test]
    fn published_receipts_must_list_exactly_the_final_choices() {
        let expected = vec![("AA-1111".to_owned(), Choice::For), ("BB-2222".to_owned(), Choice::Against)];
        let tally = Tally { for_: 1, against: 1, abstain: 0, cast: 2 };
        let good = doc((1, 1, 0), &[("AA-1111", "for", 1), ("BB-2222", "against", 1)]);
        assert!(check_receipts(&good, "p1", &expected, tally).is_empty());

        let stale = doc((1, 1, 0), &[("AA-1111", "for", 1), ("BB-2222", "for", 1)]);
        let problems = check_receipts(&stale, "p1", &expected, tally);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("BB-2222 against") && problems[0].contains("not listed"));
        assert!(problems[1].contains("BB-2222 for") && problems[1].contains("not acknowledged"));

        let short = doc((1, 0, 0), &[("AA-1111", "for", 1)]);
        let problems = check_receipts(&short, "p1", &expected, tally);
        assert!(problems.iter().any(|p| p.starts_with("counts")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("1 receipts not listed")), "{problems:?}");

        let unsorted = doc((1, 1, 0), &[("BB-2222", "against", 1), ("AA-1111", "for", 2)]);
        let problems = check_receipts(&unsorted, "p2", &expected, tally);
        assert_eq!(problems.len(), 3, "{problems:?}: poll, order, weight");
    }

    fn frame(text: &str) -> Frame<'_> {
        serde_json::from_str(text).expect("test data")
    }

    #[test]
    fn a_view_follows_the_opened_poll_through_tally_frames_to_its_close() {
        let t0 = Instant::now();
        let mut v = PollView::default();
        assert_eq!(v.on_frame(&frame(r#"{"type":"presence","connected":3}"#), t0), None);
        let opened = frame(
            r#"{"type":"event","seq":2,"event":{"kind":"poll.opened","eligible":3,"poll":{"id":"p1","draft":"d1",
                "status":"open","counts":{"for":0,"against":0,"abstain":0},"cast":0}}}"#,
        );
        assert!(v.on_event(1, opened.event.as_ref().expect("an event"), t0));
        assert!(v.matches(&Want::Tally(Tally::default())));
        let other = frame(r#"{"type":"tally","poll":"p9","counts":{"for":5,"against":0,"abstain":0},"cast":5}"#);
        assert_eq!(v.on_frame(&other, t0), Some(false), "another poll's tally");
        let t1 = t0 + std::time::Duration::from_millis(250);
        let tally = frame(r#"{"type":"tally","poll":"p1","counts":{"for":2,"against":1,"abstain":0},"cast":3}"#);
        assert_eq!(v.on_frame(&tally, t1), Some(true));
        assert_eq!(v.on_frame(&tally, t1 + t1.duration_since(t0)), Some(false), "the same tally again");
        let want = Tally { for_: 2, against: 1, abstain: 0, cast: 3 };
        assert!(v.matches(&Want::Tally(want)));
        assert_eq!(v.tally_at, Some(t1));
        assert!(!v.matches(&Want::Closed(want)));
        let closed = frame(
            r#"{"type":"event","seq":3,"event":{"kind":"poll.closed","poll":"p1","at":1,"counts":{"for":2,"against":1,"abstain":0},
                "cast":3,"cast_weight":3,"eligible":3,"outcome":"adopted","rule":"simple majority: for 2 > against 1"}}"#,
        );
        assert!(v.on_event(2, closed.event.as_ref().expect("an event"), t1));
        assert!(v.matches(&Want::Closed(want)));
        assert!(v.matches(&Want::Tally(want)), "the close leaves the live tally as it was");
    }

    #[test]
    fn a_bare_poll_opened_starts_at_zero_unless_hidden() {
        let t0 = Instant::now();
        let bare = |hidden: bool| {
            format!(
                r#"{{"type":"event","seq":1,"event":{{"eligible":1,"kind":"poll.opened","poll":{{"closed_at":null,
                    "draft":"d1","hidden":{hidden},"id":"p1","method":"simple","opened_at":1,"quorum":0,
                    "result":null,"secret":false,"status":"open"}}}}}}"#
            )
        };
        let mut v = PollView::default();
        let shown = bare(false);
        assert!(v.on_event(1, frame(&shown).event.as_ref().expect("an event"), t0));
        assert_eq!((v.poll.as_deref(), v.tally), (Some("p1"), Some(Tally::default())));
        let mut v = PollView::default();
        let hidden = bare(true);
        assert!(v.on_event(1, frame(&hidden).event.as_ref().expect("an event"), t0), "the poll is known");
        assert_eq!(v.tally, None);
    }

    #[test]
    fn a_resync_welcome_gives_the_polls_tally() {
        let t0 = Instant::now();
        let mut v = PollView { poll: Some("p1".into()), ..PollView::default() };
        let welcome = frame(
            r#"{"type":"welcome","seq":9,"state":{"questions":[],"polls":[{"id":"p0","status":"closed",
                "counts":{"for":9,"against":0,"abstain":0},"cast":9},{"id":"p1","status":"open",
                "counts":{"for":1,"against":1,"abstain":1},"cast":3}]}}"#,
        );
        assert!(v.on_welcome(9, welcome.state.as_ref(), t0));
        assert_eq!(v.tally, Some(Tally { for_: 1, against: 1, abstain: 1, cast: 3 }));
        assert_eq!(v.closed, None);
        let hidden = frame(r#"{"type":"tally","poll":"p1","cast":4}"#);
        assert_eq!(v.on_frame(&hidden, t0), Some(false), "no counts: nothing to compare");
    }
}
