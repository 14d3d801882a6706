/* The scripted loopback test server for the C and C++ tests, run as a process:
 * `$HTTPBATCH_BIN serve --port 0 --exit-on-stdin-eof` (ffi-tests/run.sh sets HTTPBATCH_BIN; the
 * default is target/release/httpbatch). The server is not part of the library or its C ABI.
 *
 * Its stdin is a pipe whose write end only this process holds, so the server also stops if the
 * test dies without calling test_server_stop. Counters come from its `/__stats` route, which
 * counts nowhere itself, so reading them does not change them.
 *
 * C11 and C++17. In C, define _POSIX_C_SOURCE 200809L before including any header. */
#ifndef HTTPBATCH_TEST_SERVER_H
#define HTTPBATCH_TEST_SERVER_H

#if !defined(__cplusplus) && (!defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L)
#error "define _POSIX_C_SOURCE 200809L before including any header"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    pid_t pid;     /* 0 once stopped */
    int stdin_fd;  /* our end of the server's stdin; closing it stops the server */
    int stdout_fd; /* our end of its stdout, kept open so that it never gets SIGPIPE */
    unsigned port;
    char base[64]; /* http://127.0.0.1:PORT */
} test_server;

/* The server's counters (see the `/__stats` route of the httpbatch-testserver crate). */
typedef struct {
    uint64_t accepted;
    uint64_t open_connections;
    uint64_t requests;
    uint64_t in_flight;
    uint64_t max_in_flight;
} test_server_stats;

static inline void test_server_die_(const char *what) {
    fprintf(stderr, "test server: %s: %s\n", what, errno ? strerror(errno) : "failed");
    exit(2);
}

/* Starts a server on a free port and waits until it listens (it prints its URL once bound).
 * Exits the program with status 2 if it cannot: a test without its server cannot run. */
static inline void test_server_start(test_server *s) {
    const char *bin = getenv("HTTPBATCH_BIN");
    if (bin == NULL || *bin == '\0')
        bin = "target/release/httpbatch";
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0)
        test_server_die_("pipe");
    /* Our ends must not leak into other children (another server would then hold this one's
     * stdin open). */
    if (fcntl(in[1], F_SETFD, FD_CLOEXEC) != 0 || fcntl(out[0], F_SETFD, FD_CLOEXEC) != 0)
        test_server_die_("fcntl");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        test_server_die_("fork");
    if (pid == 0) {
        /* Only async-signal-safe calls between fork and exec: the parent may have threads. */
        if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
            _exit(126);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        char serve[] = "serve", port[] = "--port", zero[] = "0", eof[] = "--exit-on-stdin-eof";
        char *argv[] = {(char *)bin, serve, port, zero, eof, NULL};
        execv(bin, argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    memset(s, 0, sizeof *s);
    s->pid = pid;
    s->stdin_fd = in[1];
    s->stdout_fd = out[0];
    /* The first line of stdout is the base URL. */
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = read(s->stdout_fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fprintf(stderr, "test server: %s printed no URL (set HTTPBATCH_BIN?)\n", bin);
            exit(2);
        }
        if (c == '\n')
            break;
        if (n + 1 >= sizeof s->base)
            test_server_die_("URL line too long");
        s->base[n++] = c;
    }
    s->base[n] = '\0';
    if (sscanf(s->base, "http://127.0.0.1:%u", &s->port) != 1 || s->port == 0) {
        fprintf(stderr, "test server: unexpected URL line %s\n", s->base);
        exit(2);
    }
}

/* Writes the base URL followed by `path` (starting with '/') into `buf`; returns `buf`. */
static inline const char *test_server_url(const test_server *s, const char *path, char *buf,
                                          size_t len) {
    int n = snprintf(buf, len, "%s%s", s->base, path);
    if (n < 0 || (size_t)n >= len || path[0] != '/') {
        fprintf(stderr, "test server: bad path or small buffer for %s\n", path);
        exit(2);
    }
    return buf;
}

/* GETs `path` over a connection of its own and writes the body into `body` (NUL-terminated).
 * Returns the status, or -1 when the server could not be reached. For control routes
 * (`/__stats`, `/__reset`) and for checks that need no client library. */
static inline int test_server_get(const test_server *s, const char *path, char *body,
                                  size_t len) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)s->port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char buf[4096];
    int req = snprintf(buf, sizeof buf,
                       "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || req < 0 ||
        (size_t)req >= sizeof buf || send(fd, buf, (size_t)req, MSG_NOSIGNAL) != req) {
        close(fd);
        return -1;
    }
    size_t got = 0;
    while (got < sizeof buf - 1) {
        ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    int status = 0;
    const char *end = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/1.1 %d", &status) != 1 || end == NULL)
        return -1;
    snprintf(body, len, "%s", end + 4);
    return status;
}

static inline uint64_t test_server_field_(const char *json, const char *key) {
    char want[64];
    snprintf(want, sizeof want, "\"%s\":", key);
    const char *at = strstr(json, want);
    if (at == NULL) {
        fprintf(stderr, "test server: no %s in %s\n", key, json);
        exit(2);
    }
    return strtoull(at + strlen(want), NULL, 10);
}

/* The server's counters, from `/__stats`. Exits with status 2 if the server cannot say. */
static inline test_server_stats test_server_get_stats(const test_server *s) {
    char json[512];
    if (test_server_get(s, "/__stats", json, sizeof json) != 200) {
        fprintf(stderr, "test server: GET /__stats failed\n");
        exit(2);
    }
    test_server_stats st;
    st.accepted = test_server_field_(json, "accepted");
    st.open_connections = test_server_field_(json, "open_connections");
    st.requests = test_server_field_(json, "requests");
    st.in_flight = test_server_field_(json, "in_flight");
    st.max_in_flight = test_server_field_(json, "max_in_flight");
    return st;
}

/* Zeroes the server's counters and sequences (`/__reset`); returns 0 on success. */
static inline int test_server_reset(const test_server *s) {
    char body[64];
    return test_server_get(s, "/__reset", body, sizeof body) == 200 ? 0 : -1;
}

/* Stops the server (SIGTERM) and waits for it, at most 10 s (then SIGKILL). Returns 0 when it
 * exited cleanly with status 0. Idempotent. */
static inline int test_server_stop(test_server *s) {
    if (s->pid <= 0)
        return 0;
    kill(s->pid, SIGTERM);
    close(s->stdin_fd);
    int status = 0;
    pid_t done = 0;
    for (int i = 0; i < 1000 && done == 0; i++) {
        done = waitpid(s->pid, &status, WNOHANG);
        if (done == 0) {
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    if (done == 0) {
        fprintf(stderr, "test server: pid %d ignored SIGTERM; killing it\n", (int)s->pid);
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &status, 0);
    }
    close(s->stdout_fd);
    s->pid = 0;
    return done > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

#endif
