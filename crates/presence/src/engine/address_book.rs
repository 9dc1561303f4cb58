//! The address book in the engine: a dialect client's directory search
//! (SERVICE `directorySearch`, [`crate::msrtc::search`]) answered from
//! the runtime's [`AddressBook`], and what a presentity shows right now,
//! for the directory listing and the operator's views.

use std::sync::Arc;

use sip::header::Header;
use sip::{HeaderAccess, HeaderName, Request, Response};

use super::{Action, Engine};
use crate::address_book::AddressBook;
use crate::availability::AggregateState;
use crate::flow::Flow;
use crate::msrtc::search;
use crate::service::{Dialect, ServiceView};
use crate::XmlLimits;

/// Where what a presentity shows comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShownBy {
    /// Its own sources: publications, the sync engine, the upstream.
    Sources,
    /// A room's card (the room's first alias names it in the card).
    Room,
    /// A gateway rule's card.
    Gateway,
    /// Nothing: it shows Offline.
    Nothing,
}

/// What a presentity shows a watcher right now, in the availability model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// The aggregated state.
    pub state: AggregateState,
    /// Where it comes from.
    pub by: ShownBy,
}

impl<F: Flow> Engine<F> {
    /// Answers dialect clients' directory searches from `book` from now on.
    pub fn set_address_book(&mut self, book: Arc<dyn AddressBook>) {
        self.address_book = book;
    }

    /// A SERVICE with a SOAP `directorySearch`; `None` when it is not one.
    pub(super) fn directory_search(
        &self,
        txn: u64,
        req: &Request,
        to_tag: &str,
    ) -> Option<Vec<Action<F>>> {
        if !req.content_type_is("application", "soap+xml") || !search::is_search(&req.body) {
            return None;
        }
        let resp = match search::parse(&req.body, &XmlLimits::DEFAULT) {
            Err(e) => {
                let reason = crate::publication::reason_phrase(&format!("Bad search: {e}"));
                Response::to_request(req, 400, Some(to_tag)).with_reason(&reason)
            }
            Ok(request) => {
                let answer = self.address_book.search(&request.rows, request.max_results);
                let mut resp = Response::to_request(req, 200, Some(to_tag));
                resp.headers.push(Header::new(
                    HeaderName::ContentType,
                    crate::msrtc::contacts::REQUEST_CONTENT_TYPE,
                ));
                resp.body = search::render_response(&answer.hits, answer.more);
                resp
            }
        };
        Some(vec![Action::Respond { txn, resp }])
    }

    /// What `presentity` (a presentity key) shows a dialect watcher now:
    /// its sources' aggregate when it has any (a person always wins), or
    /// the card of the room or gateway rule answering for it (Microsoft
    /// dialect first, the seed's rules being for Skype for Business
    /// clients), or Offline.
    pub fn shown(&mut self, presentity: &str) -> Shown {
        if let Some(state) = self.presentities.aggregate(presentity).cloned() {
            return Shown {
                state,
                by: ShownBy::Sources,
            };
        }
        let answer = Dialect::ALL
            .iter()
            .find_map(|d| self.service_answer(presentity, *d));
        match answer {
            Some((card, participants)) => Shown {
                by: if card.room.is_some() {
                    ShownBy::Room
                } else {
                    ShownBy::Gateway
                },
                state: ServiceView {
                    card: &card,
                    participants,
                }
                .aggregate(),
            },
            None => Shown {
                state: crate::availability::aggregate(&[], std::time::SystemTime::UNIX_EPOCH),
                by: ShownBy::Nothing,
            },
        }
    }
}
