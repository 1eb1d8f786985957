//! The session's rules, with canned bytes and a fake clock: no sockets, no sleeping.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::config::{Level, parse};

const PEER: &str = "127.0.0.1:40000";

/// A session on the flags `args`, opened at `t0`.
fn session(args: &[&str], t0: Instant) -> Session {
    session_counted(args, t0, Ledger::new().unwrap())
}

/// A session on the flags `args`, opened at `t0`, counting in `ledger`.
fn session_counted(args: &[&str], t0: Instant, ledger: Ledger) -> Session {
    let config = Arc::new(parse(args).unwrap());
    Session::new(
        config,
        Log::new(Level::Warn),
        ledger,
        Who::MainProcess,
        PEER.parse().unwrap(),
        t0,
    )
}

/// What the session does once it has nothing more to compute or send at `now`.
#[derive(Debug, PartialEq, Eq)]
enum Then {
    Receive(usize, Option<Instant>),
    Wait(Option<Instant>),
    CloseWrite,
    Finished,
}

/// Drives the session at `now` (computing takes no time on this clock; the socket takes
/// everything): returns what it sent, and what it then waits for.
fn run(s: &mut Session, now: Instant) -> (String, Then) {
    let mut all = Vec::new();
    loop {
        match s.poll_output(now) {
            Output::Computed => {}
            Output::Transmit { bytes, .. } => {
                let n = bytes.len();
                all.extend_from_slice(bytes);
                s.handle_transmitted(n, now);
            }
            Output::Receive { max, until } => {
                return (String::from_utf8(all).unwrap(), Then::Receive(max, until));
            }
            Output::Wait(until) => return (String::from_utf8(all).unwrap(), Then::Wait(until)),
            Output::CloseWrite => return (String::from_utf8(all).unwrap(), Then::CloseWrite),
            Output::Finished => return (String::from_utf8(all).unwrap(), Then::Finished),
        }
    }
}

/// What [`run`] sends at `now`.
fn take(s: &mut Session, now: Instant) -> String {
    run(s, now).0
}

/// The first bytes the session offers at `now`, computing as it must first, without
/// sending them.
fn first_offer(s: &mut Session, now: Instant) -> Option<Vec<u8>> {
    loop {
        match s.poll_output(now) {
            Output::Computed => {}
            Output::Transmit { bytes, .. } => return Some(bytes.to_vec()),
            _ => return None,
        }
    }
}

/// The default `--idle-timeout`.
const FIVE_MINUTES: Duration = Duration::from_secs(300);

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
        assert_eq!(take(&mut s, t0), "");
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
        first_offer(&mut s, t0).as_deref(),
        Some(&b"OK cba\nOK hELLO\nOK 1024\nERR division by zero\n"[..])
    );
    take(&mut s, t0);
    s.handle_input(b"y\n", t0);
    assert_eq!(take(&mut s, t0), "OK yx\n");
}

/// Input never computes: the requests wait for `poll_output`, which answers one per call
/// and says so, so the driver reads the clock again after each (issue 16, item 1).
#[test]
fn requests_are_computed_one_per_poll() {
    let t0 = Instant::now();
    let mut s = session(&[], t0);
    s.handle_input(b"3|abc\n3|def\n", t0);
    assert_eq!(s.poll_output(t0), Output::Computed);
    assert_eq!(s.poll_output(t0), Output::Computed);
    assert!(
        matches!(s.poll_output(t0), Output::Transmit { bytes, .. } if bytes == b"OK cba\nOK fed\n")
    );
}

/// The batch is offered for sending once its computing has taken a turn: a client
/// pipelining costly requests gets its answers as they come, a turn at a time, not after
/// the whole batch (issue 16, items 3 and 4).
#[test]
fn a_batch_is_offered_after_a_turn_of_computing() {
    let t0 = Instant::now();
    let mut s = session(&[], t0);
    s.handle_input(b"3|abc\n3|def\n3|ghi\n", t0);
    assert_eq!(s.poll_output(t0), Output::Computed);
    // The first answer took a whole turn to compute: it goes before the next is begun.
    let later = t0 + TURN;
    assert!(matches!(s.poll_output(later), Output::Transmit { bytes, .. } if bytes == b"OK cba\n"));
    s.handle_transmitted(7, later);
    assert_eq!(take(&mut s, later), "OK fed\nOK ihg\n");
}

/// Computing is not waiting: a request whose computing outlasts the idle timeout is
/// answered, the stall clock starts when the answer is offered, and the idle clock when
/// it is sent (issue 16, items 1 and 2).
#[test]
fn computing_counts_neither_as_idle_nor_as_a_stall() {
    let t0 = Instant::now();
    let mut s = session(&["--idle-timeout", "100ms"], t0);
    s.handle_input(b"3|abc\n", t0);
    assert_eq!(s.poll_output(t0), Output::Computed);
    // The driver's clock, read after the computing: 300 ms later.
    let done = t0 + ms(300);
    let Output::Transmit { until, .. } = s.poll_output(done) else {
        panic!("the answer is offered, not given up on");
    };
    assert_eq!(until, Some(done + MIN_STALL), "the stall clock starts now");
    s.handle_transmitted(7, done + ms(10));
    assert_eq!(
        run(&mut s, done + ms(10)).1,
        Then::Receive(65538, Some(done + ms(110))),
        "idle from when the answer was sent"
    );
    s.handle_input(b"3|xyz\n", done + ms(100));
    assert_eq!(take(&mut s, done + ms(100)), "OK zyx\n");
}

/// Every bad request gets its own ERR and the connection goes on.
#[test]
fn bad_requests_are_answered_and_the_connection_stays() {
    let t0 = Instant::now();
    let mut s = session(&[], t0);
    s.handle_input(b"\nno bar\nx|y\n3|\xff\xfe\n3|ok\r\n", t0);
    let (answers, then) = run(&mut s, t0);
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
    assert!(matches!(then, Then::Receive(..)));
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
    assert_eq!(
        run(&mut s, t0).1,
        Then::Receive(12, Some(t0 + FIVE_MINUTES))
    );
    s.handle_input(b"3|abc\n3|0123456789", t0);
    assert_eq!(
        run(&mut s, t0),
        (
            "OK cba\nERR request too long (limit 10 bytes)\n".to_owned(),
            Then::CloseWrite
        )
    );
    let Then::Receive(max, until) = run(&mut s, t0).1 else {
        panic!("the rest is read and dropped");
    };
    assert!(max > 0);
    assert_eq!(until, Some(t0 + LINGER));
    s.handle_input(&[b'x'; 5000], t0);
    assert!(matches!(run(&mut s, t0).1, Then::Receive(..)));
    assert_eq!(run(&mut s, t0 + LINGER).1, Then::Finished);
    assert!(matches!(s.end(), Some(End::TooLong)));
}

/// The session never asks for more than the limit plus a line ending.
#[test]
fn reads_are_bounded_by_the_limit() {
    let t0 = Instant::now();
    let mut s = session(&["--max-request-bytes", "100"], t0);
    assert_eq!(
        run(&mut s, t0).1,
        Then::Receive(102, Some(t0 + FIVE_MINUTES))
    );
    s.handle_input(b"3|ab", t0);
    assert_eq!(
        run(&mut s, t0).1,
        Then::Receive(98, Some(t0 + FIVE_MINUTES))
    );
}

/// Under a delay each pipelined answer is offered when its delay ends, before the next
/// request's delay begins (issue 13, item 1), and nothing is read meanwhile.
#[test]
fn a_delayed_pipeline_gets_one_answer_per_delay() {
    let t0 = Instant::now();
    let mut s = session(&["--delay", "1s"], t0);
    s.handle_input(b"3|abc\ncase|Hello\n", t0);
    assert_eq!(
        run(&mut s, t0),
        (String::new(), Then::Wait(Some(t0 + ms(1000)))),
        "no reading while a request is held"
    );
    assert_eq!(take(&mut s, t0 + ms(999)), "");
    assert_eq!(
        run(&mut s, t0 + ms(1000)),
        ("OK cba\n".to_owned(), Then::Wait(Some(t0 + ms(2000))))
    );
    assert_eq!(take(&mut s, t0 + ms(2000)), "OK hELLO\n");
}

/// The idle clock starts when the last answer was sent, so the server's own delay never
/// counts (issue 13, item 2); it runs out only after a real silence.
#[test]
fn idle_time_starts_when_the_answer_is_sent() {
    let t0 = Instant::now();
    let mut s = session(&["--delay", "2s", "--idle-timeout", "3s"], t0);
    s.handle_input(b"3|abc\n", t0);
    take(&mut s, t0);
    assert_eq!(
        run(&mut s, t0 + ms(2000)),
        (
            "OK cba\n".to_owned(),
            Then::Receive(65538, Some(t0 + ms(5000)))
        )
    );
    s.handle_input(b"3|xyz\n", t0 + ms(3500));
    assert_eq!(take(&mut s, t0 + ms(3500)), "");
    assert_eq!(take(&mut s, t0 + ms(5500)), "OK zyx\n");
    assert!(matches!(run(&mut s, t0 + ms(8499)).1, Then::Receive(..)));
    assert_eq!(run(&mut s, t0 + ms(8500)).1, Then::Finished);
    assert!(matches!(s.end(), Some(End::Idle(d)) if *d == ms(3000)));
}

/// A client that trickles a line slower than the idle timeout is cut off too.
#[test]
fn a_trickled_line_does_not_reset_the_idle_clock() {
    let t0 = Instant::now();
    let mut s = session(&["--idle-timeout", "1s"], t0);
    s.handle_input(b"3|", t0 + ms(500));
    s.handle_input(b"a", t0 + ms(900));
    assert_eq!(run(&mut s, t0 + ms(1000)).1, Then::Finished);
    assert!(matches!(s.end(), Some(End::Idle(_))));
}

/// Answers that are not taken end the session once no progress is made for the stall
/// limit: the client stopped reading.
#[test]
fn a_client_that_stops_reading_is_cut_off() {
    let t0 = Instant::now();
    let mut s = session(&["--idle-timeout", "2s", "--shutdown-timeout", "1s"], t0);
    s.handle_input(b"3|abc\n", t0 + ms(10));
    assert!(first_offer(&mut s, t0 + ms(10)).is_some());
    assert!(
        matches!(s.poll_output(t0 + ms(10)), Output::Transmit { until, .. } if until == Some(t0 + ms(1010)))
    );
    s.handle_transmitted(2, t0 + ms(500));
    assert!(
        matches!(s.poll_output(t0 + ms(1400)), Output::Transmit { .. }),
        "progress at 500 ms restarts the clock"
    );
    assert_eq!(s.poll_output(t0 + ms(1500)), Output::Finished);
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
    let first = first_offer(&mut s, t0).map(|b| b.len()).unwrap_or_default();
    assert_eq!(first, 4 * (payload.len() + 4), "answered until past 64 KiB");
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
    take(&mut s, t0);
    assert_eq!(take(&mut s, t0 + ms(1000)), "OK cba\n");
    assert_eq!(
        run(&mut s, t0 + ms(2000)),
        ("OK yx\n".to_owned(), Then::Finished)
    );
    assert!(matches!(s.end(), Some(End::Closed)));
}

/// On shutdown a held request is answered, buffered ones too, then an idle session ends
/// after the drain wait.
#[test]
fn shutdown_answers_what_was_received_then_ends() {
    let t0 = Instant::now();
    let mut s = session(&["--delay", "100ms"], t0);
    s.handle_input(b"3|abc\n3|def\n", t0);
    take(&mut s, t0);
    s.handle_shutdown(t0 + ms(50), t0 + ms(10_000));
    assert_eq!(take(&mut s, t0 + ms(100)), "OK cba\n");
    assert_eq!(
        run(&mut s, t0 + ms(200)),
        (
            "OK fed\n".to_owned(),
            Then::Receive(65538, Some(t0 + ms(200) + DRAIN_WAIT))
        )
    );
    assert_eq!(run(&mut s, t0 + ms(200) + DRAIN_WAIT).1, Then::Finished);
    assert!(matches!(s.end(), Some(End::Shutdown)));
}

/// A delay that runs into the shutdown deadline is cut short: the request is answered at
/// the deadline (issue 13, item 3), and the session then ends.
#[test]
fn the_shutdown_deadline_cuts_a_delay_short() {
    let t0 = Instant::now();
    let mut s = session(&["--delay", "1y"], t0);
    s.handle_input(b"3|abc\n", t0);
    take(&mut s, t0);
    s.handle_shutdown(t0 + ms(10), t0 + ms(1010));
    assert_eq!(run(&mut s, t0 + ms(10)).1, Then::Wait(Some(t0 + ms(1010))));
    assert_eq!(
        run(&mut s, t0 + ms(1010)),
        ("OK cba\n".to_owned(), Then::Finished)
    );
    assert!(matches!(s.end(), Some(End::Shutdown)));
}

/// At the shutdown deadline every request already received is answered, with its delay
/// cut, not only the held one; nothing more is read (issue 16, item 5). The ledger counts
/// them while they are unanswered and is back at zero when all are out.
#[test]
fn the_deadline_answers_every_request_received() {
    let t0 = Instant::now();
    let ledger = Ledger::new().unwrap();
    let mut s = session_counted(&["--delay", "1s"], t0, ledger.clone());
    s.handle_input(b"3|a\n3|b\n3|c\n3|d\n", t0);
    take(&mut s, t0);
    assert_eq!(take(&mut s, t0 + ms(1000)), "OK a\n");
    s.handle_shutdown(t0 + ms(1500), t0 + ms(2500));
    assert_eq!(ledger.unanswered(), 3, "the held one and two buffered");
    assert_eq!(take(&mut s, t0 + ms(2000)), "OK b\n");
    assert_eq!(ledger.unanswered(), 2);
    assert_eq!(
        run(&mut s, t0 + ms(2500)),
        ("OK c\nOK d\n".to_owned(), Then::Finished)
    );
    assert!(matches!(s.end(), Some(End::Shutdown)));
    assert_eq!(ledger.unanswered(), 0);
}

/// Work that cannot finish within the last words after the deadline is abandoned, and
/// stays counted in the ledger (issue 16, item 4). The last words run from when the
/// session first sees the deadline; an answer computed by then is offered once.
#[test]
fn work_past_the_last_words_is_abandoned_and_counted() {
    let t0 = Instant::now();
    let ledger = Ledger::new().unwrap();
    let mut s = session_counted(&[], t0, ledger.clone());
    s.handle_shutdown(t0, t0 + ms(1000));
    s.handle_input(b"3|a\n3|b\n3|c\n", t0 + ms(1000));
    assert_eq!(s.poll_output(t0 + ms(1000)), Output::Computed);
    assert_eq!(ledger.unanswered(), 3);
    // Computing the first took the whole of the last words: it is offered, no more is
    // computed, and once the socket had its chance the rest is abandoned.
    let late = t0 + ms(1000) + LAST_WORDS;
    assert!(matches!(s.poll_output(late), Output::Transmit { bytes, .. } if bytes == b"OK a\n"));
    assert_eq!(s.poll_output(late), Output::Finished);
    assert_eq!(
        ledger.unanswered(),
        3,
        "one computed but not taken, two not begun"
    );
}

/// A client that goes away while the server shuts down takes its share of the count back:
/// only what the deadline abandons is counted.
#[test]
fn a_client_gone_at_shutdown_is_not_counted() {
    let t0 = Instant::now();
    let ledger = Ledger::new().unwrap();
    let mut s = session_counted(&["--delay", "1y"], t0, ledger.clone());
    s.handle_input(b"3|a\n", t0);
    take(&mut s, t0);
    s.handle_shutdown(t0, t0 + ms(1000));
    assert_eq!(ledger.unanswered(), 1);
    s.handle_error(io::ErrorKind::ConnectionReset.into(), t0 + ms(10));
    assert_eq!(ledger.unanswered(), 0);
}

/// An idle connection at shutdown waits only the drain wait for a request on its way.
#[test]
fn an_idle_session_ends_soon_after_shutdown() {
    let t0 = Instant::now();
    let mut s = session(&[], t0);
    s.handle_shutdown(t0, t0 + ms(10_000));
    assert_eq!(
        run(&mut s, t0).1,
        Then::Receive(65538, Some(t0 + DRAIN_WAIT))
    );
    s.handle_input(b"3|abc\n", t0 + ms(5));
    assert_eq!(take(&mut s, t0 + ms(5)), "OK cba\n");
    assert_eq!(run(&mut s, t0 + ms(5) + DRAIN_WAIT).1, Then::Finished);
    assert!(matches!(s.end(), Some(End::Shutdown)));
}

/// Raw framing: each read is one request of at most min(1024, limit) bytes, answered in
/// the tutorial's format (issue 13, item 6).
#[test]
fn raw_framing_takes_each_read_as_a_request_within_the_limit() {
    let t0 = Instant::now();
    let mut s = session(&["--framing", "raw"], t0);
    assert_eq!(
        run(&mut s, t0).1,
        Then::Receive(1024, Some(t0 + FIVE_MINUTES))
    );
    s.handle_input(b"1|Hello", t0);
    assert_eq!(take(&mut s, t0), "hELLO");
    s.handle_input(b"9|x", t0);
    assert_eq!(take(&mut s, t0), "Invalid choice");
    s.handle_input(b"2|1/0", t0);
    assert_eq!(take(&mut s, t0), "Error: division by zero");
    let mut s = session(&["--framing", "raw", "--max-request-bytes", "10"], t0);
    assert_eq!(
        run(&mut s, t0).1,
        Then::Receive(10, Some(t0 + FIVE_MINUTES))
    );
}

/// A reset ends the session at once, whatever it was doing.
#[test]
fn an_error_ends_the_session() {
    let t0 = Instant::now();
    let mut s = session(&["--delay", "1s"], t0);
    s.handle_input(b"3|abc\n", t0);
    s.handle_error(io::ErrorKind::ConnectionReset.into(), t0);
    assert!(matches!(s.end(), Some(End::Failed(_))));
    assert_eq!(s.poll_output(t0), Output::Finished);
}
