//! Fuzzing the request decoder with proptest (cargo-fuzz needs a nightly compiler, which
//! CI does not have): arbitrary byte streams, split arbitrarily into reads, under any
//! limit. The decoder never panics, never holds more than the limit plus one byte of an
//! unfinished line, and turns every complete line into exactly one result, the same one
//! [`protocol::codec::decode_line_request`] gives for that line on its own.
//!
//! The case count is 4,000 per property, a few seconds in a debug build; set
//! `PROPTEST_CASES` for a longer run, e.g. `PROPTEST_CASES=200000 cargo test -p protocol
//! --test fuzz --release`.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::rc::Rc;

use proptest::prelude::*;
use protocol::codec::decode_line_request;
use protocol::{Connection, Framing, ReadError, Request, RequestError};

/// Cases per property: `PROPTEST_CASES` when set, 4,000 otherwise.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(4_000);
    ProptestConfig {
        cases,
        // A failure prints its minimal case; nothing is written into the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A stream that hands out `bytes` in reads of the scripted sizes (cycling), and checks
/// on every read that the decoder's unconsumed bytes plus the read it asks for stay within
/// `limit + 1`.
struct Chopped {
    bytes: Vec<u8>,
    pos: usize,
    sizes: Vec<usize>,
    turn: usize,
    limit: usize,
    /// Bytes of the stream the test has seen decoded (whole lines with their `\n`).
    consumed: Rc<Cell<usize>>,
    /// The most the decoder ever held or asked to hold at once.
    peak: Rc<Cell<usize>>,
}

impl Read for Chopped {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let held = self.pos - self.consumed.get();
        self.peak.set(self.peak.get().max(held + buf.len()));
        assert!(
            held + buf.len() <= self.limit + 1,
            "the decoder holds {held} bytes and asks for {} more, past the limit {}",
            buf.len(),
            self.limit
        );
        let size = self.sizes[self.turn % self.sizes.len()];
        self.turn += 1;
        let n = size.min(buf.len()).min(self.bytes.len() - self.pos);
        buf[..n].copy_from_slice(&self.bytes[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for Chopped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Byte streams that look like requests often enough to reach every branch: request
/// fragments, separators, `\r`, invalid UTF-8 and NUL, glued together.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..40),
        3 => Just(b"\n".to_vec()),
        2 => Just(b"|".to_vec()),
        1 => Just(b"\r\n".to_vec()),
        2 => prop::sample::select(vec![
            &b"1|"[..], b"2|", b"3|", b"case|", b" Eval |", b"REVERSE|", b"9|", b"x|",
        ])
        .prop_map(<[u8]>::to_vec),
        2 => "[a-zA-Z0-9 ()+*/.-]{0,30}".prop_map(String::into_bytes),
        1 => prop::sample::select(vec![
            &b"\xc3"[..], b"\xa9", b"\xf0\x9f\x98\x80", b"\xff", b"\0", b"\xed\xa0\x80",
        ])
        .prop_map(<[u8]>::to_vec),
        1 => (1usize..300).prop_map(|n| vec![b'a'; n]),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

/// What the decoder must say about one line (without its `\n`) under `limit`: `None` when
/// the line is over the limit (the connection ends there).
fn expected(line: &[u8], limit: usize) -> Option<Result<Request, RequestError>> {
    (line.len() <= limit).then(|| decode_line_request(line))
}

proptest! {
    #![proptest_config(config())]

    /// Line framing: any bytes, any split, any limit. No panic; at most `limit + 1`
    /// bytes held; each line — the last one also without a `\n` — gives exactly one
    /// result, equal to decoding that line alone; a line over the limit gives `TooLong`
    /// and nothing after it.
    #[test]
    fn line_decoder_survives_anything(
        bytes in stream(),
        sizes in prop::collection::vec(1usize..700, 1..8),
        limit in prop_oneof![1usize..8, 8usize..300, Just(65_536)],
    ) {
        let consumed = Rc::new(Cell::new(0));
        let peak = Rc::new(Cell::new(0));
        let chopped = Chopped {
            bytes: bytes.clone(),
            pos: 0,
            sizes,
            turn: 0,
            limit,
            consumed: Rc::clone(&consumed),
            peak: Rc::clone(&peak),
        };
        let mut conn = Connection::with_limit(chopped, Framing::Line, limit);
        let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
        if lines.last().is_some_and(|l| l.is_empty()) {
            // A stream that ends with `\n` (or is empty) has no unfinished last line.
            lines.pop();
        }
        let mut lines = lines.into_iter();
        loop {
            let got = conn.read_request();
            let Some(line) = lines.next() else {
                prop_assert!(matches!(got, Ok(None)), "a result with no line left: {:?}", got);
                break;
            };
            match (got, expected(line, limit)) {
                (Ok(Some(request)), Some(Ok(want))) => prop_assert_eq!(request, want),
                (Err(ReadError::Invalid(e)), Some(Err(want))) => prop_assert_eq!(e, want),
                (Err(ReadError::TooLong { limit: said }), None) => {
                    prop_assert_eq!(said, limit);
                    break;
                }
                (got, want) => prop_assert!(false, "line {:?}: got {:?}, want {:?}", line, got, want),
            }
            // The last line may have no `\n` to consume.
            consumed.set((consumed.get() + line.len() + 1).min(bytes.len()));
        }
        prop_assert!(peak.get() <= limit + 1);
    }

    /// Raw framing: each read is one request, whatever it holds; never a panic, and
    /// never more than one read's worth (1024 bytes) asked for.
    #[test]
    fn raw_decoder_survives_anything(
        bytes in stream(),
        sizes in prop::collection::vec(1usize..1500, 1..8),
    ) {
        let consumed = Rc::new(Cell::new(0));
        let chopped = Chopped {
            bytes: bytes.clone(),
            pos: 0,
            sizes: sizes.clone(),
            turn: 0,
            // Raw framing keeps nothing between reads and asks for 1024 bytes at most.
            limit: 1023,
            consumed: Rc::clone(&consumed),
            peak: Rc::new(Cell::new(0)),
        };
        let mut conn = Connection::new(chopped, Framing::Raw);
        let mut pos = 0;
        let mut turn = 0;
        while pos < bytes.len() {
            let n = sizes[turn % sizes.len()].min(1024).min(bytes.len() - pos);
            turn += 1;
            let want = protocol::parse_request(&bytes[pos..pos + n]);
            match (conn.read_request(), want) {
                (Ok(Some(request)), Ok(want)) => prop_assert_eq!(request, want),
                (Err(ReadError::Invalid(e)), Err(want)) => prop_assert_eq!(e, want),
                (got, want) => prop_assert!(false, "got {:?}, want {:?}", got, want),
            }
            pos += n;
            consumed.set(pos);
        }
        prop_assert!(matches!(conn.read_request(), Ok(None)));
    }
}
