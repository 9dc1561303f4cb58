//! The Microsoft dialect's self subscriptions and settings in the engine:
//! `vnd-microsoft-roaming-self` (the user's own categories, containers
//! and watchers), `vnd-microsoft-provisioning-v2` (settings, fetched once
//! at sign-in), and the SERVICE requests that change containers and
//! acknowledge watchers.

use std::time::SystemTime;

use sip::HeaderAccess;
use sip::{HeaderName, Request, Response};

use super::{Action, Engine};
use crate::flow::Flow;
use crate::msrtc::categories::{CategoryEntry, EntryValue};
use crate::msrtc::container::{self, parse_set_container_members, parse_set_subscribers};
use crate::msrtc::fault::{self, Fault};
use crate::msrtc::provisioning::{self, ProvisionGroup};
use crate::msrtc::roaming::{self, RoamingData, Subscriber, SubscriberType};
use crate::notify::Body;
use crate::presentity::presentity_key;
use crate::roaming::ContainerError;
use crate::source::SourceKey;
use crate::store::RoamingRecord;
use crate::subscription::{DialogKey, Format, Package};
use crate::XmlLimits;

/// The provisioning groups answered when a client asks for none by name:
/// the ones SIPE asks for.
const DEFAULT_GROUPS: [&str; 4] = [
    provisioning::SERVER_CONFIGURATION,
    provisioning::MEETING_POLICY,
    provisioning::PERSISTENT_CHAT_CONFIGURATION,
    provisioning::UC_POLICY,
];

impl<F: Flow> Engine<F> {
    /// Reloads the users' stored roaming settings (after a restart).
    pub fn restore_roaming(&mut self, records: Vec<RoamingRecord>) {
        for record in records {
            self.roaming.restore(record);
        }
    }

    /// The container `watcher` is in for `presentity`'s categories.
    pub(super) fn container_of(&self, presentity: &str, watcher: &str) -> u32 {
        self.roaming.container_of(presentity, watcher)
    }

    /// Notes the provisioning groups a SUBSCRIBE asked for, for the
    /// NOTIFY that answers it.
    pub(super) fn remember_provisioning(&mut self, key: &DialogKey, req: &Request) {
        let asked = provisioning::parse_request(&req.body, &XmlLimits::DEFAULT).unwrap_or_default();
        self.provisioning.insert(key.clone(), asked);
    }

    /// The body of a self subscription's NOTIFY.
    pub(super) fn self_body(&mut self, key: &DialogKey, package: Package) -> Option<Body> {
        let user = self.subs.get(key)?.presentity.clone();
        let bytes = match package {
            Package::RoamingSelf => roaming::render(&self.roaming_data(&user)),
            Package::Provisioning => {
                let asked = self.provisioning.remove(key).unwrap_or_default();
                let names: Vec<&str> = if asked.is_empty() {
                    DEFAULT_GROUPS.to_vec()
                } else {
                    asked.iter().map(String::as_str).collect()
                };
                let groups: Vec<ProvisionGroup> =
                    names.into_iter().map(ProvisionGroup::empty).collect();
                provisioning::render(&groups)
            }
            _ => return None,
        };
        let format = Format::offered(package).first().copied()?;
        Some(Body {
            content_type: format.content_type(),
            bytes,
        })
    }

    /// What a user's own roaming data says now.
    fn roaming_data(&self, user: &str) -> RoamingData {
        let categories: Vec<CategoryEntry> = self
            .presentities
            .category_sources(user)
            .into_iter()
            .filter_map(|(key, category)| {
                let SourceKey::Category {
                    name,
                    instance,
                    container,
                } = key
                else {
                    return None;
                };
                Some(CategoryEntry {
                    name: name.to_string(),
                    instance: Some(instance),
                    container: Some(container),
                    version: Some(category.version),
                    publish_time: None,
                    expire_type: Some(category.expire_type),
                    value: EntryValue::Raw(category.xml),
                })
            })
            .collect();
        let mut subscribers: Vec<Subscriber> = Vec::new();
        for key in self.by_presentity.get(user).into_iter().flatten() {
            let Some(sub) = self.subs.get(key) else {
                continue;
            };
            if sub.package != Package::Presence || sub.is_terminated() {
                continue;
            }
            let bare = sub.watcher.strip_prefix("sip:").unwrap_or(&sub.watcher);
            if subscribers.iter().any(|s| s.user == bare) {
                continue;
            }
            let same = user.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase())
                == sub
                    .watcher
                    .rsplit_once('@')
                    .map(|(_, d)| d.to_ascii_lowercase());
            subscribers.push(Subscriber {
                user: bare.to_owned(),
                display_name: String::new(),
                acknowledged: self.roaming.is_acknowledged(user, &sub.watcher),
                subscriber_type: Some(if same {
                    SubscriberType::SameEnterprise
                } else {
                    SubscriberType::Federated
                }),
            });
        }
        RoamingData {
            uri: user.to_owned(),
            categories: Some(categories),
            containers: Some(self.roaming.containers(user)),
            subscribers: Some(subscribers),
        }
    }

    /// Tells the user's own roaming-self subscriptions that something in
    /// their roaming data changed.
    pub(super) fn roaming_changed(
        &mut self,
        user: &str,
        now: SystemTime,
        out: &mut Vec<Action<F>>,
    ) {
        let keys = self.subscriptions_to(user, Package::RoamingSelf);
        self.poke(keys, now, out);
    }

    /// A SERVICE that changes container members or acknowledges watchers.
    /// `None` when its Content-Type is neither (the caller answers).
    pub(super) fn service_settings(
        &mut self,
        txn: u64,
        req: &Request,
        to_tag: &str,
        now: SystemTime,
    ) -> Option<Vec<Action<F>>> {
        let user = presentity_key(&req.uri);
        let limits = XmlLimits::DEFAULT;
        let respond = |resp: Response| Action::Respond { txn, resp };
        let bad = |e: &dyn std::fmt::Display| {
            let reason = crate::publication::reason_phrase(&format!("Bad request: {e}"));
            Response::to_request(req, 400, Some(to_tag)).with_reason(&reason)
        };
        let mut out = Vec::new();
        if req.content_type_is("application", "msrtc-setcontainermembers+xml") {
            let changes = match parse_set_container_members(&req.body, &limits) {
                Ok(changes) => changes,
                Err(e) => return Some(vec![respond(bad(&e))]),
            };
            match self.roaming.set_container_members(&user, &changes) {
                Ok(op) => {
                    out.push(Action::Store(vec![op]));
                    out.push(respond(Response::to_request(req, 200, Some(to_tag))));
                    // Watchers may have moved between containers.
                    self.presentity_changed(&user, now, &mut out);
                    self.roaming_changed(&user, now, &mut out);
                }
                Err(ContainerError::WrongDelta(operations)) => {
                    let mut resp = Response::to_request(req, 409, Some(to_tag));
                    resp.headers.push(sip::Header::new(
                        HeaderName::ContentType,
                        fault::CONTENT_TYPE,
                    ));
                    resp.body = fault::render(&Fault::wrong_delta(operations));
                    out.push(respond(resp));
                }
                Err(e @ ContainerError::TooMany) => out.push(respond(
                    Response::to_request(req, 403, Some(to_tag)).with_reason(e.to_string()),
                )),
            }
            return Some(out);
        }
        if req.content_type_is("application", "msrtc-presence-setsubscriber+xml") {
            let acks = match parse_set_subscribers(&req.body, &limits) {
                Ok(acks) => acks,
                Err(e) => return Some(vec![respond(bad(&e))]),
            };
            if let Some(op) = self.roaming.acknowledge(&user, &acks) {
                out.push(Action::Store(vec![op]));
                out.push(respond(Response::to_request(req, 200, Some(to_tag))));
                self.roaming_changed(&user, now, &mut out);
            } else {
                out.push(respond(Response::to_request(req, 200, Some(to_tag))));
            }
            return Some(out);
        }
        None
    }
}

/// The Content-Types a SERVICE may carry, for a 415's Accept.
pub(super) fn service_types() -> String {
    [
        crate::msrtc::publish::CONTENT_TYPE,
        container::SET_CONTAINER_MEMBERS_CONTENT_TYPE,
        container::SET_SUBSCRIBERS_CONTENT_TYPE,
        crate::msrtc::contacts::REQUEST_CONTENT_TYPE,
    ]
    .join(", ")
}
