//! Batch mode: every `op|payload` line of an input sent over one connection, pipelined,
//! and one output line per input line, in order.
//!
//! Output: `OK <result>` or `ERR <message>`, the line framing's own wire form, so a
//! script can tell results from errors by the first word even when a result happens to
//! read like an error message. A line that cannot be sent (malformed, unknown
//! operation, not UTF-8, too long) gets its `ERR` line without a round trip, so the
//! output stays aligned with the input. Results are written byte for byte, or escaped
//! when the output is a terminal (see [`TextMode`]).
//!
//! No more than [`MAX_REQUEST_BYTES`] + 2 bytes of an input line are ever held: a longer line
//! gets its `ERR request too long` as soon as it passes the limit, and the rest of it is
//! read and dropped, so a line without end (`client --batch < /dev/zero`) takes bounded
//! memory, and a batch with one over-long line in it still answers every other line.
//!
//! `--timeout` bounds each response: from the moment the reader starts waiting for it,
//! the whole response line must arrive within the timeout. Writes are not bounded, as a
//! server that answers a buffer of requests one after another under `--delay` reads the
//! next ones only when it is done with those.
//!
//! In line framing a writer thread sends requests on a clone of the socket while the
//! calling thread reads responses, so writing and reading overlap and neither waits for
//! the other's buffers to drain: a file of a million lines streams through. The writer
//! hands the reader one *chunk* of slots (one per input line) before it writes the bytes
//! of that chunk, so every response the reader waits for has been, or is being, sent. The
//! raw framing cannot pipeline (a response has no terminator), so there the batch goes
//! one request at a time.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::thread;

use protocol::{Framing, Response, codec};

use crate::client::{Client, MAX_REQUEST_BYTES};
use crate::display::TextMode;
use crate::error::ClientError;
use crate::input::{Line, LineReader};

/// Requests are handed to the socket in writes of about this many bytes.
const CHUNK_BYTES: usize = 64 * 1024;

/// Chunks handed over but not yet answered, at most: with [`CHUNK_BYTES`] this bounds
/// what the client holds in memory however long the input is.
const CHUNKS_IN_FLIGHT: usize = 8;

/// Lines handed over in one chunk, at most, so that a file of lines that are all
/// refused here cannot grow a chunk without bound either.
const CHUNK_LINES: usize = 8 * 1024;

/// What a finished batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchSummary {
    /// Input lines, each answered with one output line.
    pub lines: u64,
    /// Lines answered with `ERR`.
    pub failed: u64,
}

/// Why a batch stopped before its input ended.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The connection failed after `answered` lines were answered.
    #[error("batch stopped after {answered} lines")]
    Connection {
        /// Lines answered before the failure.
        answered: u64,
        /// What went wrong.
        #[source]
        source: ClientError,
    },
    /// The input could not be read.
    #[error("could not read the batch input")]
    Input(#[source] io::Error),
    /// The output could not be written (for example a closed pipe).
    #[error("could not write the batch output")]
    Output(#[source] io::Error),
}

/// What the reader does for one input line.
enum Slot {
    /// A request was sent; its response is on the way.
    Sent,
    /// The line could not be sent; this is its error message.
    Local(String),
}

impl Client {
    /// Sends every line of `input` as a request and writes one line per input line to
    /// `output`: `OK <result>` or `ERR <message>`, the server's text as `mode` says (see
    /// the [module docs](crate::batch)).
    ///
    /// The input is read on a thread of its own, hence `Send + 'static`.
    ///
    /// # Errors
    ///
    /// [`BatchError`] when the connection fails, or the input or output does. Output
    /// written before the failure stays written.
    pub fn run_batch<R, W>(
        self,
        input: R,
        output: W,
        mode: TextMode,
    ) -> Result<BatchSummary, BatchError>
    where
        R: Read + Send + 'static,
        W: Write,
    {
        let output = Output {
            out: io::BufWriter::with_capacity(CHUNK_BYTES, output),
            mode,
            summary: BatchSummary::default(),
        };
        match self.framing() {
            Framing::Line => self.run_pipelined(input, output),
            Framing::Raw => self.run_lockstep(input, output),
        }
    }

    fn run_pipelined<R, W>(
        mut self,
        input: R,
        output: Output<W>,
    ) -> Result<BatchSummary, BatchError>
    where
        R: Read + Send + 'static,
        W: Write,
    {
        let socket = &self.conn.get_ref().socket;
        let io_error = |e| BatchError::Connection {
            answered: 0,
            source: ClientError::from_io(e, None),
        };
        let writer_socket = socket.try_clone().map_err(io_error)?;
        // A write may wait on a server that is busy with the requests before it (a
        // `--delay` server answers a buffer of them one after another), so only the
        // responses are bounded by the timeout. The option is the socket's, shared by both
        // handles; the reader never writes, so never sets it.
        socket.set_write_timeout(None).map_err(io_error)?;
        let (slots_tx, slots_rx) = mpsc::sync_channel(CHUNKS_IN_FLIGHT);
        let writer = thread::Builder::new()
            .name("batch-writer".into())
            .spawn(move || write_requests(input, writer_socket, slots_tx))
            .map_err(io_error)?;

        let result = self.read_responses(slots_rx, output);
        if result.is_err() {
            // Unblock a writer stuck on a full socket; it is not joined, since it may be
            // waiting on input that never comes (a terminal).
            let _ = self.conn.get_ref().socket.shutdown(Shutdown::Both);
            return result;
        }
        match writer.join() {
            Ok(Ok(())) => result,
            Ok(Err(WriterError::Input(e))) => Err(BatchError::Input(e)),
            // The reader saw every response it waited for, so a failed write can only
            // have happened after the last one: report it, as the server went away.
            Ok(Err(WriterError::Socket(e))) => Err(BatchError::Connection {
                answered: result.map(|s| s.lines).unwrap_or_default(),
                source: ClientError::from_io(e, None),
            }),
            Err(_) => Err(BatchError::Input(io::Error::other(
                "the batch writer failed",
            ))),
        }
    }

    /// The reader's half: a response (or a local error) for each slot, in order.
    fn read_responses<W: Write>(
        &mut self,
        slots: Receiver<Vec<Slot>>,
        mut output: Output<W>,
    ) -> Result<BatchSummary, BatchError> {
        loop {
            let chunk = match slots.try_recv() {
                Ok(chunk) => chunk,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    // Nothing more is ready: show what is done before waiting.
                    output.flush()?;
                    match slots.recv() {
                        Ok(chunk) => chunk,
                        Err(_) => break,
                    }
                }
            };
            for slot in chunk {
                let response = match slot {
                    Slot::Local(message) => Response::Err(message),
                    Slot::Sent => {
                        // A complete line buffered means this read will not block, and
                        // needs no deadline; otherwise show what is done before waiting on
                        // the server, and start the clock of the wait.
                        if !self.conn.has_buffered_response() {
                            output.flush()?;
                            self.start_response_clock();
                        }
                        self.read_response()
                            .map_err(|source| BatchError::Connection {
                                answered: output.summary.lines,
                                source,
                            })?
                    }
                };
                output.write_line(&response)?;
            }
        }
        output.finish()
    }

    /// Raw framing: one request, one response, one after the other.
    fn run_lockstep<R: Read, W: Write>(
        mut self,
        input: R,
        mut output: Output<W>,
    ) -> Result<BatchSummary, BatchError> {
        let mut input = LineReader::new(input, MAX_REQUEST_BYTES);
        loop {
            let decoded = match input.next_line().map_err(BatchError::Input)? {
                Line::End => break,
                Line::Read(line) => codec::decode_line_request(line).map_err(|e| e.to_string()),
                Line::TooLong => {
                    // Shown before the rest of the line is read, which may never end.
                    output.write_line(&Response::Err(ClientError::TooLong.to_string()))?;
                    output.flush()?;
                    continue;
                }
            };
            let response = match decoded {
                Err(message) => Response::Err(message),
                Ok(request) => match self.request(&request) {
                    Ok(response) => response,
                    Err(e) if !e.is_fatal() => Response::Err(e.to_string()),
                    Err(source) => {
                        output.flush()?;
                        return Err(BatchError::Connection {
                            answered: output.summary.lines,
                            source,
                        });
                    }
                },
            };
            output.write_line(&response)?;
            if !input.has_line() {
                output.flush()?;
            }
        }
        output.finish()
    }
}

/// The batch's output and its count.
struct Output<W: Write> {
    out: io::BufWriter<W>,
    mode: TextMode,
    summary: BatchSummary,
}

impl<W: Write> Output<W> {
    /// Writes one response line and counts it.
    fn write_line(&mut self, response: &Response) -> Result<(), BatchError> {
        self.summary.lines += 1;
        let (word, text) = match response {
            Response::Ok(result) => ("OK", result),
            Response::Err(message) => {
                self.summary.failed += 1;
                ("ERR", message)
            }
        };
        // In exact mode `show` writes the text as it is, byte for byte.
        writeln!(self.out, "{word} {}", self.mode.show(text)).map_err(BatchError::Output)
    }

    /// Shows what is written so far.
    fn flush(&mut self) -> Result<(), BatchError> {
        self.out.flush().map_err(BatchError::Output)
    }

    /// Flushes and returns the count.
    fn finish(mut self) -> Result<BatchSummary, BatchError> {
        self.flush()?;
        Ok(self.summary)
    }
}

enum WriterError {
    Input(io::Error),
    Socket(io::Error),
}

/// The writer's half: reads lines, encodes requests, and hands each chunk of slots to the
/// reader just before writing the chunk's bytes.
fn write_requests<R: Read>(
    input: R,
    mut socket: TcpStream,
    slots: SyncSender<Vec<Slot>>,
) -> Result<(), WriterError> {
    let mut input = LineReader::new(input, MAX_REQUEST_BYTES);
    let mut bytes = Vec::with_capacity(CHUNK_BYTES + 1024);
    let mut chunk = Vec::new();
    // Handing over returns false once the reader has gone (it failed).
    let mut hand_over = |bytes: &mut Vec<u8>, chunk: &mut Vec<Slot>| {
        if slots.send(std::mem::take(chunk)).is_err() {
            return Ok(false);
        }
        socket.write_all(bytes).map_err(WriterError::Socket)?;
        bytes.clear();
        Ok(true)
    };
    loop {
        // Send what is ready before a read that may block, as a person typing at a
        // terminal expects an answer to each line at once.
        if !input.has_line() && !chunk.is_empty() && !hand_over(&mut bytes, &mut chunk)? {
            return Ok(());
        }
        let slot = match input.next_line() {
            Err(e) => return Err(WriterError::Input(e)),
            Ok(Line::End) => break,
            Ok(Line::Read(line)) => match codec::decode_line_request(line) {
                Err(e) => Slot::Local(e.to_string()),
                Ok(request) => match codec::encode_request(&request, Framing::Line, &mut bytes) {
                    Ok(()) => Slot::Sent,
                    Err(e) => Slot::Local(ClientError::Encode(e).to_string()),
                },
            },
            Ok(Line::TooLong) => {
                // Hand the refusal over at once, with the lines before it, so that it shows
                // before the rest of the line is read: that may never end.
                chunk.push(Slot::Local(ClientError::TooLong.to_string()));
                if !hand_over(&mut bytes, &mut chunk)? {
                    return Ok(());
                }
                continue;
            }
        };
        chunk.push(slot);
        let full = bytes.len() >= CHUNK_BYTES || chunk.len() >= CHUNK_LINES;
        if full && !hand_over(&mut bytes, &mut chunk)? {
            return Ok(());
        }
    }
    // The connection stays open both ways: the reader stops after the last slot, and
    // dropping the client closes it.
    if !chunk.is_empty() {
        hand_over(&mut bytes, &mut chunk)?;
    }
    Ok(())
}
