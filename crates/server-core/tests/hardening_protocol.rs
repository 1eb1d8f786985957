//! Protocol abuse against every real server: over-long lines, invalid UTF-8 split
//! across writes, NUL bytes, empty lines, unknown operations, pipelined floods, requests
//! split byte by byte, clients that reset or vanish. The server answers what can be
//! answered, in order, and goes on serving.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::Duration;

use common::*;

/// Closes `stream` with a reset (SO_LINGER 0) instead of an orderly FIN.
fn reset(stream: TcpStream) {
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .expect("set SO_LINGER 0");
    drop(stream);
}

/// Sends 1 MiB with no newline on a fresh connection and returns all the server sent
/// before it closed (the send happens on a thread: the server stops reading).
fn send_mebibyte(addr: std::net::SocketAddr) -> Vec<u8> {
    let mut conn = connect(addr);
    let mut writer = conn.try_clone().expect("clone the stream");
    let sending = thread::spawn(move || {
        // Fails once the server has closed; that is expected.
        let _ = writer.write_all(&vec![b'7'; 1 << 20]);
    });
    let mut answer = Vec::new();
    // A reset after the refusal may cut the read short; what arrived is checked.
    let _ = conn.read_to_end(&mut answer);
    let _ = conn.shutdown(Shutdown::Both);
    sending.join().expect("the sending thread");
    answer
}

/// 1 MiB with no newline gets `ERR request too long (limit 65536 bytes)` and a close,
/// again and again, and the serving process's RSS does not grow: the server never
/// buffers more than the limit (plus one byte) of a line.
#[test]
fn mebibyte_line_is_refused_without_growth() {
    for binary in SERVERS {
        let server = start(binary, &["--quiet"]);
        let addr = server.addr();
        let refused = "ERR request too long (limit 65536 bytes)\n";
        for _ in 0..2 {
            assert_eq!(String::from_utf8_lossy(&send_mebibyte(addr)), refused);
        }
        // The forking server's children come and go; its parent must stay flat too.
        let before = rss_kib(server.pid());
        for i in 0..10 {
            assert_eq!(
                String::from_utf8_lossy(&send_mebibyte(addr)),
                refused,
                "{binary}: attempt {i}"
            );
        }
        let after = rss_kib(server.pid());
        assert!(
            after <= before + 2048,
            "{binary}: RSS grew from {before} KiB to {after} KiB over ten 1 MiB lines"
        );
        assert_eq!(one_shot(addr, b"3|next\n"), "OK txen\n", "{binary}");
        server.stop(IO_TIMEOUT).expect("stops");
    }
}

/// A UTF-8 character split across writes is put back together, an invalid sequence split
/// across writes is refused at the right offset, NUL bytes are data (or a clear error in
/// eval), empty lines and unknown operations each get their `ERR`, and the connection
/// stays usable throughout.
#[test]
fn split_utf8_nul_empty_lines_and_unknown_ops() {
    let not_utf8 = |offset: usize| {
        format!(
            "ERR request is not valid UTF-8 (bad byte at offset {offset}): expected UTF-8 text\n"
        )
    };
    let empty = "ERR empty request: expected <op>|<payload>\n";
    let unknown =
        |op: &str| format!("ERR unknown operation '{op}': expected 1/case, 2/eval, 3/reverse\n");
    for binary in SERVERS {
        let server = start(binary, &["--quiet"]);
        let mut conn = connect(server.addr());
        let mut in_pieces = |pieces: &[&[u8]], answers: &[&str]| {
            for piece in pieces {
                conn.write_all(piece).expect("send a piece");
                thread::sleep(Duration::from_millis(20));
            }
            assert_eq!(
                read_lines(&conn, answers.len()),
                answers,
                "{binary}: {pieces:?}"
            );
        };
        in_pieces(&[b"3|a\xc3", b"\xa9b\n"], &["OK b\u{e9}a\n"]);
        in_pieces(&[b"3|a\xf0\x9f", b"\x98", b"\x80\n"], &["OK \u{1f600}a\n"]);
        in_pieces(&[b"3|a\xc3", b"(\n"], &[&not_utf8(3)]);
        in_pieces(&[b"3|ok\xed\xa0", b"\x80\n"], &[&not_utf8(4)]);
        in_pieces(&[b"\xff\xfe|x\n"], &[&not_utf8(0)]);
        in_pieces(&[b"3|a\0b\n1|\0\n"], &["OK b\0a\n", "OK \0\n"]);
        in_pieces(
            &[b"\0\n"],
            &["ERR malformed request: expected <op>|<payload>\n"],
        );
        in_pieces(&[b"\n\n\r\n"], &[empty, empty, empty]);
        in_pieces(
            &[b"|x\n0|x\n4|x\n"],
            &[&unknown(""), &unknown("0"), &unknown("4")],
        );
        in_pieces(&[b"case2|x\n"], &[&unknown("case2")]);
        in_pieces(&[b" CaSe |x\n"], &["OK X\n"]);
        in_pieces(&[b"3|still usable\n"], &["OK elbasu llits\n"]);
        // The sequential server serves the next connection once this one is gone.
        drop(conn);
        let mut conn = connect(server.addr());
        for request in [&b"2|\0\n"[..], b"\0|x\n", b"2|1\0+1\n"] {
            let answer = ask(&mut conn, request);
            assert!(
                answer.starts_with("ERR ") && !answer.contains('\0'),
                "{binary}: {request:?} -> {answer:?}"
            );
        }
        server.stop(IO_TIMEOUT).expect("stops");
    }
}

/// The request and the answer for the `i`-th request of a flood.
fn flood_item(i: usize) -> (String, String) {
    match i % 3 {
        0 => (
            format!("3|{i}\n"),
            format!("OK {}\n", reverse(&i.to_string())),
        ),
        1 => (format!("1|a{i}\n"), format!("OK A{i}\n")),
        _ => (format!("2|{i}*2-1\n"), format!("OK {}\n", 2 * i - 1)),
    }
}

/// 100,000 requests written in one go while the answers are read concurrently: every
/// one answered, exactly, in order, on each architecture.
#[test]
fn pipelined_flood_is_answered_in_order() {
    for binary in SERVERS {
        let count = 100_000;
        let server = start(binary, &["--quiet"]);
        let conn = connect(server.addr());
        let mut writer = conn.try_clone().expect("clone the stream");
        let sending = thread::spawn(move || {
            let mut all = Vec::new();
            for i in 0..count {
                all.extend_from_slice(flood_item(i).0.as_bytes());
            }
            writer.write_all(&all).expect("send the flood");
        });
        let mut reader = BufReader::new(&conn);
        let mut line = String::new();
        for i in 0..count {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => panic!("{binary}: closed after {i} of {count} answers"),
                Ok(_) => {}
                Err(e) => panic!("{binary}: answer {i} of {count}: {e}"),
            }
            let (request, answer) = flood_item(i);
            assert_eq!(line, answer, "{binary}: request {i}: {request:?}");
        }
        sending.join().expect("the sending thread");
        server.stop(IO_TIMEOUT).expect("stops");
    }
}

/// A batch of mixed requests — multi-byte characters, CRLF, a bad one, an empty line —
/// sent one byte per write is answered exactly as if sent whole.
#[test]
fn requests_split_byte_by_byte() {
    let batch = "1|Straße\n3|añb😀\r\n2|-2**2 + 7 // 2\n\nnope\n2|(1\n3|\n1|ǅ\n";
    let answers = [
        "OK sTRASSE\n",
        "OK 😀bña\n",
        "OK -1\n",
        "ERR empty request: expected <op>|<payload>\n",
        "ERR malformed request: expected <op>|<payload>\n",
    ];
    for binary in SERVERS {
        let server = start(binary, &["--quiet"]);
        let mut conn = connect(server.addr());
        for (i, byte) in batch.bytes().enumerate() {
            conn.write_all(&[byte]).expect("send a byte");
            if i % 4 == 0 {
                thread::sleep(Duration::from_millis(1));
            }
        }
        let got = read_lines(&conn, 8);
        assert_eq!(got[..5], answers, "{binary}");
        assert!(got[5].starts_with("ERR "), "{binary}: {got:?}");
        assert_eq!(got[6], "OK \n", "{binary}");
        let titlecase = engine::execute(engine::Op::ChangeCase, "ǅ").expect("swaps");
        assert_eq!(got[7], format!("OK {titlecase}\n"), "{binary}");
        server.stop(IO_TIMEOUT).expect("stops");
    }
}

/// Forty clients misbehave in four ways — reset halfway through a request, reset right
/// after a whole request, stop reading while 800 KB of answers are due and then close,
/// half-close and vanish — and the server answers the next client; the forking and
/// threaded servers are back to no children and one thread.
#[test]
fn resets_and_vanishing_clients_leave_the_server_serving() {
    let big = format!("1|{}\n", "x".repeat(4000)).repeat(200);
    for binary in SERVERS {
        let server = start(binary, &["--quiet"]);
        let addr = server.addr();
        for i in 0..10 {
            let mut half = connect(addr);
            half.write_all(b"3|half a requ").expect("send half");
            reset(half);

            let mut whole = connect(addr);
            whole
                .write_all(format!("3|{i}\n").as_bytes())
                .expect("send");
            reset(whole);

            let stalled = connect(addr);
            let mut writer = stalled.try_clone().expect("clone the stream");
            let big = big.clone();
            let sending = thread::spawn(move || {
                let _ = writer.write_all(big.as_bytes());
            });
            thread::sleep(Duration::from_millis(20));
            let _ = stalled.shutdown(Shutdown::Both);
            sending.join().expect("the sending thread");
            drop(stalled);

            let mut vanishing = connect(addr);
            vanishing.write_all(b"3|gone\n2|2**10\n").expect("send");
            let _ = vanishing.shutdown(Shutdown::Write);
            drop(vanishing);
        }
        assert_eq!(
            one_shot(addr, b"3|still here\n"),
            "OK ereh llits\n",
            "{binary}"
        );
        wait_for_baseline(binary, &server);
        let mut conn = connect(addr);
        assert_eq!(ask(&mut conn, b"2|6*7\n"), "OK 42\n", "{binary}");
        server.stop(IO_TIMEOUT).expect("stops");
    }
}
