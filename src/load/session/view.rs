//! One client's view of the whole session, pure: the `seq` it holds, the agenda item it shows,
//! when it received each event (for the fan-out figures), the upvote counts of the storm's
//! questions and the poll's tally; and what every client must come to show ([`Want`]).

use crate::load::ballots::{self, PollView, Tally};
use crate::load::socket::{EventHead, Frame, StateHead};
use crate::load::votes::View;
use crate::load::watch::Follow;
use std::collections::HashMap;
use std::time::Instant;

/// An event's arrival: its `seq`, and when it came.
pub type Arrival = (u64, Instant);

#[derive(Debug, Default)]
pub struct SessionView {
    /// The participant's token: coming back with it keeps its identity.
    pub token: Option<String>,
    pub seq: u64,
    /// The agenda item shown (its place in the list).
    pub current: Option<usize>,
    /// Every event received.
    pub events: Vec<Arrival>,
    /// The `agenda.moved` events received.
    pub moved: Vec<Arrival>,
    /// The counts of the questions approved since the client joined (those of the storm): the
    /// welcome's questions are not kept, every client would hold hundreds.
    pub upvotes: View,
    /// When the counts last changed.
    pub counts_at: Option<Instant>,
    pub poll: PollView,
}

/// Where the session ends: what every client must show after the last command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Final {
    pub seq: u64,
    pub current: Option<usize>,
    pub counts: HashMap<String, u64>,
    pub closed: Option<Tally>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// Holds `seq` or later: every event up to it has come.
    Seq(u64),
    /// Shows these upvote counts.
    Counts(HashMap<String, u64>),
    /// The poll's live tally or its close.
    Poll(ballots::Want),
    /// Exactly there: the last seq, the last item, the final counts and the poll's result.
    Final(Final),
}

impl SessionView {
    /// A client that joined at `seq`, showing `current`, with its participant `token`.
    pub fn joined(seq: u64, current: Option<usize>, token: Option<String>) -> Self {
        SessionView { token, seq, current, events: Vec::with_capacity(64), ..SessionView::default() }
    }

    /// Whether the view is at `f`, and if not, what differs.
    pub fn differences(&self, f: &Final) -> Vec<String> {
        let mut out = Vec::new();
        if self.seq != f.seq {
            out.push(format!("at seq {}, expected {}", self.seq, f.seq));
        }
        if self.current != f.current {
            out.push(format!("shows item {:?}, expected {:?}", self.current, f.current));
        }
        if !self.upvotes.matches(&f.counts) {
            out.push("upvote counts differ".into());
        }
        if self.poll.closed != f.closed {
            out.push(format!(
                "poll closed with {}, expected {}",
                self.poll.closed.map_or("nothing".into(), |t| t.to_string()),
                f.closed.map_or("nothing".into(), |t| t.to_string())
            ));
        }
        out
    }
}

impl Follow for SessionView {
    type Goal = Want;

    fn on_event(&mut self, seq: u64, event: &EventHead, at: Instant) -> bool {
        self.seq = seq;
        self.events.push((seq, at));
        if event.kind == "agenda.moved" {
            self.current = event.current;
            self.moved.push((seq, at));
        }
        if self.upvotes.on_event(event) {
            self.counts_at = Some(at);
        }
        self.poll.on_event(seq, event, at);
        true
    }

    fn on_welcome(&mut self, seq: u64, state: Option<&StateHead>, at: Instant) -> bool {
        self.seq = seq;
        if let Some(state) = state {
            self.current = state.agenda.and_then(|a| a.current);
            if Follow::on_welcome(&mut self.upvotes, seq, Some(state), at) {
                self.counts_at = Some(at);
            }
            self.poll.on_welcome(seq, Some(state), at);
        }
        true
    }

    fn on_frame(&mut self, frame: &Frame, at: Instant) -> Option<bool> {
        if let Some(changed) = Follow::on_frame(&mut self.upvotes, frame, at) {
            if changed {
                self.counts_at = Some(at);
            }
            return Some(changed);
        }
        self.poll.on_frame(frame, at)
    }

    fn matches(&self, goal: &Want) -> bool {
        match goal {
            Want::Seq(seq) => self.seq >= *seq,
            Want::Counts(counts) => self.upvotes.matches(counts),
            Want::Poll(want) => self.poll.matches(want),
            Want::Final(f) => {
                self.seq == f.seq
                    && self.current == f.current
                    && self.upvotes.matches(&f.counts)
                    && self.poll.closed == f.closed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str) -> Frame<'_> {
        serde_json::from_str(text).expect("test data")
    }

    #[test]
    fn a_view_follows_the_agenda_the_counts_and_the_poll() {
        let t0 = Instant::now();
        let mut v = SessionView::joined(4, Some(6), None);
        let moved = frame(r#"{"type":"event","seq":5,"event":{"kind":"agenda.moved","current":7,"item":"a8"}}"#);
        assert!(v.on_event(5, moved.event.as_ref().expect("an event"), t0));
        assert_eq!((v.seq, v.current, v.moved.len(), v.events.len()), (5, Some(7), 1, 1));
        assert!(v.matches(&Want::Seq(5)) && !v.matches(&Want::Seq(6)));
        let approved = frame(
            r#"{"type":"event","seq":6,"event":{"kind":"question.approved","question":{"id":"q1","status":"approved","upvotes":0}}}"#,
        );
        assert!(v.on_event(6, approved.event.as_ref().expect("an event"), t0));
        assert_eq!(v.moved.len(), 1, "only agenda.moved is a move");
        let upvotes = frame(r#"{"type":"upvotes","counts":{"q1":3}}"#);
        assert_eq!(v.on_frame(&upvotes, t0), Some(true));
        assert!(v.matches(&Want::Counts(HashMap::from([("q1".to_owned(), 3)]))));
        assert_eq!(v.on_frame(&frame(r#"{"type":"presence","connected":3}"#), t0), None);
        let want = Final { seq: 6, current: Some(7), counts: HashMap::from([("q1".to_owned(), 3)]), closed: None };
        assert!(v.matches(&Want::Final(want.clone())));
        assert!(v.differences(&want).is_empty());
        let later = Final { seq: 7, ..want };
        assert_eq!(v.differences(&later), vec!["at seq 6, expected 7".to_owned()]);
    }

    #[test]
    fn a_welcome_without_state_only_sets_the_seq() {
        let t0 = Instant::now();
        let mut v = SessionView::joined(4, Some(2), None);
        assert!(v.on_welcome(9, None, t0));
        assert_eq!((v.seq, v.current), (9, Some(2)));
        let full = frame(r#"{"type":"welcome","seq":12,"state":{"agenda":{"current":5},"questions":[],"polls":[]}}"#);
        assert!(v.on_welcome(12, full.state.as_ref(), t0));
        assert_eq!((v.seq, v.current), (12, Some(5)));
    }
}
