//! The interactive menu: through a pipe for exact output, and through a real terminal
//! (tmux) as a person uses it.

mod common;

use std::sync::{Arc, Mutex};

use common::{Port, Tmux, closes_after, each_server, run_client, threaded, tutorial_server};

const MENU: &str =
    "\n1. Change case\n2. Evaluate expression\n3. Reverse string\n4. Exit\nEnter choice (1-4): ";

/// The exact transcript of a piped session: the tutorial's words, prompts without the
/// typed input (a pipe does not echo), `Invalid choice` for an unknown choice, and
/// `Error:` for an error response — against each of the tutorial's three servers.
#[test]
fn piped_session_exact_output() {
    let input = "1\nhello\n2\n1+2*3\n3\nabc\n9\n 2 \n1/0\n4\nnever read\n";
    for (name, server) in each_server() {
        let run = run_client(["--port", &server.port()], input.as_bytes());
        let expected = format!(
            "Connected to server at 127.0.0.1:{port}\n\
             {MENU}Enter input: Result: HELLO\n\
             {MENU}Enter input: Result: 7\n\
             {MENU}Enter input: Result: cba\n\
             {MENU}Invalid choice\n\
             {MENU}Enter input: Error: division by zero\n\
             {MENU}",
            port = server.port()
        );
        assert_eq!(run.stdout, expected, "against {name}");
        assert_eq!(run.stderr, "", "against {name}");
        assert_eq!(run.code(), 0, "against {name}");
    }
}

/// End of input at either prompt ends the session with exit 0 and a final newline.
#[test]
fn end_of_input_exits_cleanly() {
    let server = threaded();
    for input in ["", "1\n", "3\nabc\n"] {
        let run = run_client(["--port", &server.port()], input.as_bytes());
        assert_eq!(run.code(), 0, "input {input:?}: {run:?}");
        assert!(run.stdout.ends_with(": \n"), "input {input:?}: {run:?}");
        assert_eq!(run.stderr, "");
    }
}

/// A server that goes away mid-session is reported on stderr, with exit code 2, after
/// the answers it did give.
#[test]
fn server_gone_mid_session() {
    let server = closes_after(1, b"OK HELLO\n");
    let run = run_client(["--port", &server.port()], b"1\nhello\n1\nagain\n");
    assert!(run.stdout.contains("Result: HELLO\n"), "{run:?}");
    assert_eq!(run.code(), 2, "{run:?}");
    assert_eq!(
        run.stderr,
        "client: error: the session ended: the server closed the connection — it may have \
         stopped; start it again and reconnect\n"
    );
}

/// `--framing raw` speaks the tutorial's format unchanged: the tutorial's server receives
/// `1|hello` with no newline, and its bare answers, errors included, are shown.
#[test]
fn raw_framing_against_the_tutorial_server() {
    let received = Arc::new(Mutex::new(Vec::new()));
    let server = tutorial_server(Arc::clone(&received));
    let run = run_client(
        ["--framing", "raw", "--port", &server.port()],
        b"1\nhello\n2\n1/0\n3\nabc\n4\n",
    );
    assert_eq!(run.code(), 0, "{run:?}");
    assert!(
        run.stdout.contains(
            "Enter input: Result: HELLO\n\n1. Change case\n2. Evaluate expression\n3. Reverse \
             string\n4. Exit\nEnter choice (1-4): Enter input: Error: division by zero\n"
        ),
        "{run:?}"
    );
    assert!(run.stdout.contains("Result: cba\n"), "{run:?}");
    let received = received.lock().expect("lock").clone();
    assert_eq!(
        received,
        [b"1|hello".to_vec(), b"2|1/0".to_vec(), b"3|abc".to_vec()]
    );
}

/// The menu in a real terminal: choose 1, type hello, see `Result: HELLO`; an unknown
/// choice re-prompts; 4 exits with status 0.
#[test]
fn terminal_session_choose_and_exit() {
    let server = threaded();
    let term = Tmux::client(&format!("--port {}", server.port()));
    term.wait_for("Enter choice (1-4):", 1);
    term.send_keys(&["1", "Enter"]);
    term.wait_for("Enter input:", 1);
    term.send_keys(&["hello", "Enter"]);
    let screen = term.wait_for("Enter choice (1-4):", 2);
    assert!(
        screen.contains("Enter input: hello\nResult: HELLO\n"),
        "{screen}"
    );
    term.send_keys(&["7", "Enter"]);
    let screen = term.wait_for("Enter choice (1-4):", 3);
    assert!(
        screen.contains("Enter choice (1-4): 7\nInvalid choice\n"),
        "{screen}"
    );
    term.send_keys(&["4", "Enter"]);
    let screen = term.wait_for("EXIT=", 1);
    assert!(screen.contains("EXIT=0"), "{screen}");
}

/// Ctrl-D at the prompt in a real terminal ends the session with status 0.
#[test]
fn terminal_ctrl_d_exits_cleanly() {
    let server = threaded();
    let term = Tmux::client(&format!("--port {}", server.port()));
    term.wait_for("Enter choice (1-4):", 1);
    term.send_keys(&["C-d"]);
    let screen = term.wait_for("EXIT=", 1);
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(!screen.contains("panicked"), "{screen}");
}
