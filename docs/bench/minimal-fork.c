/*
 * The floor for server-forking: a minimal fork-per-client server, the peer that the
 * performance figures call "a minimal server". It answers only what `bench` sends by default (one `3|payload`
 * line: reverse), holds each request for a delay, writes no log, checks no limit and
 * lets the kernel reap its children (SIGCHLD ignored). What it costs per client is
 * what fork() costs on this machine, whatever the server does besides.
 *
 *   cc -O2 -o /tmp/minimal-fork docs/bench/minimal-fork.c
 *   /tmp/minimal-fork 47051 3 &     # port, delay in seconds
 *   target/release/bench --port 47051 --clients 100
 */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void serve(int conn, unsigned delay) {
    char in[1024], out[1030];
    size_t have = 0;
    ssize_t got;
    while (have < sizeof in && (got = read(conn, in + have, sizeof in - have)) > 0) {
        have += (size_t)got;
        if (memchr(in, '\n', have)) break;
    }
    char *end = memchr(in, '\n', have);
    if (!end || end - in < 2 || in[0] != '3' || in[1] != '|') return;
    sleep(delay);
    size_t n = 0;
    memcpy(out, "OK ", 3), n = 3;
    for (char *c = end - 1; c >= in + 2; c--) out[n++] = *c;
    out[n++] = '\n';
    (void)!write(conn, out, n);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s PORT DELAY_SECONDS\n", argv[0]);
        return 2;
    }
    signal(SIGCHLD, SIG_IGN);
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((unsigned short)atoi(argv[1])),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) || listen(listener, 4096)) {
        perror("listen");
        return 1;
    }
    unsigned delay = (unsigned)atoi(argv[2]);
    for (;;) {
        int conn = accept(listener, NULL, NULL);
        if (conn < 0) continue;
        if (fork() == 0) {
            close(listener);
            serve(conn, delay);
            _exit(0);
        }
        close(conn);
    }
}
