//! The attendant and PSTN states set through the presence provider's API
//! (seed 004's attendant and PSTN sources), as the store keeps them.
//!
//! They are the only copy of that presence: an attendant console sets its
//! state once and expects it to hold, and a contact center reports a
//! line's call state when it changes, not again after our restart. So an
//! API write is answered only once its record is on disk, like a
//! publication, and a restarted presenced puts every stored state back
//! before it notifies anyone. An unknown state (`DELETE`) deletes the
//! record.

use presence::availability::{Availability, CustomTexts, Lcid};
use presence::{ProvidedSource, SyncState};
use serde::{Deserialize, Serialize};

use crate::store::{Table, Write};

/// One stored state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvidedRecord {
    /// The presentity key (address of record).
    pub presentity: String,
    /// `attendant` or `pstn`.
    pub source: String,
    /// The availability number.
    pub availability: u32,
    /// The activity texts by LCID.
    #[serde(default)]
    pub texts: Vec<(u32, String)>,
}

/// A stored record that does not read back (a newer version's, or a
/// damaged one): skipped with this in the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored {kind:?} state of {presentity}: unknown source (expected attendant or pstn)")]
pub struct RecordError {
    /// The presentity.
    pub presentity: String,
    /// The source as stored.
    pub kind: String,
}

impl ProvidedRecord {
    /// The record of `presentity`'s `state` from `source`.
    pub fn of(presentity: &str, source: ProvidedSource, state: &SyncState) -> ProvidedRecord {
        ProvidedRecord {
            presentity: presentity.to_owned(),
            source: source_name(source).to_owned(),
            availability: state.availability.value(),
            texts: state
                .texts
                .iter()
                .map(|(lcid, text)| (lcid.0, text.to_owned()))
                .collect(),
        }
    }

    /// The source and state back.
    pub fn state(&self) -> Result<(ProvidedSource, SyncState), RecordError> {
        let source = match self.source.as_str() {
            "attendant" => ProvidedSource::Attendant,
            "pstn" => ProvidedSource::Pstn,
            _ => {
                return Err(RecordError {
                    presentity: self.presentity.clone(),
                    kind: self.source.clone(),
                })
            }
        };
        let texts = self
            .texts
            .iter()
            .fold(CustomTexts::new(), |t, (lcid, text)| {
                t.with(Lcid(*lcid), text.clone())
            });
        Ok((
            source,
            SyncState {
                availability: Availability::new(self.availability),
                texts,
            },
        ))
    }

    /// The store write that keeps it.
    pub fn write(&self) -> Write {
        Write::Put {
            table: Table::Provided,
            key: key(&self.presentity, &self.source),
            // Plain strings and numbers: serialising cannot fail.
            value: serde_json::to_vec(self).unwrap_or_default(),
        }
    }

    /// The store write that forgets `presentity`'s state from `source`.
    pub fn delete(presentity: &str, source: ProvidedSource) -> Write {
        Write::Delete {
            table: Table::Provided,
            key: key(presentity, source_name(source)),
        }
    }
}

/// The key: source, newline, presentity (one record per source of a
/// presentity).
fn key(presentity: &str, source: &str) -> Vec<u8> {
    format!("{source}\n{presentity}").into_bytes()
}

fn source_name(source: ProvidedSource) -> &'static str {
    match source {
        ProvidedSource::Attendant => "attendant",
        ProvidedSource::Pstn => "pstn",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_reads_back_as_written() {
        let state = SyncState {
            availability: Availability::new(6500),
            texts: CustomTexts::new()
                .with(Lcid::EN_US, "At the front desk")
                .with(Lcid::DE_DE, "Am Empfang"),
        };
        let record = ProvidedRecord::of("sip:desk1@example.com", ProvidedSource::Attendant, &state);
        let Write::Put { key, value, table } = record.write() else {
            panic!("a put")
        };
        assert_eq!(table, Table::Provided);
        assert_eq!(key, b"attendant\nsip:desk1@example.com");
        let back: ProvidedRecord = serde_json::from_slice(&value).unwrap();
        assert_eq!(back.state(), Ok((ProvidedSource::Attendant, state)));
        let Write::Delete { key, .. } =
            ProvidedRecord::delete("tel:+31612345678", ProvidedSource::Pstn)
        else {
            panic!("a delete")
        };
        assert_eq!(key, b"pstn\ntel:+31612345678");
    }

    #[test]
    fn an_unknown_source_names_the_presentity() {
        let record = ProvidedRecord {
            presentity: "sip:a@example.com".to_owned(),
            source: "sync".to_owned(),
            availability: 3500,
            texts: Vec::new(),
        };
        let e = record.state().unwrap_err().to_string();
        assert!(e.contains("\"sync\" state of sip:a@example.com"), "{e}");
    }
}
