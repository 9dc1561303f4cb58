//! The merged company directory (the issue's "one list keyed by SIP
//! URI"; seed 003's merged company directory, seed 000's searchable VTC
//! endpoints), sans-IO.
//!
//! Entries come from sources, each a list of [`Entry`] with its
//! [`Origin`]: the users, contacts and resources synchronised from LDAP
//! ([`ldap`]), the rooms of `[service]`, and the contact-center agents
//! of the sync engine (an [`Origin::Agent`] source whose entries carry a
//! [`CcStatus`], [`agent`]). [`AddressBook::merge`] keys them
//! by SIP URI: the first source to name an address gives its fields,
//! later ones fill what is missing and add their origin. An LDAP entry
//! whose address a gateway rule answers is marked [`Origin::Gateway`]
//! with the rule's name: it shows Available to Skype for Business
//! clients through that rule (seed 000's walk-through).
//!
//! Two searches read the book: [`AddressBook::query`] (the HTTP API and
//! the console: words matched as prefixes of any word of the entry,
//! paged) and the dialect's `directorySearch` through
//! [`presence::AddressBook`] (Active Directory attributes matched as
//! prefixes, every row at once). Presence is not kept here: the runtime
//! asks the engine for the entries of the page it shows.

use std::collections::HashMap;

use presence::address_book::{SearchHit, SearchRow};
use presence::{Dialect, SearchAnswer};
use serde::Serialize;

use crate::directory::{Answerer, Directory};

pub use agent::CcStatus;

pub mod agent;
pub mod ldap;
#[cfg(test)]
mod tests;

/// What kind of thing an entry is (seed 003's user types, seed 000's
/// contact objects and resources).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A person with an account.
    User,
    /// An address-book contact (AD `contact`: a partner's endpoint).
    Contact,
    /// A resource: a VTC endpoint, a room system.
    Resource,
    /// A meeting room of `[service]`.
    Room,
    /// A contact-center agent known only to the sync engine.
    Agent,
}

/// Where an entry came from; an entry may have several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The LDAP directory (`[directory]`).
    Ldap,
    /// A room of `[service]`.
    Room,
    /// A gateway rule of `[service]` answers for its address.
    Gateway,
    /// The sync engine's contact-center agents.
    Agent,
}

/// One entry of the merged directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// `sip:user@host`, host lowercased: the key.
    pub uri: String,
    /// The name shown.
    pub display_name: String,
    /// What it is.
    pub kind: Kind,
    /// Given name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Surname.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    /// Job title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Department.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Company.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// E-mail address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    /// Telephone number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The LDAP entry's DN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dn: Option<String>,
    /// Where it came from, in [`Origin`] order, without repeats.
    pub origins: Vec<Origin>,
    /// The gateway rule answering for it, by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway_rule: Option<String>,
    /// The contact-center status, for agents (seed 003: "CIC status").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cc_status: Option<CcStatus>,
}

impl Entry {
    /// An entry with only its address, name and kind.
    pub fn new(uri: impl Into<String>, display_name: impl Into<String>, kind: Kind) -> Entry {
        Entry {
            uri: uri.into(),
            display_name: display_name.into(),
            kind,
            given_name: None,
            surname: None,
            title: None,
            department: None,
            company: None,
            mail: None,
            phone: None,
            dn: None,
            origins: Vec::new(),
            gateway_rule: None,
            cc_status: None,
        }
    }

    /// Takes what `other` (a later source's entry for the same address)
    /// knows and `self` does not, and its origins.
    fn absorb(&mut self, other: Entry) {
        let fill = |mine: &mut Option<String>, theirs: Option<String>| {
            if mine.is_none() {
                *mine = theirs;
            }
        };
        fill(&mut self.given_name, other.given_name);
        fill(&mut self.surname, other.surname);
        fill(&mut self.title, other.title);
        fill(&mut self.department, other.department);
        fill(&mut self.company, other.company);
        fill(&mut self.mail, other.mail);
        fill(&mut self.phone, other.phone);
        fill(&mut self.dn, other.dn);
        fill(&mut self.gateway_rule, other.gateway_rule);
        if self.cc_status.is_none() {
            self.cc_status = other.cc_status;
        }
        for origin in other.origins {
            self.add_origin(origin);
        }
    }

    fn add_origin(&mut self, origin: Origin) {
        if let Err(at) = self.origins.binary_search(&origin) {
            self.origins.insert(at, origin);
        }
    }

    /// The address without `sip:`.
    fn address(&self) -> &str {
        self.uri.strip_prefix("sip:").unwrap_or(&self.uri)
    }

    /// Every lowercased word a query word may be a prefix of: the
    /// name's, the address's and the mail's parts, and the other
    /// fields' words.
    fn words(&self) -> Vec<String> {
        let mut words = Vec::new();
        let fields = [
            Some(self.display_name.as_str()),
            self.given_name.as_deref(),
            self.surname.as_deref(),
            self.title.as_deref(),
            self.department.as_deref(),
            self.company.as_deref(),
            self.cc_status.as_ref().map(|c| c.text.as_str()),
            self.cc_status.as_ref().map(|c| c.agent.as_str()),
        ];
        for field in fields.into_iter().flatten() {
            words.extend(split_words(field));
        }
        for whole in [Some(self.address()), self.mail.as_deref()]
            .into_iter()
            .flatten()
        {
            words.push(whole.to_lowercase());
            words.extend(split_words(whole));
        }
        if let Some(phone) = &self.phone {
            words.push(
                phone
                    .chars()
                    .filter(|c| c.is_ascii_digit() || *c == '+')
                    .collect(),
            );
        }
        words
    }

    /// The values an Active Directory attribute of a `directorySearch`
    /// row is matched against; none for attributes the book does not
    /// hold (then the row matches nothing, as in AD).
    fn attribute_values(&self, attribute: &str) -> Vec<String> {
        let a = attribute.to_ascii_lowercase();
        let name_words = || {
            let mut w = split_words(&self.display_name);
            for part in [&self.given_name, &self.surname].into_iter().flatten() {
                w.extend(split_words(part));
            }
            w
        };
        let one = |v: &Option<String>| v.iter().map(|v| v.to_lowercase()).collect();
        match a.as_str() {
            "givenname" | "sn" | "displayname" | "cn" | "name" | "anr" => name_words(),
            "mail" => one(&self.mail),
            "msrtcsip-primaryuseraddress" => vec![self.uri.to_lowercase()],
            "telephonenumber" => one(&self.phone),
            "title" => one(&self.title),
            "department" => one(&self.department),
            "company" => one(&self.company),
            _ => Vec::new(),
        }
    }
}

/// A text's words, lowercased, split at whitespace and the punctuation
/// of addresses (`vtc-oslo@vc.example.com` → vtc, oslo, vc, example, com).
fn split_words(text: &str) -> Vec<String> {
    text.split(|c: char| {
        c.is_whitespace() || matches!(c, '-' | '.' | '@' | '_' | ',' | ':' | '(' | ')')
    })
    .filter(|w| !w.is_empty())
    .map(str::to_lowercase)
    .collect()
}

/// A page of [`AddressBook::query`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<'a> {
    /// The entries on this page.
    pub entries: Vec<&'a Entry>,
    /// How many entries match in all.
    pub total: usize,
}

/// The merged directory: entries in display order (name without case,
/// then address), indexed by address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressBook {
    entries: Vec<Entry>,
    by_uri: HashMap<String, usize>,
    /// Each entry's search words, in the order of `entries`, computed
    /// once per merge.
    words: Vec<Vec<String>>,
}

impl AddressBook {
    /// Merges `sources` (in precedence order: the first to name an
    /// address gives its fields) with the rooms of `services`, and marks
    /// the entries a gateway rule answers for.
    pub fn merge<'a>(
        sources: impl IntoIterator<Item = &'a [Entry]>,
        services: &Directory,
    ) -> AddressBook {
        let mut merged: Vec<Entry> = Vec::new();
        let mut by_uri: HashMap<String, usize> = HashMap::new();
        let mut put = |entry: Entry| match by_uri.get(&entry.uri) {
            Some(&i) => merged[i].absorb(entry),
            None => {
                by_uri.insert(entry.uri.clone(), merged.len());
                merged.push(entry);
            }
        };
        for source in sources {
            for entry in source {
                put(entry.clone());
            }
        }
        for room in &services.rooms {
            let mut entry = Entry::new(format!("sip:{}", room.aliases[0]), &room.name, Kind::Room);
            entry.origins.push(Origin::Room);
            put(entry);
        }
        for entry in &mut merged {
            match services.resolve(&entry.uri, Dialect::Microsoft) {
                Some((Answerer::Rule(i), _)) => {
                    entry.add_origin(Origin::Gateway);
                    entry.gateway_rule = Some(services.rules[i].name.clone());
                }
                Some((Answerer::Room(_), _)) => entry.add_origin(Origin::Room),
                None => {}
            }
        }
        merged.sort_by(|a, b| {
            a.display_name
                .to_lowercase()
                .cmp(&b.display_name.to_lowercase())
                .then_with(|| a.uri.cmp(&b.uri))
        });
        let by_uri = merged
            .iter()
            .enumerate()
            .map(|(i, e)| (e.uri.clone(), i))
            .collect();
        let words = merged.iter().map(Entry::words).collect();
        AddressBook {
            entries: merged,
            by_uri,
            words,
        }
    }

    /// The entry of an address (`sip:user@host`, host in any case).
    pub fn get(&self, uri: &str) -> Option<&Entry> {
        let key = ldap::normalize_uri(uri)?;
        self.by_uri.get(&key).map(|&i| &self.entries[i])
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many entries have `origin`.
    pub fn count(&self, origin: Origin) -> usize {
        self.entries
            .iter()
            .filter(|e| e.origins.contains(&origin))
            .count()
    }

    /// The entries matching every word of `q` (each a prefix of one of
    /// an entry's words, without case; an empty `q` matches all), in
    /// display order, `limit` of them from `offset`.
    pub fn query(&self, q: &str, offset: usize, limit: usize) -> Page<'_> {
        let wanted = split_query(q);
        let mut total = 0;
        let mut entries = Vec::new();
        for (entry, words) in self.entries.iter().zip(&self.words) {
            let hit = wanted
                .iter()
                .all(|w| words.iter().any(|word| word.starts_with(w.as_str())));
            if hit {
                if total >= offset && entries.len() < limit {
                    entries.push(entry);
                }
                total += 1;
            }
        }
        Page { entries, total }
    }
}

/// A query's words: whitespace-separated, lowercased.
fn split_query(q: &str) -> Vec<String> {
    q.split_whitespace().map(str::to_lowercase).collect()
}

impl presence::AddressBook for AddressBook {
    /// Every row's value must be a prefix (without case) of one of the
    /// entry's values of that attribute; a `msRTCSIP-PrimaryUserAddress`
    /// value may leave out `sip:`.
    fn search(&self, rows: &[SearchRow], max: usize) -> SearchAnswer {
        let mut answer = SearchAnswer::default();
        if rows.is_empty() {
            return answer;
        }
        for entry in &self.entries {
            let hit = rows.iter().all(|row| {
                let mut value = row.value.trim().to_lowercase();
                let values = entry.attribute_values(&row.attribute);
                if row
                    .attribute
                    .eq_ignore_ascii_case("msRTCSIP-PrimaryUserAddress")
                    && !value.starts_with("sip:")
                {
                    value.insert_str(0, "sip:");
                }
                values.iter().any(|v| v.starts_with(&value))
            });
            if !hit {
                continue;
            }
            if answer.hits.len() == max {
                answer.more = true;
                break;
            }
            answer.hits.push(SearchHit {
                uri: entry.uri.clone(),
                display_name: Some(entry.display_name.clone()),
                title: entry.title.clone(),
                office: entry.department.clone(),
                phone: entry.phone.clone(),
                company: entry.company.clone(),
                country: None,
                email: entry.mail.clone(),
            });
        }
        answer
    }
}
