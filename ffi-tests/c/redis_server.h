/* A real `redis-server` (Debian's package, installed by scripts/setup.sh) for the C and C++
 * tests of the Redis feature, on a free loopback port, run as a child process: `--save ''` and
 * `--appendonly no`, so nothing is written to disk. ffi-tests/run.sh builds these tests only
 * when redis-server is installed.
 *
 * C11 and C++17. In C, define _POSIX_C_SOURCE 200809L before including any header. */
#ifndef HTTPBATCH_TEST_REDIS_SERVER_H
#define HTTPBATCH_TEST_REDIS_SERVER_H

#include "server.h"

typedef struct {
    pid_t pid; /* 0 once stopped */
    unsigned port;
    char url[64]; /* redis://127.0.0.1:PORT/0 */
} redis_server;

static inline unsigned redis_free_port_(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        test_server_die_("free port");
    close(fd);
    return ntohs(a.sin_port);
}

/* Whether a server answers PING on `port`. */
static inline int redis_ping_(unsigned port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = 0;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        write(fd, "PING\r\n", 6) == 6) {
        char buf[8] = {0};
        ok = read(fd, buf, 7) == 7 && memcmp(buf, "+PONG\r\n", 7) == 0;
    }
    if (fd >= 0)
        close(fd);
    return ok;
}

/* Starts redis-server on a free port and waits until it answers PING (up to 10 s). Exits the
 * program with status 2 if it cannot. */
static inline void redis_server_start(redis_server *s) {
    memset(s, 0, sizeof *s);
    s->port = redis_free_port_();
    char port[16];
    snprintf(port, sizeof port, "%u", s->port);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        test_server_die_("fork");
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        char bin[] = "redis-server", p[] = "--port", b[] = "--bind", lo[] = "127.0.0.1",
             save[] = "--save", empty[] = "", aof[] = "--appendonly", no[] = "no", dir[] = "--dir",
             tmp[] = "/tmp";
        char *argv[] = {bin, p, port, b, lo, save, empty, aof, no, dir, tmp, NULL};
        execvp(bin, argv);
        _exit(127);
    }
    s->pid = pid;
    snprintf(s->url, sizeof s->url, "redis://127.0.0.1:%u/0", s->port);
    for (int i = 0; i < 2000; i++) {
        if (redis_ping_(s->port))
            return;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "redis-server exited (is it installed? scripts/setup.sh)\n");
            exit(2);
        }
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "redis-server did not answer on port %u\n", s->port);
    exit(2);
}

static inline void redis_server_stop(redis_server *s) {
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

#endif
