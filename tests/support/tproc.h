/* tproc: process-level test support: start one of our servers on a free
 * port, wait until it is listening, talk HTTP/1.1 to it over plain blocking
 * sockets, and always stop it again.
 *
 * Servers are started with "--listen 127.0.0.1:0"; the real port is read
 * from the "listening on HOST:PORT" line they print on stderr (which goes
 * to a log file the test can inspect). Children die with the test process
 * (PR_SET_PDEATHSIG), so a crashed test leaves nothing running. */
#ifndef BP_TPROC_H
#define BP_TPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct tproc {
    pid_t pid;
    int port;
    char log_path[256];
} tproc;

/* Starts BUILD_DIR/prog with args (NULL-terminated) plus "--listen
 * 127.0.0.1:0" unless args has its own --listen (and, for batchproxy,
 * "--metrics-cache-ms 0" unless args has it or --config, so that a metric
 * read right after what moved it shows the move), and waits up to 15 s for it to listen. Returns
 * false (and prints its log) if it exits or never listens. */
bool tproc_start(tproc *p, const char *prog, const char *const *args);

/* The number after `key` on its line of /proc/PID/FILE ("status" and
 * "VmRSS:" for the resident set in kB, "limits" and "Max open files" for
 * the soft limit), or -1. */
long tproc_proc_value(pid_t pid, const char *file, const char *key);

/* The fixture of many process tests: a backend (classifyd, or whatever a
 * test starts there) and a batchproxy in front. tpair_setup and
 * tpair_teardown are cmocka setup and teardown functions: a zeroed pair,
 * then both stopped (failing the test unless they exit cleanly) and freed. */
typedef struct tpair {
    tproc backend, proxy;
} tpair;
int tpair_setup(void **state);
int tpair_teardown(void **state);

/* Sends SIGTERM, waits up to `grace` seconds, then SIGKILL. Returns the exit
 * status as from waitpid's WEXITSTATUS, or -1 if it had to be killed or died
 * of a signal. Safe to call on a tproc that was never started or already
 * stopped. */
int tproc_stop(tproc *p, double grace);

/* Runs BUILD_DIR/prog with args (NULL-terminated) to completion, its
 * stdout to out_path and stderr to err_path; SIGKILLs it after `limit`
 * seconds. Returns its exit status, or -1 if it could not start, was
 * killed or died of a signal. For the programs that exit on their own
 * (loadgen, schedsim). */
int tproc_run(const char *prog, const char *const *args, const char *out_path, const char *err_path,
              double limit);

/* Sends `sig` to the process (if it is running). Returns false if there is
 * none or kill fails. */
bool tproc_signal(const tproc *p, int sig);

/* Waits up to `timeout` seconds for the process to exit on its own, without
 * signalling it first; SIGKILLs it after that. Returns what tproc_stop
 * returns. */
int tproc_wait(tproc *p, double timeout);

/* tproc_stop, then checks that the process exited 0 and that its log has
 * no sanitizer report; prints the log and returns false otherwise. A tproc
 * that was never started or is already stopped passes. */
bool tproc_stop_clean(tproc *p, double grace);

/* True if a line of the file (newline included) contains `needle`. */
bool tfile_contains(const char *path, const char *needle);

/* True if the process's log contains `needle` (tfile_contains). */
bool tproc_log_contains(const tproc *p, const char *needle);

/* Prints the process's log to stdout (for diagnosing a failed test). */
void tproc_dump_log(const tproc *p);

/* One HTTP response, as read by thttp_recv. */
typedef struct thttp_resp {
    int status;
    char headers[8192]; /* raw header block, NUL-terminated */
    char *body;         /* malloc'd, NUL-terminated */
    size_t body_len;
    double elapsed; /* seconds from send to complete response */
} thttp_resp;

/* A blocking TCP connection to 127.0.0.1:port, or -1. */
int thttp_connect(int port);

/* Writes one request (adds Host, Content-Length and, if body, JSON
 * Content-Type; extra_headers are "Name: value\r\n" lines or NULL). */
bool thttp_send(int fd, const char *method, const char *path, const char *extra_headers,
                const char *body, size_t len);

/* Reads one response with a Content-Length body, waiting at most timeout
 * seconds. Returns false on timeout, closed connection or malformed answer. */
bool thttp_recv(int fd, thttp_resp *r, double timeout);

/* connect + send + recv + close. */
bool thttp_request(int port, const char *method, const char *path, const char *extra_headers,
                   const char *body, thttp_resp *r, double timeout);

/* The value of a response header (case-insensitive name) copied into buf, or NULL. */
const char *thttp_header(const thttp_resp *r, const char *name, char *buf, size_t len);

void thttp_resp_free(thttp_resp *r);

/* The value of one exact series ("name" or "name{labels}") in the
 * server's /metrics, 0 if absent; NAN if /metrics can't be read. */
double thttp_metric(int port, const char *series);

/* Waits up to `limit` seconds for thttp_metric to reach at least `want`;
 * returns the last value read. */
double thttp_await_metric(int port, const char *series, double want, double limit);

/* Waits up to `limit` seconds for thttp_metric to fall to at most `want`;
 * returns the last value read. */
double thttp_await_metric_at_most(int port, const char *series, double want, double limit);

/* Waits up to `timeout` seconds, polling every few milliseconds, until
 * cond(arg) is true; returns whether it became true (it is asked once more
 * at the deadline). Tests order events with this, on what shows that the
 * event happened (a metric, a log line, a socket or process state), never
 * with a fixed sleep. */
bool tproc_wait_for(bool (*cond)(void *arg), void *arg, double timeout);

/* Lines of the process's log that contain `needle`. */
int tproc_log_count(const tproc *p, const char *needle);

/* Waits up to `timeout` seconds for at least `n` lines of the process's log
 * to contain `needle`; returns whether they did. */
bool tproc_await_log_count(const tproc *p, const char *needle, int n, double timeout);

/* tproc_await_log_count for one line. */
bool tproc_await_log(const tproc *p, const char *needle, double timeout);

/* True if the process at the other end of the loopback TCP connection fd
 * has read every byte sent on it so far: nothing is left unacknowledged in
 * fd's send queue and nothing unread in the peer socket's receive queue
 * (from /proc/net/tcp). A server that reads and dispatches a request in one
 * loop turn has then started on it. */
bool tsock_consumed(int fd);

/* Waits up to `timeout` seconds for tsock_consumed(fd). */
bool tsock_await_consumed(int fd, double timeout);

/* True if a read on fd would not block right now (data, end of file or an
 * error are waiting). */
bool tsock_readable(int fd);

/* Sleeps for s seconds. Only for a pace or a period that is itself what a
 * test exercises (a trickling client, an idle spell that lets a timeout
 * pass), never to order events: see tproc_wait_for. */
void tpause(double s);

/* Seconds on the monotonic clock. */
double tnow(void);

#endif
