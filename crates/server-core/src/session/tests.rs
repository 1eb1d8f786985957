//! The session's rules, with canned bytes and a fake clock: no sockets, no sleeping.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::config::{Level, parse};

const PEER: &str = "127.0.0.1:40000";

/// A session on the flags `args`, opened at `t0`.
fn session(args: &[&str], t0: Instant) -> Session {
    let config = Arc::new(parse(args).unwrap());
    Session::new(
        config,
        Log::new(Level::Warn),
        Who::MainProcess,
        PEER.parse().unwrap(),
        t0,
    )
}

/// Takes everything the session offers to send, as if the socket took it all at `now`.
fn take(s: &mut Session, now: Instant) -> String {
    let mut all = Vec::new();
    while let Some(bytes) = s.poll_transmit() {
        let n = bytes.len();
        all.extend_from_slice(bytes);
        s.handle_transmitted(n, now);
    }
    String::from_utf8(all).unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A request split over many reads is answered once, when its newline arrives.
#[test]
fn split_input_is_one_request() {
    let t0 = Instant::now();
    let mut s = session(&[], t0);
    for &b in b"3|abc" {
        s.handle_input(&[b], t0);
        assert_eq!(s.poll_transmit(), None);
    }
    s.handle_input(b"\n", t0);
    assert_eq!(take(&mut s, t0), "OK cba\n");
}

/// Pipelined requests are answered in order, all offered as one batch.
#[test]
fn pipelined_requests_go_out_in_one_batch() {
    let t0 = Instant::now();
    let mut s = session(&[], t0);
    s.handle_input(b"3|abc\ncase|Hello\n2|2**10\n2|1/0\n3|x", t0);
    assert_eq!(
        s.poll_transmit(),
        Some(&b"OK cba\nOK hELLO\nOK 1024\nERR division by zero\n"[..])
    );
    take(&mut s, t0);
    s.handle_input(b"y\n", t0);
    assert_eq!(take(&mut s, t0), "OK yx\n");
}

/// Every bad request gets its own ERR and the connection goes on.
#[test]
fn bad_requests_are_answered_and_the_connection_stays() {
    let t0 = Instant::now();
    let mut s = session(&[], t0);
    s.handle_input(b"\nno bar\nx|y\n3|\xff\xfe\n3|ok\r\n", t0);
    let answers = take(&mut s, t0);
    let lines: Vec<&str> = answers.lines().collect();
    assert_eq!(lines.len(), 5, "{answers}");
    assert!(lines[0].starts_with("ERR empty request"), "{answers}");
    assert_eq!(lines[1], "ERR malformed request: expected <op>|<payload>");
    assert_eq!(
        lines[2],
        "ERR unknown operation 'x': expected 1/case, 2/eval, 3/reverse"
    );
    assert!(
        lines[3].starts_with("ERR request is not valid UTF-8"),
        "{answers}"
    );
    assert_eq!(lines[4], "OK ko");
    assert!(!s.is_finished());
}

/// The limit counts the line without its ending, `\n` or `\r\n` (issue 13, item 8).
#[test]
fn the_limit_does_not_count_the_line_ending() {
    let t0 = Instant::now();
    let mut s = session(&["--max-request-bytes", "10"], t0);
    s.handle_input(b"3|12345678\r\n3|87654321\n", t0);
    assert_eq!(take(&mut s, t0), "OK 87654321\nOK 12345678\n");
    // One byte more, with either ending, is refused.
    let mut s = session(&["--max-request-bytes", "10"], t0);
    s.handle_input(b"3|123456789\r\n", t0);
    assert_eq!(take(&mut s, t0), "ERR request too long (limit 10 bytes)\n");
}

/// An over-long line is refused once it cannot fit, the connection's sending side is
/// shut, and what still arrives is dropped until the linger ends.
#[test]
fn an_over_long_line_is_refused_and_the_session_lingers() {
    let t0 = Instant::now();
    let mut s = session(&["--max-request-bytes", "10"], t0);
    assert_eq!(s.read_size(), 12);
    s.handle_input(b"3|abc\n3|0123456789", t0);
    assert_eq!(
        take(&mut s, t0),
        "OK cba\nERR request too long (limit 10 bytes)\n"
    );
    assert!(s.poll_close_write());
    assert!(!s.poll_close_write(), "said once");
    assert!(s.read_size() > 0, "the rest is read and dropped");
    s.handle_input(&[b'x'; 5000], t0);
    assert!(!s.is_finished());
    assert_eq!(s.next_deadline(), Some(t0 + LINGER));
    s.handle_timeout(t0 + LINGER);
    assert!(matches!(s.end(), Some(End::TooLong)));
}

/// The session never asks for more than the limit plus a line ending.
#[test]
fn reads_are_bounded_by_the_limit() {
    let t0 = Instant::now();
    let mut s = session(&["--max-request-bytes", "100"], t0);
    assert_eq!(s.read_size(), 102);
    s.handle_input(b"3|ab", t0);
    assert_eq!(s.read_size(), 98);
}

/// Under a delay each pipelined answer is offered when its delay ends, before the next
/// request's delay begins (issue 13, item 1), and nothing is read meanwhile.
#[test]
fn a_delayed_pipeline_gets_one_answer_per_delay() {
    let t0 = Instant::now();
    let mut s = session(&["--delay", "1s"], t0);
    s.handle_input(b"3|abc\ncase|Hello\n", t0);
    assert_eq!(s.poll_transmit(), None);
    assert_eq!(s.read_size(), 0, "no reading while a request is held");
    assert_eq!(s.next_deadline(), Some(t0 + ms(1000)));
    s.handle_timeout(t0 + ms(999));
    assert_eq!(s.poll_transmit(), None);
    s.handle_timeout(t0 + ms(1000));
    assert_eq!(take(&mut s, t0 + ms(1000)), "OK cba\n");
    assert_eq!(s.next_deadline(), Some(t0 + ms(2000)));
    s.handle_timeout(t0 + ms(2000));
    assert_eq!(take(&mut s, t0 + ms(2000)), "OK hELLO\n");
}

/// The idle clock starts when the last answer was sent, so the server's own delay never
/// counts (issue 13, item 2); it runs out only after a real silence.
#[test]
fn idle_time_starts_when_the_answer_is_sent() {
    let t0 = Instant::now();
    let mut s = session(&["--delay", "2s", "--idle-timeout", "3s"], t0);
    s.handle_input(b"3|abc\n", t0);
    s.handle_timeout(t0 + ms(2000));
    assert_eq!(take(&mut s, t0 + ms(2000)), "OK cba\n");
    assert_eq!(s.next_deadline(), Some(t0 + ms(5000)));
    s.handle_timeout(t0 + ms(3500));
    s.handle_input(b"3|xyz\n", t0 + ms(3500));
    assert!(!s.is_finished());
    s.handle_timeout(t0 + ms(5500));
    assert_eq!(take(&mut s, t0 + ms(5500)), "OK zyx\n");
    s.handle_timeout(t0 + ms(8499));
    assert!(!s.is_finished());
    s.handle_timeout(t0 + ms(8500));
    assert!(matches!(s.end(), Some(End::Idle(d)) if *d == ms(3000)));
}

/// A client that trickles a line slower than the idle timeout is cut off too.
#[test]
fn a_trickled_line_does_not_reset_the_idle_clock() {
    let t0 = Instant::now();
    let mut s = session(&["--idle-timeout", "1s"], t0);
    s.handle_input(b"3|", t0 + ms(500));
    s.handle_input(b"a", t0 + ms(900));
    s.handle_timeout(t0 + ms(1000));
    assert!(matches!(s.end(), Some(End::Idle(_))));
}

/// Answers that are not taken end the session once no progress is made for the stall
/// limit: the client stopped reading.
#[test]
fn a_client_that_stops_reading_is_cut_off() {
    let t0 = Instant::now();
    let mut s = session(&["--idle-timeout", "2s", "--shutdown-timeout", "1s"], t0);
    s.handle_input(b"3|abc\n", t0 + ms(10));
    assert!(s.poll_transmit().is_some());
    assert_eq!(s.next_deadline(), Some(t0 + ms(1010)));
    s.handle_transmitted(2, t0 + ms(500));
    s.handle_timeout(t0 + ms(1400));
    assert!(!s.is_finished(), "progress at 500 ms restarts the clock");
    s.handle_timeout(t0 + ms(1500));
    assert!(matches!(s.end(), Some(End::Failed(_))));
}

/// Answers beyond the flush threshold are offered before more requests are answered.
#[test]
fn output_past_the_threshold_pauses_answering() {
    let t0 = Instant::now();
    let mut s = session(&[], t0);
    let payload = "a".repeat(20_000);
    let request = format!("3|{payload}\n");
    let mut input = Vec::new();
    for _ in 0..3 {
        input.extend_from_slice(request.as_bytes());
    }
    s.handle_input(&input, t0);
    s.handle_input(&input[..request.len()], t0);
    let first = s.poll_transmit().map(<[u8]>::len).unwrap_or_default();
    assert_eq!(first, 4 * (payload.len() + 4), "answered until past 64 KiB");
    assert_eq!(s.read_size(), 0);
    assert_eq!(take(&mut s, t0).len(), first);
}

/// A last line without its newline is answered when the client closes, then the session
/// ends as closed.
#[test]
fn end_of_stream_answers_the_last_line() {
    let t0 = Instant::now();
    let mut s = session(&["--delay", "1s"], t0);
    s.handle_input(b"3|abc\n3|xy", t0);
    s.handle_eof(t0);
    s.handle_timeout(t0 + ms(1000));
    assert_eq!(take(&mut s, t0 + ms(1000)), "OK cba\n");
    assert!(!s.is_finished());
    s.handle_timeout(t0 + ms(2000));
    assert_eq!(take(&mut s, t0 + ms(2000)), "OK yx\n");
    assert!(matches!(s.end(), Some(End::Closed)));
}

/// On shutdown a held request is answered, buffered ones too, then an idle session ends
/// after the drain wait.
#[test]
fn shutdown_answers_what_was_received_then_ends() {
    let t0 = Instant::now();
    let mut s = session(&["--delay", "100ms"], t0);
    s.handle_input(b"3|abc\n3|def\n", t0);
    s.handle_shutdown(t0 + ms(50), t0 + ms(10_000));
    s.handle_timeout(t0 + ms(100));
    assert_eq!(take(&mut s, t0 + ms(100)), "OK cba\n");
    s.handle_timeout(t0 + ms(200));
    assert_eq!(take(&mut s, t0 + ms(200)), "OK fed\n");
    assert_eq!(s.next_deadline(), Some(t0 + ms(200) + DRAIN_WAIT));
    s.handle_timeout(t0 + ms(200) + DRAIN_WAIT);
    assert!(matches!(s.end(), Some(End::Shutdown)));
}

/// A delay that runs into the shutdown deadline is cut short: the request is answered at
/// the deadline (issue 13, item 3), and the session then ends.
#[test]
fn the_shutdown_deadline_cuts_a_delay_short() {
    let t0 = Instant::now();
    let mut s = session(&["--delay", "1y"], t0);
    s.handle_input(b"3|abc\n", t0);
    s.handle_shutdown(t0 + ms(10), t0 + ms(1010));
    assert_eq!(s.next_deadline(), Some(t0 + ms(1010)));
    s.handle_timeout(t0 + ms(1010));
    assert_eq!(take(&mut s, t0 + ms(1010)), "OK cba\n");
    assert!(matches!(s.end(), Some(End::Shutdown)));
}

/// An idle connection at shutdown waits only the drain wait for a request on its way.
#[test]
fn an_idle_session_ends_soon_after_shutdown() {
    let t0 = Instant::now();
    let mut s = session(&[], t0);
    s.handle_shutdown(t0, t0 + ms(10_000));
    assert_eq!(s.next_deadline(), Some(t0 + DRAIN_WAIT));
    s.handle_input(b"3|abc\n", t0 + ms(5));
    assert_eq!(take(&mut s, t0 + ms(5)), "OK cba\n");
    s.handle_timeout(t0 + ms(5) + DRAIN_WAIT);
    assert!(matches!(s.end(), Some(End::Shutdown)));
}

/// Raw framing: each read is one request of at most min(1024, limit) bytes, answered in
/// the tutorial's format (issue 13, item 6).
#[test]
fn raw_framing_takes_each_read_as_a_request_within_the_limit() {
    let t0 = Instant::now();
    let mut s = session(&["--framing", "raw"], t0);
    assert_eq!(s.read_size(), 1024);
    s.handle_input(b"1|Hello", t0);
    assert_eq!(take(&mut s, t0), "hELLO");
    s.handle_input(b"9|x", t0);
    assert_eq!(take(&mut s, t0), "Invalid choice");
    s.handle_input(b"2|1/0", t0);
    assert_eq!(take(&mut s, t0), "Error: division by zero");
    let s = session(&["--framing", "raw", "--max-request-bytes", "10"], t0);
    assert_eq!(s.read_size(), 10);
}

/// A reset ends the session at once, whatever it was doing.
#[test]
fn an_error_ends_the_session() {
    let t0 = Instant::now();
    let mut s = session(&["--delay", "1s"], t0);
    s.handle_input(b"3|abc\n", t0);
    s.handle_error(io::ErrorKind::ConnectionReset.into(), t0);
    assert!(matches!(s.end(), Some(End::Failed(_))));
    assert_eq!(s.poll_transmit(), None);
    assert_eq!(s.next_deadline(), None);
}
