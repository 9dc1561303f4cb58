//! The company address book as the engine sees it: something that
//! answers a client's directory search.
//!
//! Which entries exist — users, contacts and resources synchronised from
//! an Active-Directory-shaped LDAP server, rooms, gateway aliases and
//! contact-center agents, merged by SIP URI — is the `rules` crate's and
//! the runtime's business. The engine only turns a dialect client's
//! `directorySearch` SERVICE ([`crate::msrtc::search`]) into a call of
//! [`AddressBook::search`] and renders what comes back, so the search
//! stays sans-IO here and the address book can be swapped whole (a new
//! LDAP snapshot, a reload) without the engine knowing.
//!
//! Search results carry no presence: the client subscribes to the
//! entries it shows, as it does to its contacts.

use std::fmt;

pub use crate::msrtc::search::{SearchHit, SearchRow};

/// The entries a search found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchAnswer {
    /// At most the number asked for, in the address book's order.
    pub hits: Vec<SearchHit>,
    /// More entries matched than were returned (the client says so).
    pub more: bool,
}

/// Who answers directory searches: implemented over the merged address
/// book; the runtime may swap what it reads at any time.
pub trait AddressBook: fmt::Debug + Send + Sync {
    /// The entries matching every row (attribute prefixes, as Active
    /// Directory matches them), at most `max`.
    fn search(&self, rows: &[SearchRow], max: usize) -> SearchAnswer;
}

/// No address book: every search finds nothing. The engine's default
/// until the runtime provides one.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAddressBook;

impl AddressBook for NoAddressBook {
    fn search(&self, _: &[SearchRow], _: usize) -> SearchAnswer {
        SearchAnswer::default()
    }
}
