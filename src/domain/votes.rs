//! Votes on the draft texts: polls opened and closed by the moderator, ballots cast from phones,
//! the outcome decided by the written rule, texts adopted by consensus, and in roster mode the
//! voters' personal codes claimed from a phone.
//!
//! The rules, once (also in the README):
//! - `simple`: adopted when `for` > `against` (abstentions do not count);
//! - `absolute`: adopted when `for` > half of all eligible voting weight;
//! - `two_thirds`: adopted when `for` ≥ two thirds of `for` + `against` (and `for` > 0);
//! - whatever the method, a poll closed with less cast weight than its `quorum` has the outcome
//!   `no_quorum` (the draft can be put to the vote again).
//!
//! Ballots themselves are the store's (they grow with the room): this module decides whether a
//! ballot may be cast, and the outcome from the tally the store kept.

use super::{Actor, DomainError, Millis, Role};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Simple,
    Absolute,
    TwoThirds,
}

impl Method {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "simple" => Method::Simple,
            "absolute" => Method::Absolute,
            "two_thirds" => Method::TwoThirds,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    For,
    Against,
    Abstain,
}

impl Choice {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "for" => Choice::For,
            "against" => Choice::Against,
            "abstain" => Choice::Abstain,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Choice::For => "for",
            Choice::Against => "against",
            Choice::Abstain => "abstain",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PollStatus {
    Open,
    Closed,
    Cancelled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Adopted,
    Rejected,
    NoQuorum,
}

/// Weights by choice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    #[serde(rename = "for")]
    pub for_: u64,
    pub against: u64,
    pub abstain: u64,
}

/// A poll's running tally, as the store keeps it beside the ballots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    #[serde(rename = "for", default)]
    pub for_: u64,
    #[serde(default)]
    pub against: u64,
    #[serde(default)]
    pub abstain: u64,
    /// Ballots cast, and their total weight.
    #[serde(default)]
    pub cast: u64,
    #[serde(default)]
    pub cast_weight: u64,
}

impl Tally {
    pub fn counts(&self) -> Counts {
        Counts { for_: self.for_, against: self.against, abstain: self.abstain }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Poll {
    pub id: String,
    pub draft: String,
    pub status: PollStatus,
    pub method: Method,
    pub quorum: u64,
    pub secret: bool,
    pub hidden: bool,
    pub opened_at: Millis,
    /// The version of the draft's text put to the vote.
    #[serde(default)]
    pub version: u32,
    #[serde(default)]
    pub closed_at: Option<Millis>,
    /// The result, once closed.
    #[serde(default)]
    pub result: Option<PollResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollResult {
    pub counts: Counts,
    pub cast: u64,
    pub cast_weight: u64,
    pub eligible: u64,
    pub outcome: Outcome,
    /// The rule applied, in words, with the figures.
    pub rule: String,
}

/// The outcome of `tally` by `method`, with the rule in words.
pub fn decide_outcome(method: Method, quorum: u64, tally: &Tally, eligible: u64) -> (Outcome, String) {
    let (f, a) = (tally.for_, tally.against);
    if tally.cast_weight < quorum {
        return (Outcome::NoQuorum, format!("quorum not reached: {} cast, {quorum} needed", tally.cast_weight));
    }
    let (adopted, rule) = match method {
        Method::Simple => (f > a, format!("simple majority: for {f} {} against {a}", if f > a { ">" } else { "≤" })),
        Method::Absolute => (
            2 * f > eligible,
            format!(
                "absolute majority: for {f} {} half of {eligible} eligible",
                if 2 * f > eligible { ">" } else { "≤" }
            ),
        ),
        Method::TwoThirds => {
            let ok = f > 0 && 3 * f >= 2 * (f + a);
            (ok, format!("two-thirds majority: for {f} {} two thirds of {}", if ok { "≥" } else { "<" }, f + a))
        }
    };
    (if adopted { Outcome::Adopted } else { Outcome::Rejected }, rule)
}

/// One person on the roster (roster mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterEntry {
    pub id: String,
    pub name: String,
    pub organisation: String,
    pub weight: u64,
    /// The personal voting code (kept so the cards can be printed again; never logged).
    pub code: String,
}

/// Who holds a roster entry now, and how many times it was claimed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub participant: String,
    pub claim: u64,
}

/// The votes' part of the state. A store may load only the polls, tallies and roster entries
/// a command touches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Votes {
    pub polls: BTreeMap<String, Poll>,
    pub tallies: BTreeMap<String, Tally>,
    pub roster: BTreeMap<String, RosterEntry>,
    pub claims: BTreeMap<String, Claim>,
    /// Participant → the roster entry they hold.
    pub bound: BTreeMap<String, String>,
    /// Total eligible voting weight now (the store's count: participants, or the roster).
    pub eligible: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoteCommand {
    /// `id` made by the caller from the command id.
    PollOpen {
        id: String,
        draft: String,
        method: Method,
        quorum: u64,
        secret: bool,
        hidden: bool,
    },
    PollClose {
        poll: String,
    },
    PollCancel {
        poll: String,
    },
    AdoptByConsensus {
        draft: String,
    },
    Cast {
        poll: String,
        choice: Choice,
    },
    /// `code` as typed (normalised); `entry` is the roster entry it names, found by the store
    /// (`None`: no such code).
    Claim {
        code: String,
        entry: Option<String>,
    },
}

impl VoteCommand {
    pub fn op(&self) -> &'static str {
        match self {
            VoteCommand::PollOpen { .. } => "poll.open",
            VoteCommand::PollClose { .. } => "poll.close",
            VoteCommand::PollCancel { .. } => "poll.cancel",
            VoteCommand::AdoptByConsensus { .. } => "draft.adopt_by_consensus",
            VoteCommand::Cast { .. } => "vote.cast",
            VoteCommand::Claim { .. } => "voter.claim",
        }
    }

    pub fn role(&self) -> Role {
        match self {
            VoteCommand::Cast { .. } | VoteCommand::Claim { .. } => Role::Participant,
            _ => Role::Moderator,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum VoteEvent {
    /// `eligible`: the voting weight when it opened (tallies carry it on).
    #[serde(rename = "poll.opened")]
    PollOpened { poll: Poll, eligible: u64 },
    #[serde(rename = "poll.closed")]
    PollClosed {
        poll: String,
        at: Millis,
        counts: Counts,
        cast: u64,
        cast_weight: u64,
        eligible: u64,
        outcome: Outcome,
        rule: String,
    },
    #[serde(rename = "poll.cancelled")]
    PollCancelled { poll: String },
    #[serde(rename = "draft.adopted")]
    DraftAdopted { draft: String, by: AdoptedBy },
    /// The moderator replaced the roster: every earlier claim is void.
    #[serde(rename = "roster.replaced")]
    RosterReplaced { entries: u64, weight: u64 },
    #[serde(rename = "voter.claimed")]
    VoterClaimed {
        entry: String,
        claim: u64,
        /// Who now holds it: the moderator's to see only (empty once redacted).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        participant: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdoptedBy {
    Vote,
    Consensus,
}

impl VoteEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            VoteEvent::PollOpened { .. } => "poll.opened",
            VoteEvent::PollClosed { .. } => "poll.closed",
            VoteEvent::PollCancelled { .. } => "poll.cancelled",
            VoteEvent::DraftAdopted { .. } => "draft.adopted",
            VoteEvent::RosterReplaced { .. } => "roster.replaced",
            VoteEvent::VoterClaimed { .. } => "voter.claimed",
        }
    }

    pub fn for_role(&self, role: Role) -> VoteEvent {
        match self {
            VoteEvent::VoterClaimed { entry, claim, .. } if role != Role::Moderator => {
                VoteEvent::VoterClaimed { entry: entry.clone(), claim: *claim, participant: String::new() }
            }
            other => other.clone(),
        }
    }
}

/// What the votes' rules need from the rest of the session.
pub struct Context<'a> {
    pub roster_mode: bool,
    /// Whether the draft may be voted on now, and its version.
    pub draft_open: &'a dyn Fn(&str) -> Result<u32, DomainError>,
}

/// Who casts a ballot: the voter's id (participant, or roster entry) and weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    pub id: String,
    pub weight: u64,
}

fn no_poll(id: &str) -> DomainError {
    DomainError::NotFound(format!("there is no poll {}", super::questions::shown(id)))
}

impl Votes {
    fn poll(&self, id: &str) -> Result<&Poll, DomainError> {
        self.polls.get(id).ok_or_else(|| no_poll(id))
    }

    fn open_poll(&self, id: &str) -> Result<&Poll, DomainError> {
        let p = self.poll(id)?;
        if p.status != PollStatus::Open {
            return Err(DomainError::Closed("this vote is closed".into()));
        }
        Ok(p)
    }

    /// Who `actor` votes as, if they may vote in `poll` now.
    pub fn voter(&self, roster_mode: bool, actor: &Actor, poll: &str) -> Result<Voter, DomainError> {
        self.open_poll(poll)?;
        let participant =
            actor.participant.clone().ok_or_else(|| DomainError::Forbidden("only participants vote".into()))?;
        if !roster_mode {
            return Ok(Voter { id: participant, weight: 1 });
        }
        let entry = self.bound.get(&participant).ok_or_else(|| {
            DomainError::Forbidden(
                "enter your personal voting code first: this vote is for the roster's delegates".into(),
            )
        })?;
        let held = self.claims.get(entry).is_some_and(|c| c.participant == participant);
        let weight = self.roster.get(entry).map(|e| e.weight).filter(|_| held);
        let weight =
            weight.ok_or_else(|| DomainError::Forbidden("your voting right moved to another device".into()))?;
        Ok(Voter { id: entry.clone(), weight })
    }

    pub fn decide(
        &self,
        ctx: &Context<'_>,
        actor: &Actor,
        command: &VoteCommand,
        now: Millis,
    ) -> Result<Vec<VoteEvent>, DomainError> {
        Ok(match command {
            VoteCommand::PollOpen { id, draft, method, quorum, secret, hidden } => {
                let version = (ctx.draft_open)(draft)?;
                if self.polls.contains_key(id) {
                    return Err(DomainError::Conflict("that poll id is taken; send it again with a new id".into()));
                }
                let poll = Poll {
                    id: id.clone(),
                    draft: draft.clone(),
                    status: PollStatus::Open,
                    method: *method,
                    quorum: *quorum,
                    secret: *secret,
                    hidden: *hidden,
                    opened_at: now,
                    version,
                    closed_at: None,
                    result: None,
                };
                vec![VoteEvent::PollOpened { poll, eligible: self.eligible }]
            }
            VoteCommand::PollClose { poll } => {
                let p = self.open_poll(poll)?;
                let tally = self.tallies.get(poll).copied().unwrap_or_default();
                let (outcome, rule) = decide_outcome(p.method, p.quorum, &tally, self.eligible);
                vec![VoteEvent::PollClosed {
                    poll: poll.clone(),
                    at: now,
                    counts: tally.counts(),
                    cast: tally.cast,
                    cast_weight: tally.cast_weight,
                    eligible: self.eligible,
                    outcome,
                    rule,
                }]
            }
            VoteCommand::PollCancel { poll } => {
                self.open_poll(poll)?;
                vec![VoteEvent::PollCancelled { poll: poll.clone() }]
            }
            VoteCommand::AdoptByConsensus { draft } => {
                (ctx.draft_open)(draft)?;
                vec![VoteEvent::DraftAdopted { draft: draft.clone(), by: AdoptedBy::Consensus }]
            }
            VoteCommand::Cast { poll, .. } => {
                self.voter(ctx.roster_mode, actor, poll)?;
                vec![]
            }
            VoteCommand::Claim { entry, .. } => {
                if !ctx.roster_mode {
                    return Err(DomainError::Conflict("this session has no roster: every participant votes".into()));
                }
                let participant =
                    actor.participant.clone().ok_or_else(|| DomainError::Forbidden("only participants vote".into()))?;
                let entry = entry.as_ref().filter(|e| self.roster.contains_key(*e));
                let entry = entry.ok_or_else(|| DomainError::NotFound("no such voting code".into()))?;
                let claim = self.claims.get(entry);
                if claim.is_some_and(|c| c.participant == participant) {
                    return Err(DomainError::Conflict("this device already holds that voting right".into()));
                }
                vec![VoteEvent::VoterClaimed {
                    entry: entry.clone(),
                    claim: claim.map_or(1, |c| c.claim + 1),
                    participant,
                }]
            }
        })
    }

    pub fn apply(&mut self, event: &VoteEvent) {
        match event {
            VoteEvent::PollOpened { poll, .. } => {
                self.polls.insert(poll.id.clone(), poll.clone());
            }
            VoteEvent::PollClosed { poll, at, counts, cast, cast_weight, eligible, outcome, rule } => {
                if let Some(p) = self.polls.get_mut(poll) {
                    p.status = PollStatus::Closed;
                    p.closed_at = Some(*at);
                    p.result = Some(PollResult {
                        counts: *counts,
                        cast: *cast,
                        cast_weight: *cast_weight,
                        eligible: *eligible,
                        outcome: *outcome,
                        rule: rule.clone(),
                    });
                }
            }
            VoteEvent::PollCancelled { poll } => {
                if let Some(p) = self.polls.get_mut(poll) {
                    p.status = PollStatus::Cancelled;
                }
            }
            VoteEvent::DraftAdopted { .. } => {}
            VoteEvent::RosterReplaced { .. } => {
                // The entries themselves are the store's to replace.
                self.claims.clear();
                self.bound.clear();
            }
            VoteEvent::VoterClaimed { entry, claim, participant } => {
                // The previous holder keeps its binding: it is how its device learns that the
                // right moved (the claim names someone else now).
                self.claims.insert(entry.clone(), Claim { participant: participant.clone(), claim: *claim });
                self.bound.insert(participant.clone(), entry.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(f: u64, a: u64, ab: u64) -> Tally {
        Tally { for_: f, against: a, abstain: ab, cast: f + a + ab, cast_weight: f + a + ab }
    }

    #[test]
    fn simple_majority_counts_for_against_against_only() {
        assert_eq!(decide_outcome(Method::Simple, 0, &tally(5, 4, 100), 200).0, Outcome::Adopted);
        assert_eq!(decide_outcome(Method::Simple, 0, &tally(4, 4, 1), 200).0, Outcome::Rejected, "a tie is rejected");
        assert_eq!(decide_outcome(Method::Simple, 0, &tally(0, 0, 3), 200).0, Outcome::Rejected);
    }

    #[test]
    fn absolute_majority_needs_more_than_half_of_everyone_eligible() {
        assert_eq!(decide_outcome(Method::Absolute, 0, &tally(50, 0, 0), 100).0, Outcome::Rejected, "exactly half");
        assert_eq!(decide_outcome(Method::Absolute, 0, &tally(51, 40, 0), 100).0, Outcome::Adopted);
        assert_eq!(decide_outcome(Method::Absolute, 0, &tally(2, 0, 0), 3).0, Outcome::Adopted, "2 of 3");
        assert_eq!(decide_outcome(Method::Absolute, 0, &tally(1, 0, 0), 2).0, Outcome::Rejected, "1 of 2");
    }

    #[test]
    fn two_thirds_is_reached_exactly_at_two_thirds() {
        assert_eq!(decide_outcome(Method::TwoThirds, 0, &tally(20, 10, 5), 99).0, Outcome::Adopted, "exactly 2/3");
        assert_eq!(decide_outcome(Method::TwoThirds, 0, &tally(19, 10, 0), 99).0, Outcome::Rejected);
        assert_eq!(decide_outcome(Method::TwoThirds, 0, &tally(2, 1, 0), 99).0, Outcome::Adopted);
        assert_eq!(decide_outcome(Method::TwoThirds, 0, &tally(0, 0, 9), 99).0, Outcome::Rejected, "no for at all");
    }

    #[test]
    fn below_quorum_nothing_is_decided_whatever_the_figures() {
        let (outcome, rule) = decide_outcome(Method::Simple, 10, &tally(9, 0, 0), 100);
        assert_eq!(outcome, Outcome::NoQuorum);
        assert!(rule.contains("9 cast, 10 needed"), "{rule}");
        assert_eq!(decide_outcome(Method::Simple, 10, &tally(6, 3, 1), 100).0, Outcome::Adopted, "abstentions count");
    }
}
