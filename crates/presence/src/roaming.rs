//! A user's own presence settings in the Microsoft dialect: who is in which
//! container (access level), and which watchers the user has acknowledged.
//!
//! Containers decide what a watcher sees ([MS-PRES] §3.7.5.3): a watcher
//! is in the highest-numbered container one of whose members matches it
//! (a user, a domain, the same enterprise, federated users, everyone), so
//! blocking (32000) wins over everything; a watcher no container names is
//! a colleague (200) when it shares the user's domain and external (100)
//! otherwise. Container changes are versioned like category publications:
//! a stale version gets the same 409 fault, and nothing changes.
//!
//! A watcher the user has not acknowledged is listed in the user's
//! roaming data as `acknowledged="false"`, so the client can tell its user
//! "Bob added you to his contacts"; the client then acknowledges it with a
//! `setSubscribers` SERVICE.
//!
//! Sans-IO: every change returns the [`StoreOp`] that makes it durable.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::msrtc::container::{ContainerChange, Member, MemberAction, SubscriberAck};
use crate::msrtc::fault::Operation;
use crate::msrtc::roaming::Container;
use crate::store::{RoamingContainer, RoamingRecord, StoreOp};

/// The container of blocked watchers: they see Offline and nothing else.
pub const BLOCKED: u32 = 32000;

/// The container of a watcher of the user's own domain no container names.
pub const COLLEAGUES: u32 = 200;

/// The container of any other watcher no container names.
pub const EXTERNAL: u32 = 100;

/// Most members one container may hold (a user's contact list is bounded
/// at 1 000 in Skype for Business; a container is at most that).
pub const MAX_MEMBERS: usize = 1000;

/// One user's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct UserData {
    containers: BTreeMap<u32, (u32, Vec<Member>)>,
    acknowledged: BTreeSet<String>,
}

/// Every user's settings.
#[derive(Debug, Default)]
pub struct Roaming {
    users: HashMap<String, UserData>,
}

/// Why a container change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContainerError {
    /// Stale versions: 409 with the fault listing them.
    #[error("Conflict")]
    WrongDelta(Vec<Operation>),
    /// A container would hold more than [`MAX_MEMBERS`]: 403.
    #[error("Too many container members")]
    TooMany,
}

impl Roaming {
    /// No settings for anyone.
    pub fn new() -> Roaming {
        Roaming::default()
    }

    /// The container `watcher` is in for `user`'s presence.
    pub fn container_of(&self, user: &str, watcher: &str) -> u32 {
        let same_domain = domain(user) == domain(watcher);
        let matches = |member: &Member| match member {
            Member::User(uri) => same_user(uri, watcher),
            Member::Domain(d) => domain(watcher).is_some_and(|w| w.eq_ignore_ascii_case(d)),
            Member::SameEnterprise => same_domain,
            Member::Federated => !same_domain,
            Member::PublicCloud => false,
            Member::Everyone => true,
        };
        let named = self.users.get(user).and_then(|data| {
            data.containers
                .iter()
                .rev()
                .find(|(_, (_, members))| members.iter().any(matches))
                .map(|(id, _)| *id)
        });
        named.unwrap_or(if same_domain { COLLEAGUES } else { EXTERNAL })
    }

    /// The containers of `user` as its roaming data lists them.
    pub fn containers(&self, user: &str) -> Vec<Container> {
        self.users.get(user).map_or_else(Vec::new, |data| {
            data.containers
                .iter()
                .map(|(id, (version, members))| Container {
                    id: *id,
                    version: *version,
                    members: members.clone(),
                })
                .collect()
        })
    }

    /// Whether `user` has acknowledged `watcher`.
    pub fn is_acknowledged(&self, user: &str, watcher: &str) -> bool {
        self.users
            .get(user)
            .is_some_and(|d| d.acknowledged.contains(&bare(watcher)))
    }

    /// Applies a `setContainerMembers`: every version checked first, then
    /// every change, each container's version up by one.
    pub fn set_container_members<F>(
        &mut self,
        user: &str,
        changes: &[ContainerChange],
    ) -> Result<StoreOp<F>, ContainerError> {
        let current = self.users.get(user).cloned().unwrap_or_default();
        let stale: Vec<Operation> = changes
            .iter()
            .enumerate()
            .filter_map(|(i, change)| {
                let held = current.containers.get(&change.id).map_or(0, |(v, _)| *v);
                (held != change.version).then_some(Operation {
                    index: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    version: Some(change.version),
                    cur_version: held,
                })
            })
            .collect();
        if !stale.is_empty() {
            return Err(ContainerError::WrongDelta(stale));
        }
        let mut next = current;
        for change in changes {
            let entry = next.containers.entry(change.id).or_default();
            entry.0 = entry.0.wrapping_add(1);
            for member in &change.members {
                entry.1.retain(|m| m != &member.member);
                if member.action == MemberAction::Add {
                    entry.1.push(member.member.clone());
                }
            }
            if entry.1.len() > MAX_MEMBERS {
                return Err(ContainerError::TooMany);
            }
        }
        self.users.insert(user.to_owned(), next);
        Ok(self.record(user))
    }

    /// Applies a `setSubscribers`; `None` when nothing changed.
    pub fn acknowledge<F>(&mut self, user: &str, acks: &[SubscriberAck]) -> Option<StoreOp<F>> {
        let data = self.users.entry(user.to_owned()).or_default();
        let mut changed = false;
        for ack in acks {
            let watcher = bare(&ack.user);
            changed |= if ack.acknowledged {
                data.acknowledged.insert(watcher)
            } else {
                data.acknowledged.remove(&watcher)
            };
        }
        changed.then(|| self.record(user))
    }

    /// Loads a stored record (after a restart). Members of a kind this
    /// version does not know are dropped, not the record.
    pub fn restore(&mut self, record: RoamingRecord) {
        let containers = record
            .containers
            .into_iter()
            .map(|c| {
                let members = c
                    .members
                    .into_iter()
                    .filter_map(|(kind, value)| member(&kind, value))
                    .collect();
                (c.id, (c.version, members))
            })
            .collect();
        let acknowledged = record.acknowledged.into_iter().collect();
        self.users.insert(
            record.user,
            UserData {
                containers,
                acknowledged,
            },
        );
    }

    fn record<F>(&self, user: &str) -> StoreOp<F> {
        let data = self.users.get(user).cloned().unwrap_or_default();
        StoreOp::PutRoaming(RoamingRecord {
            user: user.to_owned(),
            containers: data
                .containers
                .into_iter()
                .map(|(id, (version, members))| RoamingContainer {
                    id,
                    version,
                    members: members
                        .iter()
                        .map(|m| (m.type_token().to_owned(), m.value().map(str::to_owned)))
                        .collect(),
                })
                .collect(),
            acknowledged: data.acknowledged.into_iter().collect(),
        })
    }
}

fn member(kind: &str, value: Option<String>) -> Option<Member> {
    Some(match (kind, value) {
        ("user", Some(v)) => Member::User(v),
        ("domain", Some(v)) => Member::Domain(v),
        ("sameEnterprise", _) => Member::SameEnterprise,
        ("federated", _) => Member::Federated,
        ("publicCloud", _) => Member::PublicCloud,
        ("everyone", _) => Member::Everyone,
        _ => return None,
    })
}

/// A URI without its `sip:` scheme, lowercased: the dialect writes users
/// both ways.
fn bare(uri: &str) -> String {
    let uri = uri.trim();
    let uri = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("SIP:"))
        .unwrap_or(uri);
    uri.to_ascii_lowercase()
}

fn same_user(a: &str, b: &str) -> bool {
    bare(a) == bare(b)
}

fn domain(uri: &str) -> Option<String> {
    uri.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msrtc::container::MemberChange;

    const ALICE: &str = "sip:alice@example.com";

    fn change(id: u32, version: u32, add: &[Member]) -> ContainerChange {
        ContainerChange {
            id,
            version,
            members: add
                .iter()
                .map(|m| MemberChange {
                    action: MemberAction::Add,
                    member: m.clone(),
                })
                .collect(),
        }
    }

    #[test]
    fn defaults_by_domain() {
        let r = Roaming::new();
        assert_eq!(r.container_of(ALICE, "sip:bob@example.com"), COLLEAGUES);
        assert_eq!(r.container_of(ALICE, "sip:bob@EXAMPLE.com"), COLLEAGUES);
        assert_eq!(r.container_of(ALICE, "sip:carol@example.org"), EXTERNAL);
    }

    #[test]
    fn the_highest_matching_container_wins_and_blocking_beats_all() {
        let mut r = Roaming::new();
        r.set_container_members::<()>(
            ALICE,
            &[
                change(400, 0, &[Member::User("bob@example.com".into())]),
                change(300, 0, &[Member::Domain("example.com".into())]),
            ],
        )
        .unwrap();
        assert_eq!(r.container_of(ALICE, "sip:bob@example.com"), 400);
        assert_eq!(r.container_of(ALICE, "sip:dave@example.com"), 300);
        r.set_container_members::<()>(
            ALICE,
            &[change(
                BLOCKED,
                0,
                &[Member::User("sip:bob@example.com".into())],
            )],
        )
        .unwrap();
        assert_eq!(r.container_of(ALICE, "sip:bob@example.com"), BLOCKED);
        assert_eq!(r.container_of(ALICE, "sip:dave@example.com"), 300);
    }

    #[test]
    fn stale_versions_change_nothing() {
        let mut r = Roaming::new();
        r.set_container_members::<()>(ALICE, &[change(400, 0, &[Member::Everyone])])
            .unwrap();
        let before = r.containers(ALICE);
        let e = r
            .set_container_members::<()>(
                ALICE,
                &[
                    change(300, 0, &[Member::Everyone]),
                    change(400, 0, &[Member::Federated]),
                ],
            )
            .unwrap_err();
        assert_eq!(
            e,
            ContainerError::WrongDelta(vec![Operation {
                index: 2,
                version: Some(0),
                cur_version: 1
            }])
        );
        assert_eq!(r.containers(ALICE), before);
        let removal = ContainerChange {
            id: 400,
            version: 1,
            members: vec![MemberChange {
                action: MemberAction::Remove,
                member: Member::Everyone,
            }],
        };
        r.set_container_members::<()>(ALICE, &[removal]).unwrap();
        assert_eq!(r.containers(ALICE)[0].members, []);
        assert_eq!(r.containers(ALICE)[0].version, 2);
    }

    #[test]
    fn acknowledgements_and_records_round_trip() {
        let mut r = Roaming::new();
        assert!(!r.is_acknowledged(ALICE, "sip:bob@example.com"));
        let ack = |acknowledged| SubscriberAck {
            user: "bob@example.com".into(),
            acknowledged,
        };
        let Some(StoreOp::<()>::PutRoaming(record)) = r.acknowledge(ALICE, &[ack(true)]) else {
            panic!("a record")
        };
        assert!(r.is_acknowledged(ALICE, "sip:Bob@example.com"));
        assert_eq!(r.acknowledge::<()>(ALICE, &[ack(true)]), None, "no change");
        r.set_container_members::<()>(
            ALICE,
            &[change(BLOCKED, 0, &[Member::Domain("x.org".into())])],
        )
        .unwrap();
        let Some(StoreOp::<()>::PutRoaming(record2)) = r.acknowledge(ALICE, &[ack(false)]) else {
            panic!()
        };
        let mut back = Roaming::new();
        back.restore(record2);
        assert!(!back.is_acknowledged(ALICE, "sip:bob@example.com"));
        assert_eq!(back.container_of(ALICE, "sip:eve@x.org"), BLOCKED);
        let mut first = Roaming::new();
        first.restore(record);
        assert!(first.is_acknowledged(ALICE, "sip:bob@example.com"));
    }
}
