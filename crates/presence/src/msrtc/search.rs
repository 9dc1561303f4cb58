//! The directory search of the dialect ([MS-PRES] §2.2.1, "SIP-Based
//! Active Directory Search"): a SERVICE to the domain's URI
//! (`sip:example.com`) whose `application/SOAP+xml` body asks for
//! entries matching attribute prefixes, and the 200 that lists them.
//! pidgin-sipe sends it from its "Contact search" dialog when no
//! [MS-DLX] address-book service is provisioned (`sip-soap.c`
//! `sip_soap_directory_search`) and reads `Body/Array/row` and
//! `Body/directorySearch/moreAvailable` back
//! (`sipe-buddy.c` `process_search_contact_response`).
//!
//! ```xml
//! <s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
//!             xmlns:m="http://schemas.microsoft.com/winrtc/2002/11/sip">
//!   <s:Body>
//!     <m:directorySearch><m:filter m:href="#searchArray"/><m:maxResults>100</m:maxResults></m:directorySearch>
//!     <m:Array m:id="searchArray"><m:row m:attrib="givenName" m:value="vtc"/></m:Array>
//!   </s:Body>
//! </s:Envelope>
//! ```

use bytes::Bytes;

use super::markup::Markup;
use super::read::{self, El, Ns, Reader};
use super::{namespace, MsrtcError};
use crate::XmlLimits;

/// The most results a client may ask for; larger `maxResults` are cut to
/// this, so one request cannot make the server render its whole
/// directory.
pub const MAX_RESULTS: usize = 200;

/// One `<m:row m:attrib m:value/>` of the request: an Active Directory
/// attribute and the prefix its value must start with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRow {
    /// The attribute as the client names it (`givenName`, `sn`, `mail`,
    /// `msRTCSIP-PrimaryUserAddress`, `company`, `c`, ...).
    pub attribute: String,
    /// The prefix.
    pub value: String,
}

/// A parsed `directorySearch` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRequest {
    /// The rows; every one must match (Active Directory ANDs them).
    pub rows: Vec<SearchRow>,
    /// How many entries the client wants, at most [`MAX_RESULTS`].
    pub max_results: usize,
}

/// Whether a SOAP body is a directory search rather than a contact-list
/// request, without parsing it: the engine routes on it before the
/// contact-list reader, which refuses primitives it does not know.
pub fn is_search(body: &[u8]) -> bool {
    const NAME: &[u8] = b"directorySearch";
    body.windows(NAME.len()).any(|w| w == NAME)
}

/// Reads a `directorySearch` request. The rows are taken from the
/// body's `Array` elements (the one `filter` points at; SIPE and
/// Communicator send exactly one).
pub fn parse(bytes: &[u8], limits: &XmlLimits) -> Result<SearchRequest, MsrtcError> {
    read::document(bytes, limits, |cursor| {
        let envelope = read::root(
            cursor,
            Ns::SoapEnvelope,
            "Envelope",
            namespace::SOAP_ENVELOPE,
        )?;
        let mut max_results = None;
        let mut found = false;
        let mut rows = Vec::new();
        while let Some(body) = cursor.next_child(&envelope)? {
            if !read::is(&body, Ns::SoapEnvelope, "Body") {
                cursor.skip(&body)?;
                continue;
            }
            while let Some(child) = cursor.next_child(&body)? {
                if read::is(&child, Ns::WinrtcSip, "directorySearch") {
                    found = true;
                    max_results = search_options(cursor, child)?.or(max_results);
                } else if read::is(&child, Ns::WinrtcSip, "Array") {
                    array_rows(cursor, child, &mut rows)?;
                } else {
                    cursor.skip(&child)?;
                }
            }
        }
        if !found {
            return Err(MsrtcError::MissingElement {
                element: "Body",
                child: "directorySearch",
                position: envelope.position,
            });
        }
        Ok(SearchRequest {
            rows,
            max_results: max_results.unwrap_or(MAX_RESULTS).min(MAX_RESULTS),
        })
    })
}

fn search_options<'a>(
    cursor: &mut Reader<'a>,
    element: El<'a>,
) -> Result<Option<usize>, MsrtcError> {
    let mut max = None;
    while let Some(child) = cursor.next_child(&element)? {
        if read::is(&child, Ns::WinrtcSip, "maxResults") {
            max = Some(read::number(cursor, &child, "maxResults")?);
        } else {
            cursor.skip(&child)?;
        }
    }
    Ok(max)
}

fn array_rows<'a>(
    cursor: &mut Reader<'a>,
    element: El<'a>,
    rows: &mut Vec<SearchRow>,
) -> Result<(), MsrtcError> {
    while let Some(row) = cursor.next_child(&element)? {
        if !read::is(&row, Ns::WinrtcSip, "row") {
            cursor.skip(&row)?;
            continue;
        }
        let attribute = winrtc_attribute(cursor, &row, "attrib")?;
        let value = winrtc_attribute(cursor, &row, "value")?;
        cursor.skip(&row)?;
        rows.push(SearchRow { attribute, value });
    }
    Ok(())
}

/// `m:attrib` / `m:value`, or the same without a prefix (both are seen).
fn winrtc_attribute<'a>(
    cursor: &Reader<'a>,
    row: &El<'a>,
    name: &'static str,
) -> Result<String, MsrtcError> {
    let qualified = cursor.attribute_in(row, namespace::WINRTC_SIP.as_bytes(), name.as_bytes())?;
    match qualified {
        Some(v) => Ok(v),
        None => read::required(row, "row", name),
    }
}

/// One entry of the answer: [MS-PRES]'s search result attributes, of
/// which SIPE shows `uri`, `displayName`, `company`, `country` and
/// `email`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchHit {
    /// `sip:user@host` (SIPE cuts the scheme off and requires it).
    pub uri: String,
    /// The name shown.
    pub display_name: Option<String>,
    /// Job title.
    pub title: Option<String>,
    /// Office (Active Directory's department or office name).
    pub office: Option<String>,
    /// Work telephone number.
    pub phone: Option<String>,
    /// Company.
    pub company: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
}

/// Renders the 200's body: the `directorySearch` result with
/// `moreAvailable`, and an `Array` with one `row` per hit, attributes
/// unprefixed (SIPE looks them up by local name).
pub fn render_response(hits: &[SearchHit], more_available: bool) -> Bytes {
    let mut markup = Markup::with_capacity(256 + hits.len() * 256);
    markup
        .start("s:Envelope")
        .attr("xmlns:s", namespace::SOAP_ENVELOPE)
        .attr("xmlns:m", namespace::WINRTC_SIP)
        .open()
        .start("s:Body")
        .open()
        .start("m:directorySearch")
        .open()
        .start("m:returnValue")
        .attr("m:href", "#searchResults")
        .empty()
        .leaf(
            "m:moreAvailable",
            if more_available { "true" } else { "false" },
        )
        .end("m:directorySearch")
        .start("m:Array")
        .attr("m:id", "searchResults")
        .open();
    for hit in hits {
        markup
            .start("m:row")
            .attr("uri", &hit.uri)
            .attr_opt("displayName", hit.display_name.as_deref())
            .attr_opt("title", hit.title.as_deref())
            .attr_opt("office", hit.office.as_deref())
            .attr_opt("phone", hit.phone.as_deref())
            .attr_opt("company", hit.company.as_deref())
            .attr_opt("country", hit.country.as_deref())
            .attr_opt("email", hit.email.as_deref())
            .empty();
    }
    markup.end("m:Array").end("s:Body").end("s:Envelope");
    Bytes::from(markup.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What SIPE 1.25 sends for "First name: vtc" (sip-soap.c).
    const SIPE_REQUEST: &[u8] = br##"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/winrtc/2002/11/sip"><s:Body><m:directorySearch><m:filter m:href="#searchArray"/><m:maxResults>100</m:maxResults></m:directorySearch><m:Array m:id="searchArray"><m:row m:attrib="givenName" m:value="vtc"/><m:row m:attrib="msRTCSIP-PrimaryUserAddress" m:value="sip:vtc"/></m:Array></s:Body></s:Envelope>"##;

    /// [MS-PRES] §2.2.1's example, with namespaces declared per element.
    const SPEC_REQUEST: &[u8] =
        br##"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">
  <SOAP-ENV:Body>
    <m:directorySearch xmlns:m="http://schemas.microsoft.com/winrtc/2002/11/sip">
      <m:filter m:href="#searchArray"/>
      <m:maxResults>500</m:maxResults>
    </m:directorySearch>
    <m:Array xmlns:m="http://schemas.microsoft.com/winrtc/2002/11/sip" m:id="searchArray">
      <m:row m:attrib="givenName" m:value="Alice"/>
    </m:Array>
  </SOAP-ENV:Body>
</SOAP-ENV:Envelope>"##;

    #[test]
    fn reads_sipes_request() {
        assert!(is_search(SIPE_REQUEST));
        let request = parse(SIPE_REQUEST, &XmlLimits::DEFAULT).unwrap();
        assert_eq!(request.max_results, 100);
        assert_eq!(
            request.rows,
            [
                SearchRow {
                    attribute: "givenName".into(),
                    value: "vtc".into()
                },
                SearchRow {
                    attribute: "msRTCSIP-PrimaryUserAddress".into(),
                    value: "sip:vtc".into()
                },
            ]
        );
    }

    #[test]
    fn reads_the_specs_example_and_caps_max_results() {
        let request = parse(SPEC_REQUEST, &XmlLimits::DEFAULT).unwrap();
        assert_eq!(request.rows.len(), 1);
        assert_eq!(request.rows[0].value, "Alice");
        assert_eq!(request.max_results, MAX_RESULTS);
    }

    #[test]
    fn refusals_name_the_element() {
        let contact = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/winrtc/2002/11/sip"><s:Body><m:setContact/></s:Body></s:Envelope>"#;
        assert!(!is_search(contact));
        let e = parse(contact, &XmlLimits::DEFAULT).unwrap_err().to_string();
        assert!(e.contains("missing <directorySearch> in <Body>"), "{e}");
        let no_value = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/winrtc/2002/11/sip"><s:Body><m:directorySearch/><m:Array><m:row m:attrib="sn"/></m:Array></s:Body></s:Envelope>"#;
        let e = parse(no_value, &XmlLimits::DEFAULT)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing value attribute on <row>"), "{e}");
        let bad_max = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/winrtc/2002/11/sip"><s:Body><m:directorySearch><m:maxResults>many</m:maxResults></m:directorySearch></s:Body></s:Envelope>"#;
        let e = parse(bad_max, &XmlLimits::DEFAULT).unwrap_err().to_string();
        assert!(e.contains("invalid <maxResults> value \"many\""), "{e}");
    }

    #[test]
    fn renders_what_sipe_reads() {
        let hits = [
            SearchHit {
                uri: "sip:vtc-oslo@vc.example.com".into(),
                display_name: Some("VTC Oslo & Bergen".into()),
                company: Some("Example".into()),
                ..SearchHit::default()
            },
            SearchHit {
                uri: "sip:alice@example.com".into(),
                email: Some("alice@example.com".into()),
                ..SearchHit::default()
            },
        ];
        let body = render_response(&hits, true);
        let text = std::str::from_utf8(&body).unwrap();
        assert!(
            text.contains("<m:moreAvailable>true</m:moreAvailable>"),
            "{text}"
        );
        assert!(
            text.contains(r#"<m:row uri="sip:vtc-oslo@vc.example.com" displayName="VTC Oslo &amp; Bergen" company="Example"/>"#),
            "{text}"
        );
        assert!(text.contains(r#"<m:row uri="sip:alice@example.com" email="alice@example.com"/>"#));
        // Rows precede nothing else in Body/Array: what SIPE walks.
        let array = text.find("<m:Array").unwrap();
        assert!(text[array..].contains("</m:Array></s:Body></s:Envelope>"));
    }
}
