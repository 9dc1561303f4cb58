//! The integration rules of presenced, sans-IO (../shared/DESIGN.md,
//! `sip` ← `presence` ← `rules` ← `presenced`).
//!
//! Today: **service contacts** — meeting rooms and gateway aliases the
//! server itself answers for, so that a Skype for Business or SIMPLE
//! user who adds `meet.alice@vc.example.com` sees it Available with the
//! room's name, description and picture (seeds 000 and 001).
//!
//! - [`config`]: the `[service]` section as written (rooms, ordered
//!   gateway rules, themes), every value with its position;
//! - [`directory`]: the checked and compiled form — alias lookup, regex
//!   rules in order with their dialect filter, the contact card, photo
//!   URLs — implementing [`presence::ServiceContacts`] for the engine;
//! - [`pin`]: the `alias**PIN@domain` suffix, cut off and dropped;
//! - [`theme`]: avatar images checked (a real JPEG, a size limit) and
//!   named by their SHA-256, and the built-in default image;
//! - [`explain`]: which room or rule answers for an address, and why;
//! - [`address_book`]: the merged company directory — LDAP users,
//!   contacts and resources ([`address_book::ldap`] maps the entries),
//!   rooms, gateway aliases (and later contact-center agents) keyed by
//!   SIP URI, searched by the HTTP API and by dialect clients;
//! - [`sync`]: the sync engine's rules (seeds 002 and 003) — `[sync]`
//!   profiles, augmentations with conditions, mappings with direction,
//!   push (aggregated states) and pull (DND ranges) modes, the mapping
//!   functions both ways, loop prevention and `explain` for an agent.
//!
//! Reading files (the config, the theme images) and serving them is the
//! runtime's: this crate gets bytes and text and returns values or
//! errors that name the field and the byte offset of the value.
//!
//! ```
//! use std::collections::BTreeMap;
//! use presence::{Dialect, ServiceContacts};
//! use rules::{Directory, RawService, ThemeSource};
//!
//! #[derive(serde::Deserialize)]
//! struct File { service: RawService }
//!
//! let text = r#"
//! [service]
//! [[service.rooms]]
//! aliases = ["meet.alice@vc.example.com"]
//! name = "Alice's meeting room"
//! description = "Weekly team meeting"
//! "#;
//! let file: File = toml::from_str(text).unwrap();
//! let themes = BTreeMap::from([("default".to_owned(), ThemeSource::Builtin)]);
//! let directory = Directory::build(&file.service, &themes, None, text).unwrap();
//! let card = directory
//!     .answer("sip:meet.alice**1234@vc.example.com", Dialect::Ietf)
//!     .unwrap();
//! assert_eq!(card.display_name, "Alice's meeting room");
//! assert!(directory.answer("sip:meet.alise@vc.example.com", Dialect::Ietf).is_none());
//! ```

#![warn(missing_docs)]

pub mod address_book;
pub mod config;
pub mod directory;
pub mod e164;
pub mod explain;
pub mod import;
pub mod pin;
pub mod sources;
pub mod sync;
pub mod theme;

pub use address_book::{AddressBook, Entry, Kind, Origin};
pub use config::{RawRoom, RawRule, RawService};
pub use directory::{Answerer, Directory, GatewayRule, Room, ServiceError, ThemeSource};
pub use explain::Explanation;
pub use theme::{ImageError, ThemeImage};
