//! Fuzzing the framer — the one the servers' sessions, the client's connection and its
//! input reader all run — with proptest (cargo-fuzz needs a nightly compiler, which CI
//! does not have): arbitrary byte streams, split arbitrarily into reads, under any limit.
//! The framer never panics, never holds more than the limit + 2 bytes in line framing,
//! and gives the same frames however the stream is split, the same as one read of all of
//! it, and the same as a plain model of the rules applied to the whole stream; it counts
//! the frames it holds ([`protocol::Framer::frames_waiting`]) before they are taken. The
//! client's [`protocol::Connection`] reads responses through it within the same bound.
//!
//! The case count is 4,000 per property, a few seconds in a debug build; set
//! `PROPTEST_CASES` for a longer run, e.g. `PROPTEST_CASES=200000 cargo test -p protocol
//! --test fuzz --release`.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::rc::Rc;

use proptest::prelude::*;
use protocol::codec::{decode_line_response, decode_request};
use protocol::{Connection, Frame, Framer, Framing, ResponseError};

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

/// Byte streams that look like requests often enough to reach every branch: request
/// fragments, separators, `\r`, invalid UTF-8 and NUL, glued together.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..40),
        3 => Just(b"\n".to_vec()),
        2 => Just(b"|".to_vec()),
        2 => Just(b"\r\n".to_vec()),
        1 => Just(b"\r".to_vec()),
        2 => prop::sample::select(vec![
            &b"1|"[..], b"2|", b"3|", b"case|", b" Eval |", b"REVERSE|", b"9|", b"x|",
            b"OK ", b"ERR ",
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

/// Limits from 1 byte to the servers' default, small ones often (they reach the edges).
fn limit() -> impl Strategy<Value = usize> {
    prop_oneof![1usize..8, 8usize..300, Just(65_536)]
}

/// A frame, owned, to compare sequences of them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Complete(Vec<u8>),
    Unterminated(Vec<u8>),
    TooLong,
}

/// Takes every frame the framer has now, decoding each as a server would (which must
/// not panic whatever the bytes); checks that `frames_waiting` said how many there were.
fn drain(framer: &mut Framer, out: &mut Vec<Got>) -> Result<(), TestCaseError> {
    let framing = framer.framing();
    let waiting = framer.frames_waiting();
    let before = out.len();
    while let Some(frame) = framer.next_frame() {
        let got = match frame {
            Frame::Complete(bytes) => Got::Complete(bytes.to_vec()),
            Frame::Unterminated(bytes) => Got::Unterminated(bytes.to_vec()),
            Frame::TooLong => Got::TooLong,
        };
        if let Got::Complete(bytes) | Got::Unterminated(bytes) = &got {
            let _ = decode_request(bytes, framing);
        }
        out.push(got);
    }
    prop_assert_eq!(out.len() - before, waiting, "frames_waiting said otherwise");
    Ok(())
}

/// The line framing's rules applied to a whole stream: each `\n`-terminated line is a
/// frame, or too long when it is over the limit without one trailing `\r`; what follows
/// the last `\n`, when not empty, is an unterminated frame under the same limit.
fn model(bytes: &[u8], limit: usize) -> Vec<Got> {
    let over = |line: &[u8]| line.strip_suffix(b"\r").unwrap_or(line).len() > limit;
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    let last = lines.pop().unwrap_or_default();
    let mut frames: Vec<Got> = lines
        .into_iter()
        .map(|line| {
            if over(line) {
                Got::TooLong
            } else {
                Got::Complete(line.to_vec())
            }
        })
        .collect();
    if over(last) {
        frames.push(Got::TooLong);
    } else if !last.is_empty() {
        frames.push(Got::Unterminated(last.to_vec()));
    }
    frames
}

/// Feeds `bytes` to a framer in reads of the scripted sizes (cycling), never more than
/// its room, alternately copied in and read in place; checks after each read that it
/// holds no more than `bound` bytes. Returns every frame, the end of the stream included.
fn chopped(
    framing: Framing,
    limit: usize,
    bytes: &[u8],
    sizes: &[usize],
    bound: usize,
) -> Result<Vec<Got>, TestCaseError> {
    let mut framer = Framer::new(framing, limit);
    let mut frames = Vec::new();
    let mut pos = 0;
    for turn in 0.. {
        if pos == bytes.len() {
            break;
        }
        let room = framer.room();
        prop_assert!(room > 0, "no room with no frame waiting");
        let n = sizes[turn % sizes.len()].min(room).min(bytes.len() - pos);
        let read = &bytes[pos..pos + n];
        if turn % 2 == 0 {
            framer.receive(read);
        } else {
            let filled = framer.receive_with(room, |buf| {
                buf[..n].copy_from_slice(read);
                Ok::<_, ()>(n)
            });
            prop_assert_eq!(filled, Ok(n));
        }
        pos += n;
        prop_assert!(
            framer.buffered() <= bound,
            "holds {} bytes, past {}",
            framer.buffered(),
            bound
        );
        drain(&mut framer, &mut frames)?;
    }
    framer.receive_eof();
    prop_assert_eq!(framer.room(), 0);
    drain(&mut framer, &mut frames)?;
    prop_assert!(!framer.has_frame());
    Ok(frames)
}

/// All of `bytes` handed over in one read, then the end of the stream.
fn one_read(framing: Framing, limit: usize, bytes: &[u8]) -> Result<Vec<Got>, TestCaseError> {
    let mut framer = Framer::new(framing, limit);
    let mut frames = Vec::new();
    framer.receive(bytes);
    drain(&mut framer, &mut frames)?;
    framer.receive_eof();
    drain(&mut framer, &mut frames)?;
    Ok(frames)
}

/// A stream that hands out `bytes` in reads of the scripted sizes (cycling), and checks
/// on every read that the reader's unconsumed bytes plus the read it asks for stay within
/// `limit + 2`.
struct Chopped {
    bytes: Vec<u8>,
    pos: usize,
    sizes: Vec<usize>,
    turn: usize,
    limit: usize,
    /// Bytes of the stream the test has seen read (whole lines with their `\n`).
    consumed: Rc<Cell<usize>>,
}

impl Read for Chopped {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let held = self.pos - self.consumed.get();
        assert!(
            held + buf.len() <= self.limit + 2,
            "the reader holds {held} bytes and asks for {} more, past the limit {}",
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

proptest! {
    #![proptest_config(config())]

    /// Line framing: any bytes, any split, any limit. No panic; never more than the limit
    /// + 2 bytes held, and room whenever no frame waits; the frames are those of one read
    /// of the whole stream and those of the model.
    #[test]
    fn line_framer_survives_anything(
        bytes in stream(),
        sizes in prop::collection::vec(1usize..700, 1..8),
        limit in limit(),
    ) {
        let frames = chopped(Framing::Line, limit, &bytes, &sizes, limit + 2)?;
        prop_assert_eq!(&frames, &one_read(Framing::Line, limit, &bytes)?);
        prop_assert_eq!(&frames, &model(&bytes, limit));
    }

    /// Raw framing: each read of at most the limit is one frame, whatever it holds, and
    /// nothing is kept from one read to the next.
    #[test]
    fn raw_framer_takes_each_read(
        bytes in stream(),
        sizes in prop::collection::vec(1usize..1500, 1..8),
        limit in prop_oneof![1usize..8, Just(1024)],
    ) {
        let frames = chopped(Framing::Raw, limit, &bytes, &sizes, limit)?;
        let mut reads = Vec::new();
        let mut pos = 0;
        for turn in 0.. {
            if pos == bytes.len() {
                break;
            }
            let n = sizes[turn % sizes.len()].min(limit).min(bytes.len() - pos);
            reads.push(Got::Complete(bytes[pos..pos + n].to_vec()));
            pos += n;
        }
        prop_assert_eq!(frames, reads);
    }

    /// The client's connection: any bytes, any split, any limit. Each response line is
    /// read as decoding it alone gives, a line over the limit is `TooLong` and a last line
    /// without its `\n` is `Truncated`, both after no more than the limit + 2 bytes held.
    #[test]
    fn connection_reads_responses_within_the_limit(
        bytes in stream(),
        sizes in prop::collection::vec(1usize..700, 1..8),
        limit in limit(),
    ) {
        let consumed = Rc::new(Cell::new(0));
        let stream = Chopped {
            bytes: bytes.clone(),
            pos: 0,
            sizes,
            turn: 0,
            limit,
            consumed: Rc::clone(&consumed),
        };
        let mut conn = Connection::with_limit(stream, Framing::Line, limit);
        for frame in model(&bytes, limit) {
            let got = conn.read_response();
            match (got, frame) {
                (got, Got::Complete(line)) => {
                    let want = decode_line_response(&line);
                    match (got, want) {
                        (Ok(Some(response)), Ok(want)) => prop_assert_eq!(response, want),
                        (Err(ResponseError::Malformed(e)), Err(want)) => prop_assert_eq!(e, want),
                        (got, want) => prop_assert!(false, "line {:?}: got {:?}, want {:?}", line, got, want),
                    }
                    consumed.set(consumed.get() + line.len() + 1);
                }
                (Err(ResponseError::TooLong { limit: said }), Got::TooLong) => {
                    prop_assert_eq!(said, limit);
                    return Ok(());
                }
                (Err(ResponseError::Truncated { received }), Got::Unterminated(line)) => {
                    prop_assert_eq!(received, line.len());
                    return Ok(());
                }
                (got, want) => prop_assert!(false, "got {:?}, want {:?}", got, want),
            }
        }
        prop_assert!(matches!(conn.read_response(), Ok(None)));
        prop_assert!(matches!(conn.read_response(), Ok(None)), "a clean end stays one");
    }
}
