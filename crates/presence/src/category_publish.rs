//! Category publishing ([MS-PRES] §3.7.5): the Microsoft dialect's SERVICE
//! adapter in front of the store of sources.
//!
//! A client publishes `state`, `note`, `contactCard`, … categories, each
//! addressed by (category, instance, container) and versioned: it names
//! the version it believes is current, the server answers `409` with a
//! `Client.BadCall.WrongDelta` fault listing every stale publication and
//! the version it holds, and the client publishes again with those. A
//! request is applied whole or not at all, so a 409 changes nothing.
//! `expires="0"` deletes an instance; `expireType` decides how long one
//! lives:
//! - `static`: until deleted;
//! - `time`: `expires` seconds;
//! - `endpoint` and `user`: with the publishing endpoint — bound to the
//!   TCP/TLS connection it published on, ending a grace period after the
//!   connection closes, as RFC 3903 publications bound to a flow do. (A
//!   `user` instance should outlive one endpoint while another of the same
//!   user is signed in; until the registrar tells the engine which
//!   endpoints a user has, it ends with its own.)

use std::time::{Duration, SystemTime};

use sip::header::Header;
use sip::HeaderAccess;
use sip::HeaderName;

use crate::flow::Flow;
use crate::msrtc::fault::{self, Fault, Operation};
use crate::msrtc::publish::{self, ExpireType, Publish};
use crate::msrtc::MsrtcError;
use crate::presentity::{presentity_key, Presentities};
use crate::publication::{later, PublishOutcome};
use crate::source::{never, CategorySource, Source, SourceKey};
use crate::store::StoreOp;
use crate::XmlLimits;

/// Most category instances one presentity may hold: a Lync client
/// publishes a few dozen (state, note, card, calendar, devices, each into
/// several containers); the bound keeps one client from growing every
/// NOTIFY without limit.
pub const MAX_CATEGORIES: usize = 512;

/// Why a category publication was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CategoryPublishError {
    /// Not `application/msrtc-category-publish+xml`: 415 with Accept.
    #[error("Unsupported Media Type")]
    UnsupportedMediaType,
    /// The body does not read: 400 naming the element.
    #[error("Bad publication: {0}")]
    BadBody(MsrtcError),
    /// The body is not UTF-8 (categories are stored as text): 400.
    #[error("Bad publication: not UTF-8")]
    NotUtf8,
    /// `<publications uri>` names someone other than the Request-URI: 403.
    #[error("Publication for another user")]
    OtherUser,
    /// Stale versions: 409 with the fault body.
    #[error("Conflict")]
    WrongDelta(Vec<Operation>),
    /// Over [`MAX_CATEGORIES`]: 403.
    #[error("Too many category publications")]
    TooMany,
}

impl CategoryPublishError {
    /// The response status.
    pub fn status(&self) -> u16 {
        match self {
            CategoryPublishError::UnsupportedMediaType => 415,
            CategoryPublishError::BadBody(_) | CategoryPublishError::NotUtf8 => 400,
            CategoryPublishError::OtherUser | CategoryPublishError::TooMany => 403,
            CategoryPublishError::WrongDelta(_) => 409,
        }
    }

    fn response(&self, req: &sip::Request, to_tag: &str) -> sip::Response {
        let reason = crate::publication::reason_phrase(&self.to_string());
        let mut resp =
            sip::Response::to_request(req, self.status(), Some(to_tag)).with_reason(&reason);
        match self {
            CategoryPublishError::UnsupportedMediaType => resp
                .headers
                .push(Header::new(HeaderName::Accept, publish::CONTENT_TYPE)),
            CategoryPublishError::WrongDelta(operations) => {
                resp.headers
                    .push(Header::new(HeaderName::ContentType, fault::CONTENT_TYPE));
                resp.body = fault::render(&Fault::wrong_delta(operations.clone()));
            }
            _ => {}
        }
        resp
    }
}

impl<F: Flow> Presentities<F> {
    /// Handles one SERVICE carrying a category publication, for the
    /// presentity of its Request-URI. `reliable`: `flow` is TCP/TLS, so
    /// endpoint-bound instances end a grace period after it closes.
    pub fn publish_categories(
        &mut self,
        req: &sip::Request,
        flow: &F,
        reliable: bool,
        to_tag: &str,
        now: SystemTime,
    ) -> PublishOutcome<F> {
        let key = presentity_key(&req.uri);
        match self.try_publish_categories(req, &key, reliable.then(|| flow.clone()), now) {
            Ok((store, changed)) => PublishOutcome {
                response: sip::Response::to_request(req, 200, Some(to_tag)),
                store,
                changed: changed.then_some(key),
                refused: None,
            },
            Err(e) => PublishOutcome {
                response: e.response(req, to_tag),
                store: Vec::new(),
                changed: None,
                refused: matches!(e, CategoryPublishError::TooMany)
                    .then_some(crate::Refusal::TooManyPublications),
            },
        }
    }

    fn try_publish_categories(
        &mut self,
        req: &sip::Request,
        key: &str,
        flow: Option<F>,
        now: SystemTime,
    ) -> Result<(Vec<StoreOp<F>>, bool), CategoryPublishError> {
        let publish = read(req)?;
        if presentity_key_of(&publish.uri).as_deref() != Some(key) {
            return Err(CategoryPublishError::OtherUser);
        }
        // Every version first: a request is applied whole or not at all.
        let stale: Vec<Operation> = publish
            .publications
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let current = self.current_version(key, &source_key(p));
                (p.version != current).then_some(Operation {
                    index: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    version: Some(p.version),
                    cur_version: current,
                })
            })
            .collect();
        if !stale.is_empty() {
            return Err(CategoryPublishError::WrongDelta(stale));
        }
        let added = publish
            .publications
            .iter()
            .filter(|p| p.expires != Some(0))
            .filter(|p| self.source(key, &source_key(p)).is_none())
            .count();
        if self.source_count(key) + added > MAX_CATEGORIES {
            return Err(CategoryPublishError::TooMany);
        }
        let mut store = Vec::new();
        let mut changed = false;
        for publication in publish.publications {
            let source_key = source_key(&publication);
            let deletion = publication.expires == Some(0) || publication.body.is_none();
            if deletion {
                if let Some((_, c)) = self.take(key, &source_key, now) {
                    store.push(source_key.delete_op(key));
                    changed |= c;
                }
                continue;
            }
            let Some(xml) = publication.body else {
                continue;
            };
            let expires_at = match (publication.expire_type, publication.expires) {
                (ExpireType::Time, Some(secs)) => later(now, Duration::from_secs(u64::from(secs))),
                _ => never(),
            };
            let bound = matches!(
                publication.expire_type,
                ExpireType::Endpoint | ExpireType::User
            );
            let category = CategorySource {
                version: publication.version.wrapping_add(1),
                expire_type: publication.expire_type,
                xml,
            };
            let sequence = self.next_sequence();
            let source = Source::category(
                publication.container,
                publication.instance,
                category,
                sequence,
                expires_at,
                flow.clone().filter(|_| bound),
                now,
            );
            store.push(StoreOp::PutPublication(source.record(key, &source_key)));
            changed |= self.put(key, source_key, source, now);
        }
        Ok((store, changed))
    }

    /// The version a publication of `source` must name: the one held, or
    /// 0 for an instance that does not exist.
    fn current_version(&self, key: &str, source: &SourceKey) -> u32 {
        self.source(key, source)
            .and_then(|s| s.category_source())
            .map_or(0, |c| c.version)
    }
}

fn source_key(p: &publish::Publication) -> SourceKey {
    SourceKey::Category {
        name: p.category.as_str().into(),
        instance: p.instance,
        container: p.container,
    }
}

/// The presentity key of a `uri` attribute, as the Request-URI's.
fn presentity_key_of(uri: &str) -> Option<String> {
    sip::Uri::parse_str(uri).ok().map(|u| presentity_key(&u))
}

fn read(req: &sip::Request) -> Result<Publish, CategoryPublishError> {
    if !req.content_type_is("application", "msrtc-category-publish+xml") {
        return Err(CategoryPublishError::UnsupportedMediaType);
    }
    if std::str::from_utf8(&req.body).is_err() {
        return Err(CategoryPublishError::NotUtf8);
    }
    publish::parse(&req.body, &XmlLimits::DEFAULT).map_err(CategoryPublishError::BadBody)
}
