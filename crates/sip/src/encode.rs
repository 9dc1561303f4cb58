//! The serializer: messages back to wire text.
//!
//! Headers are written exactly as stored (received spelling, compact forms,
//! order), so `parse` then `encode` reproduces the input. The one exception
//! keeps framing safe: Content-Length always states the real body length,
//! and is added when missing, because a stream transport cannot delimit the
//! message otherwise (RFC 3261 §18.3).

use crate::grammar;
use crate::header::HeaderName;
use crate::message::{Message, Request, Response};

/// Appends `n` in decimal, what `write!(out, "{n}")` writes without going
/// through `fmt`: every NOTIFY carries three or four numbers, every request
/// a port or an address to stamp, and `fmt` was 1 750 instructions of a
/// NOTIFY's 3 900 (callgrind, a 1 000-watcher fan-out).
pub fn decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// `format!("{n:016x}")` without `fmt`: the To tags, entity-tags and
/// state tags a server makes for every request are sixteen hex digits.
pub fn hex16(n: u64) -> String {
    let digits = hex_digits(n);
    // Only ASCII hex digits were written.
    String::from_utf8_lossy(&digits).into_owned()
}

/// The sixteen lowercase hex digits of `n`, most significant first, made
/// eight at a time in a word (each nibble spread into its own byte, then
/// moved to its digit's code) instead of one at a time: every NOTIFY's
/// branch carries sixteen and a counter, every PUBLISH's entity-tag
/// sixteen.
pub fn hex_digits(n: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    let (high, low) = out.split_at_mut(8);
    high.copy_from_slice(&eight_digits((n >> 32) as u32));
    low.copy_from_slice(&eight_digits(n as u32));
    out
}

/// The eight hex digits of `x`, most significant first.
fn eight_digits(x: u32) -> [u8; 8] {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let x = u64::from(x);
    // Nibble i (from the least significant) into byte i.
    let x = (x | x << 16) & 0x0000_ffff_0000_ffff;
    let x = (x | x << 8) & 0x00ff_00ff_00ff_00ff;
    let x = (x | x << 4) & 0x0f0f_0f0f_0f0f_0f0f;
    // 1 in each byte whose nibble is 10 or more (adding 6 carries it
    // into bit 4, and no byte overflows into the next).
    let letters = ((x + 6 * ONES) >> 4) & ONES;
    // '0' + d for a digit, 'a' + (d - 10) = '0' + d + 39 for a letter.
    let ascii = x + u64::from(b'0') * ONES + 39 * letters;
    // Byte 0 holds the least significant digit: big-endian order puts
    // the most significant first.
    ascii.to_be_bytes()
}

impl Request {
    /// Appends the wire form to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(256 + self.body.len());
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.uri.as_bytes());
        out.extend_from_slice(b" SIP/2.0\r\n");
        encode_rest(&self.headers, &self.body, out);
    }

    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }
}

impl Response {
    /// Appends the wire form to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(256 + self.body.len());
        out.extend_from_slice(b"SIP/2.0 ");
        let code = self.status.min(999);
        out.extend_from_slice(&[
            b'0' + (code / 100) as u8,
            b'0' + (code / 10 % 10) as u8,
            b'0' + (code % 10) as u8,
        ]);
        out.push(b' ');
        // A reason phrase must not break the status line.
        out.extend(
            self.reason
                .iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        out.extend_from_slice(b"\r\n");
        encode_rest(&self.headers, &self.body, out);
    }

    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }
}

impl Message {
    /// The wire form of either kind.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Message::Request(r) => r.encode(),
            Message::Response(r) => r.encode(),
        }
    }
}

fn encode_rest(headers: &crate::header::Headers, body: &[u8], out: &mut Vec<u8>) {
    // Room for all of it at once: growing the buffer header by header was
    // a reallocation or two per response.
    let lines: usize = headers
        .iter()
        .map(|h| h.raw_name.len() + h.value.len() + 4)
        .sum();
    out.reserve(lines + 40 + body.len());
    let mut wrote_length = false;
    for h in headers.iter() {
        if h.name == HeaderName::ContentLength {
            if wrote_length {
                continue;
            }
            wrote_length = true;
            out.extend_from_slice(&h.raw_name);
            out.extend_from_slice(b": ");
            if grammar::parse_decimal(&h.value, u64::MAX) == Some(body.len() as u64) {
                out.extend_from_slice(&h.value);
            } else {
                decimal(out, body.len() as u64);
            }
            out.extend_from_slice(b"\r\n");
            continue;
        }
        out.extend_from_slice(&h.raw_name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(&h.value);
        out.extend_from_slice(b"\r\n");
    }
    if !wrote_length {
        out.extend_from_slice(b"Content-Length: ");
        decimal(out, body.len() as u64);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use crate::header::{Header, HeaderName};
    use crate::message::{Message, Response};
    use crate::parse::parse_datagram;
    use bytes::Bytes;

    #[test]
    fn numbers_write_what_format_writes() {
        for n in [
            0,
            1,
            7,
            10,
            99,
            0xabc,
            3600,
            0x0123_4567_89ab_cdef,
            u64::MAX,
        ] {
            assert_eq!(super::hex16(n), format!("{n:016x}"));
            let mut out = b"x".to_vec();
            super::decimal(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }

    proptest::proptest! {
        /// The word-at-a-time digits are `format!`'s, for any value and
        /// for every nibble at the 9/10 boundary the letters start at.
        #[test]
        fn hex_digits_are_format_s(n: u64, shift in 0u32..16) {
            let want = format!("{n:016x}");
            proptest::prop_assert_eq!(&super::hex_digits(n)[..], want.as_bytes());
            for d in [9u64, 10, 15] {
                let m = (n & !(0xf << (shift * 4))) | d << (shift * 4);
                let want = format!("{m:016x}");
                proptest::prop_assert_eq!(&super::hex_digits(m)[..], want.as_bytes());
            }
        }
    }

    #[test]
    fn round_trip_keeps_spelling_and_order() {
        let text = "NOTIFY sip:a@127.0.0.1:5070 SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK2\r\nf: <sip:b@h>;tag=2\r\nt: <sip:a@h>;tag=1\r\ni: x\r\nCSeq: 2 NOTIFY\r\nX-Odd:  spaced value\r\nContent-Length: 4\r\n\r\nbody";
        let m = parse_datagram(Bytes::from_static(text.as_bytes())).unwrap();
        let again = m.encode();
        // Only the extra space after the colon of X-Odd is normalised.
        assert_eq!(
            String::from_utf8(again).unwrap(),
            text.replace("X-Odd:  spaced", "X-Odd: spaced")
        );
    }

    #[test]
    fn content_length_is_always_true() {
        let mut r = Response {
            status: 200,
            reason: Bytes::from_static(b"OK"),
            headers: Default::default(),
            body: Bytes::from_static(b"abc"),
        };
        assert!(String::from_utf8(r.encode())
            .unwrap()
            .ends_with("Content-Length: 3\r\n\r\nabc"));
        r.headers.push(Header::new(HeaderName::ContentLength, "10"));
        assert!(String::from_utf8(r.encode())
            .unwrap()
            .ends_with("Content-Length: 3\r\n\r\nabc"));
        let _ = Message::Response(r);
    }
}
