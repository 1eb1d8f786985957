//! The tutorial's interactive menu, word for word, on one connection for the whole session.
//!
//! Decisions where the tutorial is silent or rough:
//! - An unknown choice prints `Invalid choice` (the words the tutorial's server answered an
//!   unknown choice with) and shows the menu again. Spaces around a choice are ignored.
//! - End of input at either prompt (Ctrl-D, or a closed or exhausted stdin) ends the
//!   session cleanly; a newline is printed first so the shell's prompt starts on a line
//!   of its own.
//! - The tutorial printed `Result: <answer>` even when the answer was an error; here an error
//!   response prints `Error: <message>`.
//! - Input is read as plain lines from stdin (no line-editing library): the terminal's
//!   own line editing works, and piping a script of choices in behaves exactly as typing.
//! - No more than [`MAX_REQUEST_BYTES`] of a line is ever held. A longer payload is
//!   refused here, before anything is sent, with the words the servers would use
//!   (`Error: request too long (limit 65536 bytes)`), and the menu goes on; so is a
//!   payload whose request (`N|payload`) would pass the limit. A longer choice is an
//!   `Invalid choice`. The message comes as soon as the line passes the limit; the rest
//!   of the line is dropped as it is read, so `client < /dev/zero` runs in bounded
//!   memory (for as long as the zeros last).
//! - The server's answers are shown escaped when the output is a terminal (see
//!   [`TextMode`]).

use std::io::{self, Read, Write};

use protocol::{Op, Request, Response};

use crate::client::{Client, MAX_REQUEST_BYTES};
use crate::display::TextMode;
use crate::error::ClientError;
use crate::input::{Line, LineReader};

/// The menu, shown after a blank line before every choice, as the tutorial printed it.
pub const MENU: &str = "1. Change case\n2. Evaluate expression\n3. Reverse string\n4. Exit";

/// The prompt for a choice.
pub const CHOICE_PROMPT: &str = "Enter choice (1-4): ";

/// The prompt for a request's payload.
pub const INPUT_PROMPT: &str = "Enter input: ";

/// Why a menu session ended other than by choice 4 or the end of input.
#[derive(Debug, thiserror::Error)]
pub enum MenuError {
    /// The connection to the server failed.
    #[error(transparent)]
    Connection(#[from] ClientError),
    /// The user's input could not be read.
    #[error("could not read input")]
    Input(#[source] io::Error),
    /// The output could not be written (for example a closed pipe).
    #[error("could not write output")]
    Output(#[source] io::Error),
}

/// Runs the menu: prints `Connected to server at HOST:PORT`, then the menu loop, reading
/// choices and payloads from `input` and writing everything to `output`, the server's
/// text as `mode` says.
///
/// # Errors
///
/// [`MenuError::Connection`] when the server goes away or stops answering; the input and
/// output errors otherwise. Choice 4 and the end of input are `Ok`.
pub fn run_menu<I: Read, O: Write>(
    client: &mut Client,
    input: I,
    mut output: O,
    mode: TextMode,
) -> Result<(), MenuError> {
    let out = &mut output;
    let mut input = LineReader::new(input, MAX_REQUEST_BYTES);
    say(
        out,
        format_args!("Connected to server at {}\n", client.peer_addr()),
    )?;
    loop {
        say(out, format_args!("\n{MENU}\n{CHOICE_PROMPT}"))?;
        let choice = match next_line(&mut input)? {
            Line::Read(line) => String::from_utf8_lossy(strip_cr(line)),
            Line::End => return say(out, format_args!("\n")),
            Line::TooLong => {
                say(out, format_args!("Invalid choice\n"))?;
                continue;
            }
        };
        let op = match choice.trim() {
            "4" => return Ok(()),
            "1" => Op::ChangeCase,
            "2" => Op::Evaluate,
            "3" => Op::Reverse,
            _ => {
                say(out, format_args!("Invalid choice\n"))?;
                continue;
            }
        };
        say(out, format_args!("{INPUT_PROMPT}"))?;
        let payload = match next_line(&mut input)? {
            Line::Read(line) => String::from_utf8_lossy(strip_cr(line)).into_owned(),
            Line::End => return say(out, format_args!("\n")),
            Line::TooLong => {
                say(out, format_args!("Error: {}\n", ClientError::TooLong))?;
                continue;
            }
        };
        match client.request(&Request::new(op, payload)) {
            Ok(Response::Ok(result)) => {
                say(out, format_args!("Result: {}\n", mode.show(&result)))?;
            }
            Ok(Response::Err(message)) => {
                say(out, format_args!("Error: {}\n", mode.show(&message)))?;
            }
            Err(e) if !e.is_fatal() => say(out, format_args!("Error: {e}\n"))?,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Writes and flushes, so that a prompt shows before the read that follows it.
fn say(out: &mut impl Write, text: std::fmt::Arguments<'_>) -> Result<(), MenuError> {
    out.write_fmt(text)
        .and_then(|()| out.flush())
        .map_err(MenuError::Output)
}

/// The next line, without its `\n`, holding at most [`MAX_REQUEST_BYTES`] of it. Bytes
/// that are not UTF-8 become U+FFFD when it is used.
fn next_line<R: Read>(input: &mut LineReader<R>) -> Result<Line<'_>, MenuError> {
    input.next_line().map_err(MenuError::Input)
}

/// A line without the `\r` of a `\r\n` ending.
fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}
