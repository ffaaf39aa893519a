//! The `welcome` with the whole state, built once per session, role and `seq` rather than once
//! per socket: a room of phones joining (or resyncing) at once would otherwise serialise the same
//! questions and drafts thousands of times. [`Views`] keeps each role's latest
//! [`SharedView`] of one session; a socket splices its own parts into it
//! ([`SharedView::welcome`]) and writes the pieces out without copying them
//! (`connection::Conn::send_pieces`).
//!
//! A session's views live while a socket of the session holds them ([`Views::of`]): the last one
//! to close frees them.

use crate::domain::Role;
use crate::protocol::SharedView;
use crate::store::Snapshot;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

/// One session's shared views, one per role (indexed by [`Role::index`]).
#[derive(Default)]
pub struct Views {
    by_role: Mutex<[Option<Arc<SharedView>>; 4]>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Views {
    /// The views of `session`, shared with every other socket of the session on this instance.
    /// (Sessions are named by random ids, and a view is only used for a snapshot it fits, so
    /// one registry serves every server in the process.)
    pub fn of(session: &str) -> Arc<Views> {
        static SESSIONS: OnceLock<Mutex<HashMap<Arc<str>, Weak<Views>>>> = OnceLock::new();
        let mut sessions = lock(SESSIONS.get_or_init(Default::default));
        if let Some(views) = sessions.get(session).and_then(Weak::upgrade) {
            return views;
        }
        sessions.retain(|_, v| v.strong_count() > 0);
        let views = Arc::new(Views::default());
        sessions.insert(session.into(), Arc::downgrade(&views));
        views
    }

    /// `role`'s view of `snapshot`: the one kept when it fits, else a new one, kept for the
    /// sockets that follow. (Built outside the lock: a worker thread never waits on another's
    /// serialisation; two sockets arriving at once may each build one.)
    pub fn shared(&self, snapshot: &Snapshot, role: Role) -> Arc<SharedView> {
        if let Some(view) = lock(&self.by_role)[role.index()].as_ref().filter(|v| v.fits(snapshot, role)) {
            return view.clone();
        }
        let view = Arc::new(SharedView::build(snapshot, role));
        lock(&self.by_role)[role.index()] = Some(view.clone());
        view
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::definition::RawDefinition;
    use crate::domain::{Session, SessionDefinition};
    use crate::store::memory::MemoryStore;
    use crate::store::Store;

    async fn sou94(id: &str) -> (MemoryStore, Snapshot) {
        let raw: RawDefinition = serde_json::from_str(crate::fixtures::SOU94).expect("SOU 94");
        let definition = SessionDefinition::parse(raw).expect("a valid definition");
        let store = MemoryStore::new();
        let credentials = crate::credentials::Credentials {
            moderator: "m".into(),
            rapporteur: "r".into(),
            code: "ABCDEF".into(),
            ballot_salt: "salt".into(),
        };
        let session = Session::new(id.into(), "ABCDEF".into(), &definition, 1_000);
        store.create(&definition, &session, &credentials).await.expect("created");
        let snapshot = store.snapshot(id, None).await.expect("read").expect("there");
        (store, snapshot)
    }

    #[tokio::test]
    async fn a_role_s_view_is_built_once_and_shared_while_it_fits() {
        let (_store, snapshot) = sou94("welcome-shared").await;
        let views = Views::of("welcome-shared");
        let first = views.shared(&snapshot, Role::Participant);
        assert!(Arc::ptr_eq(&first, &views.shared(&snapshot, Role::Participant)), "the same bytes again");
        assert!(!Arc::ptr_eq(&first, &views.shared(&snapshot, Role::Screen)), "each role its own");
        let mut later = snapshot;
        later.session.seq += 1;
        assert!(!Arc::ptr_eq(&first, &views.shared(&later, Role::Participant)), "another seq, another view");
    }

    #[tokio::test]
    async fn a_session_s_views_live_as_long_as_a_socket_holds_them() {
        let (_store, snapshot) = sou94("welcome-held").await;
        let held = Views::of("welcome-held");
        let view = held.shared(&snapshot, Role::Moderator);
        let again = Views::of("welcome-held");
        assert!(Arc::ptr_eq(&held, &again), "every socket of the session shares them");
        assert!(Arc::ptr_eq(&view, &again.shared(&snapshot, Role::Moderator)));
        drop((held, again));
        let fresh = Views::of("welcome-held");
        assert!(!Arc::ptr_eq(&view, &fresh.shared(&snapshot, Role::Moderator)), "the last socket gone, gone too");
    }
}
