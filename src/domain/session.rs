//! A session's live state, the sum of its parts ([`Agenda`], [`Questions`], [`Floor`], the
//! drafts' status), and [`Session::handle`], which checks who may act, lets the capability's
//! module decide the events, and folds them in.
//!
//! A store may hold the parts apart and load only those a command touches
//! ([`Command::footprint`]); the rules read nothing else, so a partial session decides exactly
//! as the whole one would.

#[cfg(test)]
use super::agenda::AgendaEvent;
use super::agenda::{Agenda, AgendaCommand, Phase};
use super::definition::{DraftKind, SessionDefinition, Settings};
use super::drafts::{self, DraftCommand, DraftEvent, DraftText};
use super::floor::{self, Floor, FloorCommand};
use super::questions::{self, QuestionCommand, Questions};
use super::record::RecordState;
use super::votes::{self, AdoptedBy, Outcome, VoteCommand, VoteEvent, Votes};
use super::{Actor, Command, DomainError, Event, Millis, Reply};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DraftStatus {
    Draft,
    Voting,
    Adopted,
    Rejected,
    Withdrawn,
}

/// Where a draft text stands; its title and text are the definition's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftState {
    pub id: String,
    pub kind: DraftKind,
    pub status: DraftStatus,
    pub version: u32,
    /// How it was adopted, once it is.
    #[serde(default)]
    pub adopted_by: Option<AdoptedBy>,
    /// The poll voting on it now, or the one that decided it.
    #[serde(default)]
    pub poll: Option<String>,
}

/// The roster at a glance (roster mode): kept in the core, so eligibility needs no scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterSummary {
    pub entries: u64,
    pub weight: u64,
}

/// The parts of the state a command reads beyond the core (see [`Command::footprint`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Footprint {
    pub questions: Vec<String>,
    /// The participant whose asking record the command reads.
    pub asker: Option<String>,
    pub floor: bool,
    pub polls: Vec<String>,
    pub tallies: Vec<String>,
    /// Whether the command needs the eligible voting weight.
    pub eligible: bool,
    /// The roster entry the command touches (with who holds it).
    pub entry: Option<String>,
    /// The participant whose roster binding the command reads.
    pub voter: Option<String>,
    /// The draft texts the command reads.
    pub texts: Vec<String>,
}

/// What a command decided: its events (already folded into the session) and its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub events: Vec<Event>,
    pub reply: Option<Reply>,
}

/// The whole state of one session (or the parts of it a store loaded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub code: String,
    pub created_at: Millis,
    pub settings: Settings,
    /// The `seq` of the last event; 0 before any. Kept by the store, not by the rules.
    #[serde(skip)]
    pub seq: u64,
    pub agenda: Agenda,
    pub questions: Questions,
    pub floor: Floor,
    pub drafts: Vec<DraftState>,
    #[serde(default)]
    pub votes: Votes,
    #[serde(default)]
    pub roster: Option<RosterSummary>,
    #[serde(default)]
    pub record: RecordState,
    /// The drafts' wording, with every version (a store may load only those a command touches).
    #[serde(default)]
    pub texts: BTreeMap<String, DraftText>,
    /// The definition's languages (texts by language use these keys).
    #[serde(default)]
    pub languages: Vec<String>,
}

impl Session {
    pub fn new(id: String, code: String, definition: &SessionDefinition, created_at: Millis) -> Self {
        let settings = definition.settings;
        let texts = definition
            .drafts
            .iter()
            .enumerate()
            .map(|(i, d)| (format!("d{}", i + 1), DraftText::new(d.title.clone(), d.text.clone(), created_at, None)))
            .collect();
        let drafts = definition
            .drafts
            .iter()
            .enumerate()
            .map(|(i, d)| DraftState {
                id: format!("d{}", i + 1),
                kind: d.kind,
                status: DraftStatus::Draft,
                version: 1,
                adopted_by: None,
                poll: None,
            })
            .collect();
        Self {
            id,
            code,
            created_at,
            settings,
            seq: 0,
            agenda: Agenda::new(&definition.agenda),
            questions: Questions::default(),
            floor: Floor::default(),
            drafts,
            votes: Votes::default(),
            roster: None,
            record: RecordState::default(),
            texts,
            languages: definition.languages.clone(),
        }
    }

    pub fn roster_mode(&self) -> bool {
        self.settings.voting == crate::domain::VotingMode::Roster
    }

    /// A draft that may be put to the vote, adopted, edited or withdrawn now: its version.
    fn draft_open(&self, id: &str) -> Result<u32, DomainError> {
        let d = self.drafts.iter().find(|d| d.id == id);
        let d = d.ok_or_else(|| DomainError::NotFound(format!("there is no draft {}", questions::shown(id))))?;
        match d.status {
            DraftStatus::Draft => Ok(d.version),
            DraftStatus::Voting => Err(DomainError::Conflict("this draft is being voted on".into())),
            other => Err(DomainError::Conflict(format!("this draft is {}", serde_name(other)))),
        }
    }

    /// The event of replacing the roster with `entries` (moderator; roster mode; no vote open).
    pub fn replace_roster(&mut self, entries: &[votes::RosterEntry]) -> Result<Event, DomainError> {
        if !self.roster_mode() {
            return Err(DomainError::Conflict("this session has no roster: settings.voting is open".into()));
        }
        if self.agenda.phase == Phase::Ended {
            return Err(DomainError::Closed("the session has ended".into()));
        }
        if self.drafts.iter().any(|d| d.status == DraftStatus::Voting) {
            return Err(DomainError::Conflict("a vote is open: close it before replacing the roster".into()));
        }
        let event = Event::Vote(VoteEvent::RosterReplaced {
            entries: entries.len() as u64,
            weight: entries.iter().map(|e| e.weight).sum(),
        });
        self.apply(&event);
        self.votes.roster = entries.iter().map(|e| (e.id.clone(), e.clone())).collect();
        Ok(event)
    }

    /// Who `actor` votes as in `poll`, if they may vote now.
    pub fn voter(&self, actor: &Actor, command: &Command) -> Result<votes::Voter, DomainError> {
        self.check(actor, command)?;
        match command.ballot() {
            Some((poll, _)) => self.votes.voter(self.roster_mode(), actor, poll),
            None => Err(DomainError::Invalid(format!("{} is not a ballot", command.op()))),
        }
    }

    pub fn phase(&self) -> Phase {
        self.agenda.phase
    }

    fn question_context(&self) -> questions::Context {
        questions::Context {
            qa_open: self.agenda.qa_open,
            moderate: self.settings.moderate_questions,
            anonymous: self.settings.anonymous_questions,
        }
    }

    /// Speaking time per turn now.
    pub fn turn_seconds(&self) -> u32 {
        self.agenda.turn_seconds(self.settings.turn_seconds)
    }

    fn check(&self, actor: &Actor, command: &Command) -> Result<(), DomainError> {
        if !command.allows(actor.role) {
            return Err(DomainError::Forbidden(format!(
                "{} is not allowed for the {}",
                command.op(),
                actor.role.as_str()
            )));
        }
        if self.record.finalised.is_some() {
            return Err(DomainError::Closed("the record is final: nothing changes any more".into()));
        }
        // After the end, only the record is still kept.
        if self.agenda.phase == Phase::Ended && !matches!(command, Command::Record(_)) {
            return Err(DomainError::Closed("the session has ended".into()));
        }
        Ok(())
    }

    /// Whether `actor` may upvote or unvote `question` now; the count is the store's.
    pub fn check_vote(&self, actor: &Actor, command: &Command) -> Result<(), DomainError> {
        self.check(actor, command)?;
        match command.vote() {
            Some((question, _)) => self.questions.check_vote(&self.question_context(), actor, question),
            None => Err(DomainError::Invalid(format!("{} is not a vote", command.op()))),
        }
    }

    /// Decides `command` for `actor` at `now` and folds the resulting events in. On error the
    /// session is unchanged.
    pub fn handle(&mut self, actor: &Actor, command: &Command, now: Millis) -> Result<Decision, DomainError> {
        self.check(actor, command)?;
        let (events, reply): (Vec<Event>, Option<Reply>) = match command {
            Command::Agenda(AgendaCommand::SessionEnd) => {
                if self.drafts.iter().any(|d| d.status == DraftStatus::Voting) {
                    return Err(DomainError::Conflict(
                        "a vote is open: close or cancel it before ending the session".into(),
                    ));
                }
                let mut events: Vec<Event> = self.floor.end_turn(now).into_iter().map(Event::from).collect();
                let end = self.agenda.decide(&AgendaCommand::SessionEnd, &self.languages, now)?;
                events.extend(end.into_iter().map(Event::from));
                (events, None)
            }
            Command::Agenda(c) => {
                let reply = match c {
                    AgendaCommand::Insert { id, .. } => Some(Reply::Item { item: id.clone() }),
                    _ => None,
                };
                (self.agenda.decide(c, &self.languages, now)?.into_iter().map(Event::from).collect(), reply)
            }
            Command::Question(c) => {
                let events = self.questions.decide(&self.question_context(), actor, c, now)?;
                let reply = match (c, events.first()) {
                    (QuestionCommand::Ask { .. }, Some(questions::QuestionEvent::Asked { question })) => {
                        Some(Reply::Question { question: question.clone() })
                    }
                    _ => None,
                };
                (events.into_iter().map(Event::from).collect(), reply)
            }
            Command::Vote(c) => {
                let draft_open = |id: &str| self.draft_open(id);
                let ctx = votes::Context { roster_mode: self.roster_mode(), draft_open: &draft_open };
                let events = self.votes.decide(&ctx, actor, c, now)?;
                let reply = match (c, events.first()) {
                    (VoteCommand::PollOpen { id, .. }, _) => Some(Reply::Poll { poll: id.clone() }),
                    (VoteCommand::Claim { .. }, Some(VoteEvent::VoterClaimed { entry, claim, .. })) => {
                        self.votes.roster.get(entry).map(|e| Reply::Voter {
                            entry: entry.clone(),
                            name: e.name.clone(),
                            organisation: e.organisation.clone(),
                            weight: e.weight,
                            claim: *claim,
                        })
                    }
                    _ => None,
                };
                (events.into_iter().map(Event::from).collect(), reply)
            }
            Command::Draft(c) => {
                let open = match c {
                    DraftCommand::Create { .. } => Ok(()),
                    other => self.draft_open(other.draft()).map(|_| ()),
                };
                let cx = drafts::Context {
                    open,
                    drafts: self.drafts.len(),
                    languages: &self.languages,
                    role: actor.role,
                    now,
                };
                let event = drafts::decide(c, self.texts.get(c.draft()), cx)?;
                let reply = match c {
                    DraftCommand::Create { id, .. } => Some(Reply::Draft { draft: id.clone() }),
                    _ => None,
                };
                (vec![Event::from(event)], reply)
            }
            Command::Record(c) => {
                let ended = self.agenda.phase == Phase::Ended;
                let reply = match c {
                    crate::domain::RecordCommand::Note { id, .. } => Some(Reply::Note { note: id.clone() }),
                    _ => None,
                };
                (self.record.decide(ended, c, now)?.into_iter().map(Event::from).collect(), reply)
            }
            Command::Floor(c) => {
                let ctx = floor::Context { qa_open: self.agenda.qa_open, turn_seconds: self.turn_seconds() };
                let events = self.floor.decide(&ctx, actor, c, now)?;
                let reply = match c {
                    FloorCommand::Request { id, .. } => Some(Reply::Request { request: id.clone() }),
                    _ => None,
                };
                (events.into_iter().map(Event::from).collect(), reply)
            }
        };
        for e in &events {
            self.apply(e);
        }
        Ok(Decision { events, reply })
    }

    /// Folds one event into the state. Events are facts: applying one cannot fail.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Agenda(e) => self.agenda.apply(e),
            Event::Question(e) => self.questions.apply(e),
            Event::Floor(e) => self.floor.apply(e),
            Event::Vote(e) => {
                self.apply_to_drafts(e);
                self.votes.apply(e);
            }
            Event::Record(e) => self.record.apply(e),
            Event::Draft(e) => self.apply_draft(e),
        }
    }

    fn apply_draft(&mut self, event: &DraftEvent) {
        match event {
            DraftEvent::Edited { draft, version, text, lang, at, role } => {
                if let Some(t) = self.texts.get_mut(draft) {
                    t.versions.push(drafts::Version {
                        version: *version,
                        at: *at,
                        role: Some(*role),
                        text: text.clone(),
                        lang: lang.clone(),
                    });
                }
                if let Some(d) = self.drafts.iter_mut().find(|d| &d.id == draft) {
                    d.version = *version;
                }
            }
            DraftEvent::Created { draft, draft_kind, title, text, at, role } => {
                self.texts.insert(draft.clone(), DraftText::new(title.clone(), text.clone(), *at, Some(*role)));
                self.drafts.push(DraftState {
                    id: draft.clone(),
                    kind: *draft_kind,
                    status: DraftStatus::Draft,
                    version: 1,
                    adopted_by: None,
                    poll: None,
                });
            }
            DraftEvent::Withdrawn { draft, .. } => {
                if let Some(d) = self.drafts.iter_mut().find(|d| &d.id == draft) {
                    d.status = DraftStatus::Withdrawn;
                }
            }
        }
    }

    /// What a vote event does to its draft.
    fn apply_to_drafts(&mut self, event: &VoteEvent) {
        let (draft, status, by, poll) = match event {
            VoteEvent::PollOpened { poll, .. } => {
                (Some(poll.draft.clone()), DraftStatus::Voting, None, Some(poll.id.clone()))
            }
            VoteEvent::PollClosed { poll, outcome, .. } => {
                let draft = self.votes.polls.get(poll).map(|p| p.draft.clone());
                match outcome {
                    Outcome::Adopted => (draft, DraftStatus::Adopted, Some(AdoptedBy::Vote), Some(poll.clone())),
                    Outcome::Rejected => (draft, DraftStatus::Rejected, None, Some(poll.clone())),
                    Outcome::NoQuorum => (draft, DraftStatus::Draft, None, None),
                }
            }
            VoteEvent::PollCancelled { poll } => {
                (self.votes.polls.get(poll).map(|p| p.draft.clone()), DraftStatus::Draft, None, None)
            }
            VoteEvent::DraftAdopted { draft, by } => (Some(draft.clone()), DraftStatus::Adopted, Some(*by), None),
            VoteEvent::RosterReplaced { entries, weight } => {
                self.roster = Some(RosterSummary { entries: *entries, weight: *weight });
                (None, DraftStatus::Draft, None, None)
            }
            VoteEvent::VoterClaimed { .. } => (None, DraftStatus::Draft, None, None),
        };
        if let Some(d) = draft.and_then(|id| self.drafts.iter_mut().find(|d| d.id == id)) {
            d.status = status;
            d.adopted_by = by;
            d.poll = poll;
        }
    }
}

fn serde_name(s: DraftStatus) -> &'static str {
    match s {
        DraftStatus::Draft => "a draft",
        DraftStatus::Voting => "being voted on",
        DraftStatus::Adopted => "adopted",
        DraftStatus::Rejected => "rejected",
        DraftStatus::Withdrawn => "withdrawn",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::definition::{AgendaItemDef, ItemKind};
    use crate::domain::floor::FloorEvent;
    use crate::domain::questions::{QuestionEvent, QuestionStatus};
    use crate::domain::text::QuestionText;
    use crate::domain::Role;

    fn session(kinds: &[ItemKind]) -> Session {
        let agenda = kinds
            .iter()
            .enumerate()
            .map(|(i, k)| AgendaItemDef {
                title: format!("Item {i}").into(),
                kind: *k,
                minutes: 10,
                speakers: vec![],
                turn_seconds: None,
            })
            .collect();
        let def = SessionDefinition {
            title: "T".into(),
            reference: None,
            venue: None,
            starts_at: None,
            ends_at: None,
            languages: vec![],
            agenda,
            drafts: vec![],
            settings: Settings::default(),
        };
        Session::new("s".into(), "ABCDEF".into(), &def, 0)
    }

    fn kinds(d: &Decision) -> Vec<&'static str> {
        d.events.iter().map(Event::kind).collect()
    }

    fn m() -> Actor {
        Actor::new(Role::Moderator)
    }

    fn agenda(c: AgendaCommand) -> Command {
        Command::Agenda(c)
    }

    fn ask(id: &str, text: &str) -> Command {
        Command::Question(QuestionCommand::Ask {
            id: id.into(),
            text: QuestionText::parse(text).expect("valid text"),
            name: None,
        })
    }

    fn q(c: QuestionCommand) -> Command {
        Command::Question(c)
    }

    /// A running session in its debate, questions open.
    fn debate(moderate: bool) -> Session {
        let mut s = session(&[ItemKind::Debate]);
        s.settings.moderate_questions = moderate;
        s.handle(&m(), &agenda(AgendaCommand::Next), 0).expect("ok");
        s
    }

    #[test]
    fn the_first_next_starts_the_session_on_the_first_item() {
        let mut s = session(&[ItemKind::Intro, ItemKind::Presentation]);
        let d = s.handle(&m(), &agenda(AgendaCommand::Next), 1_000).expect("ok");
        assert_eq!(kinds(&d), ["session.started", "agenda.moved"]);
        assert_eq!((s.agenda.phase, s.agenda.current), (Phase::Running, Some(0)));
    }

    #[test]
    fn time_on_an_item_adds_up_over_each_visit() {
        let mut s = session(&[ItemKind::Intro, ItemKind::Presentation]);
        s.handle(&m(), &agenda(AgendaCommand::Next), 0).expect("ok");
        s.handle(&m(), &agenda(AgendaCommand::Next), 60_000).expect("ok");
        s.handle(&m(), &agenda(AgendaCommand::Prev), 90_000).expect("ok");
        let d = s.handle(&m(), &agenda(AgendaCommand::Next), 120_000).expect("ok");
        assert_eq!(s.agenda.spent_seconds(0), 90);
        assert_eq!(
            d.events[0],
            Event::Agenda(AgendaEvent::Moved {
                current: 1,
                previous: Some(0),
                previous_spent_seconds: Some(90),
                at: 120_000,
                item: "a2".into(),
                previous_item: Some("a1".into()),
            })
        );
        s.handle(&m(), &agenda(AgendaCommand::SessionEnd), 150_000).expect("ok");
        assert_eq!(s.agenda.spent_seconds(1), 60);
    }

    #[test]
    fn entering_a_debate_opens_questions_and_leaving_it_closes_them() {
        let mut s = session(&[ItemKind::Presentation, ItemKind::Debate, ItemKind::Adoption]);
        s.handle(&m(), &agenda(AgendaCommand::Next), 0).expect("ok");
        let d = s.handle(&m(), &agenda(AgendaCommand::Next), 1).expect("ok");
        assert_eq!(kinds(&d), ["agenda.moved", "qa.opened"]);
        assert!(s.agenda.qa_open);
        let d = s.handle(&m(), &agenda(AgendaCommand::Next), 2).expect("ok");
        assert_eq!(kinds(&d), ["qa.closed", "agenda.moved"]);
        assert!(!s.agenda.qa_open);
    }

    #[test]
    fn questions_opened_by_hand_stay_open_between_non_debate_items() {
        let mut s = session(&[ItemKind::Presentation, ItemKind::Presentation]);
        s.handle(&m(), &agenda(AgendaCommand::Next), 0).expect("ok");
        s.handle(&m(), &agenda(AgendaCommand::QaOpen), 1).expect("ok");
        let d = s.handle(&m(), &agenda(AgendaCommand::Next), 2).expect("ok");
        assert_eq!(kinds(&d), ["agenda.moved"]);
        assert!(s.agenda.qa_open);
    }

    #[test]
    fn moves_past_either_end_are_conflicts_and_change_nothing() {
        let mut s = session(&[ItemKind::Intro]);
        assert!(matches!(s.handle(&m(), &agenda(AgendaCommand::Prev), 0), Err(DomainError::Conflict(_))));
        s.handle(&m(), &agenda(AgendaCommand::Next), 0).expect("ok");
        let before = s.clone();
        assert!(matches!(s.handle(&m(), &agenda(AgendaCommand::Next), 1), Err(DomainError::Conflict(_))));
        assert!(matches!(s.handle(&m(), &agenda(AgendaCommand::Prev), 1), Err(DomainError::Conflict(_))));
        let goto = agenda(AgendaCommand::Goto { item: 1 });
        assert!(matches!(s.handle(&m(), &goto, 1), Err(DomainError::NotFound(_))));
        assert_eq!(s, before);
    }

    #[test]
    fn only_the_moderator_moves_the_agenda() {
        let mut s = session(&[ItemKind::Intro]);
        for actor in [Actor::participant("p"), Actor::new(Role::Screen), Actor::new(Role::Rapporteur)] {
            assert!(matches!(s.handle(&actor, &agenda(AgendaCommand::Next), 0), Err(DomainError::Forbidden(_))));
        }
        assert_eq!(s.agenda.phase, Phase::Pending);
    }

    #[test]
    fn an_ended_session_refuses_every_command() {
        let mut s = session(&[ItemKind::Debate, ItemKind::Other]);
        s.handle(&m(), &agenda(AgendaCommand::Goto { item: 0 }), 0).expect("ok");
        let d = s.handle(&m(), &agenda(AgendaCommand::SessionEnd), 5_000).expect("ok");
        assert_eq!(kinds(&d), ["qa.closed", "session.ended"]);
        assert_eq!(s.agenda.phase, Phase::Ended);
        for cmd in [agenda(AgendaCommand::Next), agenda(AgendaCommand::QaOpen), agenda(AgendaCommand::SessionEnd)] {
            assert!(matches!(s.handle(&m(), &cmd, 6_000), Err(DomainError::Closed(_))));
        }
        assert!(matches!(s.handle(&Actor::participant("p"), &ask("q1", "Why?"), 6_000), Err(DomainError::Closed(_))));
    }

    #[test]
    fn a_moderated_question_waits_and_is_hidden_from_the_room_until_approved() {
        let mut s = debate(true);
        let p = Actor::participant("p1");
        let d = s.handle(&p, &ask("q1", "Quel budget ?"), 10).expect("ok");
        let Some(Reply::Question { question }) = &d.reply else { panic!("no reply: {d:?}") };
        assert_eq!((question.status, question.by.as_str()), (QuestionStatus::Pending, "p1"));
        assert_eq!(d.events[0].for_role(Role::Participant), None);
        assert_eq!(d.events[0].for_role(Role::Screen), None);
        assert!(d.events[0].for_role(Role::Moderator).is_some());
        let d = s.handle(&m(), &q(QuestionCommand::Approve { question: "q1".into() }), 20).expect("ok");
        let Some(Event::Question(QuestionEvent::Approved { question })) = d.events[0].for_role(Role::Screen) else {
            panic!("approval not visible")
        };
        assert_eq!((question.text.as_str(), question.by.as_str()), ("Quel budget ?", ""));
    }

    #[test]
    fn an_unmoderated_question_is_approved_at_once_without_its_askers_id() {
        let mut s = debate(false);
        let d = s.handle(&Actor::participant("p1"), &ask("q1", "Why?"), 10).expect("ok");
        let Some(Event::Question(QuestionEvent::Asked { question })) = d.events[0].for_role(Role::Participant) else {
            panic!("not visible")
        };
        assert_eq!((question.status, question.by.as_str()), (QuestionStatus::Approved, ""));
    }

    #[test]
    fn asking_is_refused_while_questions_are_closed_and_for_other_roles() {
        let mut s = session(&[ItemKind::Presentation]);
        s.handle(&m(), &agenda(AgendaCommand::Next), 0).expect("ok");
        assert!(matches!(s.handle(&Actor::participant("p"), &ask("q1", "Why?"), 1), Err(DomainError::Closed(_))));
        assert!(matches!(s.handle(&m(), &ask("q1", "Why?"), 1), Err(DomainError::Forbidden(_))));
    }

    #[test]
    fn the_same_text_twice_too_many_open_and_too_fast_are_refused() {
        let mut s = debate(true);
        let p = Actor::participant("p1");
        s.handle(&p, &ask("q1", "Quel budget pour les régions ?"), 0).expect("ok");
        let again = s.handle(&p, &ask("q2", "quel BUDGET pour les regions"), 1);
        assert!(matches!(again, Err(DomainError::Conflict(_))), "{again:?}");
        s.handle(&p, &ask("q3", "Second"), 2).expect("ok");
        s.handle(&p, &ask("q4", "Third"), 3).expect("ok");
        assert!(matches!(s.handle(&p, &ask("q5", "Fourth"), 4), Err(DomainError::RateLimited(_))));
        s.handle(&p, &ask("q5", "Fourth"), 60_001).expect("a minute later");
        s.handle(&p, &ask("q6", "Fifth"), 60_002).expect("ok");
        let sixth = s.handle(&p, &ask("q7", "Sixth"), 200_000);
        assert!(matches!(sixth, Err(DomainError::Conflict(_))), "five open questions at most: {sixth:?}");
        s.handle(&m(), &q(QuestionCommand::Reject { question: "q1".into() }), 200_001).expect("ok");
        s.handle(&p, &ask("q7", "Sixth"), 200_002).expect("one closed, one more may be asked");
        assert_eq!(s.questions.open_total, 5);
    }

    #[test]
    fn moderation_follows_each_questions_status() {
        let mut s = debate(true);
        s.handle(&Actor::participant("p1"), &ask("q1", "One"), 0).expect("ok");
        let answer = q(QuestionCommand::Answer { question: "q1".into() });
        assert!(matches!(s.handle(&m(), &answer, 1), Err(DomainError::Conflict(_))), "pending cannot be answered");
        let highlight = q(QuestionCommand::Highlight { question: Some("q1".into()) });
        assert!(matches!(s.handle(&m(), &highlight, 1), Err(DomainError::Conflict(_))));
        s.handle(&m(), &q(QuestionCommand::Approve { question: "q1".into() }), 2).expect("ok");
        s.handle(&m(), &highlight, 3).expect("ok");
        assert_eq!(s.questions.highlighted.as_deref(), Some("q1"));
        let d = s.handle(&m(), &answer, 4).expect("ok");
        assert_eq!(kinds(&d), ["question.answered", "question.highlighted"]);
        assert_eq!(s.questions.highlighted, None);
        let unknown = q(QuestionCommand::Approve { question: "nope".into() });
        assert!(matches!(s.handle(&m(), &unknown, 5), Err(DomainError::NotFound(_))));
    }

    #[test]
    fn a_merged_question_leaves_the_open_count_and_points_to_its_target() {
        let mut s = debate(true);
        s.handle(&Actor::participant("p1"), &ask("q1", "Budget?"), 0).expect("ok");
        s.handle(&Actor::participant("p2"), &ask("q2", "The budget?"), 0).expect("ok");
        s.handle(&m(), &q(QuestionCommand::Approve { question: "q1".into() }), 1).expect("ok");
        let into_self = q(QuestionCommand::Merge { question: "q1".into(), into: "q1".into() });
        assert!(matches!(s.handle(&m(), &into_self, 2), Err(DomainError::Invalid(_))));
        let up_into_pending = q(QuestionCommand::Merge { question: "q1".into(), into: "q2".into() });
        assert!(matches!(s.handle(&m(), &up_into_pending, 2), Err(DomainError::Conflict(_))));
        s.handle(&m(), &q(QuestionCommand::Merge { question: "q2".into(), into: "q1".into() }), 3).expect("ok");
        let merged = &s.questions.items["q2"];
        assert_eq!((merged.status, merged.merged_into.as_deref()), (QuestionStatus::Merged, Some("q1")));
        assert_eq!((s.questions.open_total, s.questions.open_by["p2"]), (1, 0));
    }

    #[test]
    fn upvotes_are_for_approved_questions_the_participant_can_see() {
        let mut s = debate(true);
        s.handle(&Actor::participant("p1"), &ask("q1", "One"), 0).expect("ok");
        let up = q(QuestionCommand::Upvote { question: "q1".into() });
        let other = Actor::participant("p2");
        assert!(matches!(s.check_vote(&other, &up), Err(DomainError::NotFound(_))), "pending is invisible");
        assert!(matches!(s.check_vote(&Actor::participant("p1"), &up), Err(DomainError::Conflict(_))));
        s.handle(&m(), &q(QuestionCommand::Approve { question: "q1".into() }), 1).expect("ok");
        s.check_vote(&other, &up).expect("approved");
        assert!(matches!(s.check_vote(&m(), &up), Err(DomainError::Forbidden(_))));
        s.handle(&m(), &agenda(AgendaCommand::QaClose), 2).expect("ok");
        assert!(matches!(s.check_vote(&other, &up), Err(DomainError::Closed(_))));
    }

    #[test]
    fn the_list_of_speakers_runs_in_order_with_timed_turns() {
        let mut s = debate(true);
        let req = |id: &str, name: &str| {
            Command::Floor(FloorCommand::Request { id: id.into(), name: name.into(), organisation: "AMM".into() })
        };
        s.handle(&Actor::participant("p1"), &req("f1", "Awa"), 0).expect("ok");
        s.handle(&Actor::participant("p2"), &req("f2", "Moussa"), 1).expect("ok");
        s.handle(&Actor::participant("p3"), &req("f3", "Fatou"), 2).expect("ok");
        let twice = s.handle(&Actor::participant("p1"), &req("f4", "Awa"), 3);
        assert!(matches!(twice, Err(DomainError::Conflict(_))));
        let to_front = Command::Floor(FloorCommand::Move { request: "f3".into(), position: 0 });
        s.handle(&m(), &to_front, 4).expect("ok");
        assert_eq!(s.floor.queue.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["f3", "f1", "f2"]);
        s.handle(&m(), &Command::Floor(FloorCommand::Grant { request: "f3".into() }), 10_000).expect("ok");
        let d = s.handle(&m(), &Command::Floor(FloorCommand::Grant { request: "f1".into() }), 70_000).expect("ok");
        assert_eq!(
            d.events,
            [
                Event::Floor(FloorEvent::Ended { request: "f3".into(), at: 70_000, seconds: 60 }),
                Event::Floor(FloorEvent::Granted { request: "f1".into(), at: 70_000, limit_seconds: 180 })
            ]
        );
        let withdraw_other = Command::Floor(FloorCommand::Withdraw { request: Some("f2".into()) });
        assert!(matches!(s.handle(&Actor::participant("p1"), &withdraw_other, 71_000), Err(DomainError::NotFound(_))));
        s.handle(&Actor::participant("p2"), &Command::Floor(FloorCommand::Withdraw { request: None }), 72_000)
            .expect("own request");
        let d = s.handle(&m(), &agenda(AgendaCommand::SessionEnd), 100_000).expect("ok");
        assert_eq!(kinds(&d), ["floor.ended", "qa.closed", "session.ended"]);
        assert_eq!(s.floor.history.len(), 2);
        assert!(s.floor.queue.is_empty() && s.floor.speaking.is_none());
    }

    #[test]
    fn every_events_serialised_kind_is_its_kind() {
        let question = crate::domain::Question {
            id: "q1".into(),
            by: "p".into(),
            name: None,
            text: "t".into(),
            status: QuestionStatus::Pending,
            at: 0,
            answered_at: None,
            merged_into: None,
        };
        let request = crate::domain::floor::Request {
            id: "f1".into(),
            by: "p".into(),
            name: "n".into(),
            organisation: String::new(),
            at: 0,
        };
        let all: Vec<Event> = vec![
            AgendaEvent::SessionStarted { at: 0 }.into(),
            AgendaEvent::Moved {
                current: 0,
                previous: None,
                previous_spent_seconds: None,
                at: 0,
                item: "a1".into(),
                previous_item: None,
            }
            .into(),
            AgendaEvent::QaOpened.into(),
            AgendaEvent::QaClosed.into(),
            AgendaEvent::SessionEnded { at: 0, item: None, item_spent_seconds: None, item_id: None }.into(),
            AgendaEvent::ItemInserted { item: item_view("i1"), at: 0 }.into(),
            AgendaEvent::ItemUpdated { item: item_view("a1") }.into(),
            AgendaEvent::ItemMoved { item: "a1".into(), from: 0, to: 1 }.into(),
            AgendaEvent::ItemRemoved { item: "a1".into(), from: 0 }.into(),
            QuestionEvent::Asked { question: question.clone() }.into(),
            QuestionEvent::Approved { question }.into(),
            QuestionEvent::Rejected { question: "q1".into() }.into(),
            QuestionEvent::Answered { question: "q1".into(), at: 0 }.into(),
            QuestionEvent::Highlighted { question: None }.into(),
            QuestionEvent::Merged { question: "q1".into(), into: "q2".into() }.into(),
            FloorEvent::Requested { request }.into(),
            FloorEvent::Withdrawn { request: "f1".into() }.into(),
            FloorEvent::Granted { request: "f1".into(), at: 0, limit_seconds: 1 }.into(),
            FloorEvent::Skipped { request: "f1".into() }.into(),
            FloorEvent::Moved { request: "f1".into(), position: 0 }.into(),
            FloorEvent::Ended { request: "f1".into(), at: 0, seconds: 0 }.into(),
        ];
        for e in all {
            let json = serde_json::to_value(&e).expect("serialises");
            assert_eq!(json["kind"], e.kind(), "{json}");
            let back: Event = serde_json::from_value(json).expect("reads back");
            assert_eq!(back, e);
        }
    }

    fn item_view(id: &str) -> crate::domain::agenda::ItemView {
        crate::domain::agenda::ItemView {
            id: id.into(),
            def: AgendaItemDef {
                title: "Added".into(),
                kind: ItemKind::Presentation,
                minutes: 10,
                speakers: vec![],
                turn_seconds: None,
            },
        }
    }

    fn ids(s: &Session) -> Vec<&str> {
        s.agenda.items.iter().map(|i| i.id.as_str()).collect()
    }

    #[test]
    fn the_agenda_changes_live_and_the_current_item_stays_current() {
        use crate::domain::agenda::{ItemChanges, ItemRef};
        let mut s = session(&[ItemKind::Intro, ItemKind::Presentation, ItemKind::Debate]);
        s.handle(&m(), &agenda(AgendaCommand::Next), 0).expect("ok");
        s.handle(&m(), &agenda(AgendaCommand::Next), 1_000).expect("ok");
        assert_eq!((ids(&s), s.agenda.current), (vec!["a1", "a2", "a3"], Some(1)));
        let insert = AgendaCommand::Insert { id: "i1".into(), at: 0, item: item_view("i1").def };
        s.handle(&m(), &agenda(insert), 2_000).expect("an item may go anywhere");
        assert_eq!((ids(&s), s.agenda.current), (vec!["i1", "a1", "a2", "a3"], Some(2)), "a2 is still current");
        let up = AgendaCommand::Move { item: ItemRef::Id("a3".into()), to: 0 };
        s.handle(&m(), &agenda(up), 3_000).expect("a3 was not held");
        assert_eq!((ids(&s), s.agenda.current), (vec!["a3", "i1", "a1", "a2"], Some(3)));
        for held in ["a1", "a2"] {
            let mv = AgendaCommand::Move { item: ItemRef::Id(held.into()), to: 0 };
            assert!(matches!(s.handle(&m(), &agenda(mv), 4_000), Err(DomainError::Conflict(_))), "{held} was held");
            let rm = AgendaCommand::Remove { item: ItemRef::Id(held.into()) };
            assert!(matches!(s.handle(&m(), &agenda(rm), 4_000), Err(DomainError::Conflict(_))), "{held} was held");
        }
        let rename = ItemChanges { title: Some("Opening".into()), minutes: Some(12), ..ItemChanges::default() };
        s.handle(&m(), &agenda(AgendaCommand::Update { item: ItemRef::Id("a1".into()), changes: rename }), 5_000)
            .expect("a held item's title may be corrected");
        assert_eq!((s.agenda.items[2].def.title.pick("en"), s.agenda.items[2].def.minutes), ("Opening", 12));
        s.handle(&m(), &agenda(AgendaCommand::Remove { item: ItemRef::Index(1) }), 6_000).expect("i1 removed");
        assert_eq!((ids(&s), s.agenda.current), (vec!["a3", "a1", "a2"], Some(2)));
        assert!(matches!(
            s.handle(&Actor::new(Role::Rapporteur), &agenda(AgendaCommand::Remove { item: ItemRef::Index(0) }), 7_000),
            Err(DomainError::Forbidden(_))
        ));
        let german = AgendaCommand::Insert {
            id: "i2".into(),
            at: 0,
            item: AgendaItemDef {
                title: serde_json::from_value(serde_json::json!({"de": "Neu"})).expect("text"),
                ..item_view("i2").def
            },
        };
        assert!(
            matches!(s.handle(&m(), &agenda(german), 8_000), Err(DomainError::Invalid(_))),
            "not a session language"
        );
        // Moves follow the agenda as it now stands: a2 is last, the one before it is a1.
        assert!(s.handle(&m(), &agenda(AgendaCommand::Next), 9_000).is_err(), "a2 is the last item now");
        let d = s.handle(&m(), &agenda(AgendaCommand::Prev), 9_000).expect("back");
        assert!(
            matches!(&d.events[0], Event::Agenda(AgendaEvent::Moved { item, current: 1, .. }) if item == "a1"),
            "{d:?}"
        );
    }
}
