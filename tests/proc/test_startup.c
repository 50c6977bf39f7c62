/* batchproxy's start and its file descriptors: a SIGHUP sent the moment it
 * says "listening on" is a reload, not its death; it raises its soft limit
 * on open files to the hard one; and out of descriptors it pauses accepting
 * (no busy loop, no flood of log lines) while serving the connections it
 * has. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tproc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Starts prog (in the build directory) with args after argv[0] and its
 * stderr on a pipe; returns the pid and the pipe's read end in *err. */
static pid_t spawn(const char *prog, char *const args[], int *err)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        char path[512];
        snprintf(path, sizeof path, "%s/%s", BP_BUILD_DIR, prog);
        execv(path, args);
        _exit(127);
    }
    close(p[1]);
    *err = p[0];
    return pid;
}

static pid_t spawn_proxy(int *err)
{
    static char *const args[] = {"batchproxy", "--listen",           "127.0.0.1:0",
                                 "--backend",  "http://127.0.0.1:9", NULL};
    return spawn("batchproxy", args, err);
}

/* Reads the pipe until a line holding `needle` (true) or end of file or
 * `limit` seconds (false). */
static bool read_until(int fd, const char *needle, double limit)
{
    static char buf[65536];
    size_t len = 0;
    double end = tnow() + limit;
    while (tnow() < end && len < sizeof buf - 1) {
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            return false;
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, needle))
            return true;
    }
    return false;
}

static void test_sighup_right_after_listening_is_a_reload(void **state)
{
    (void)state;
    for (int i = 0; i < 40; i++) {
        int err;
        pid_t pid = spawn_proxy(&err);
        assert_true(pid > 0);
        assert_true(read_until(err, "listening on", 15));
        kill(pid, SIGHUP);
        /* The reload's log line shows the handler ran. */
        bool reloaded = read_until(err, "reload:", 10);
        int status;
        pid_t gone = waitpid(pid, &status, WNOHANG);
        if (gone == 0)
            kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        close(err);
        if (!reloaded || gone != 0)
            fail_msg("try %d: SIGHUP right after start-up killed the proxy", i);
    }
}

/* classifyd too: a SIGTERM the moment it listens is a clean stop (exit 0),
 * never the signal's default action. */
static void test_classifyd_sigterm_right_after_listening_is_a_clean_stop(void **state)
{
    (void)state;
    static char *const args[] = {"classifyd", "--listen", "127.0.0.1:0", NULL};
    for (int i = 0; i < 40; i++) {
        int err;
        pid_t pid = spawn("classifyd", args, &err);
        assert_true(pid > 0);
        assert_true(read_until(err, "listening on", 15));
        kill(pid, SIGTERM);
        int status;
        waitpid(pid, &status, 0);
        close(err);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("try %d: SIGTERM right after start-up: %s %d", i,
                     WIFSIGNALED(status) ? "killed by signal" : "exit",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    }
}

static void test_soft_fd_limit_is_raised_to_the_hard_one(void **state)
{
    (void)state;
    struct rlimit saved, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    if (saved.rlim_max <= 256)
        skip();
    low = saved;
    low.rlim_cur = 256; /* inherited by the child */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    tproc p;
    bool started =
        tproc_start(&p, "batchproxy", (const char *[]){"--backend", "http://127.0.0.1:9", NULL});
    setrlimit(RLIMIT_NOFILE, &saved);
    assert_true(started);
    long soft = tproc_proc_value(p.pid, "limits", "Max open files");
    tproc_stop(&p, 5);
    assert_true(soft == (long)saved.rlim_max || (saved.rlim_max == RLIM_INFINITY && soft < 0));
}

static int count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* user + system CPU seconds of pid. */
static double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static void test_out_of_descriptors_pauses_accepting(void **state)
{
    (void)state;
    tproc p;
    assert_true(
        tproc_start(&p, "batchproxy", (const char *[]){"--backend", "http://127.0.0.1:9", NULL}));
    /* One open connection to serve later, then a limit a few descriptors
     * above what the proxy holds: the next connections exhaust it. */
    int kept = thttp_connect(p.port);
    assert_true(kept >= 0);
    assert_true(thttp_send(kept, "GET", "/healthz", NULL, NULL, 0));
    thttp_resp r;
    assert_true(thttp_recv(kept, &r, 10));
    thttp_resp_free(&r);
    int open_now = count_fds(p.pid);
    struct rlimit lim = {(rlim_t)open_now + 4, (rlim_t)open_now + 4};
    assert_int_equal(prlimit(p.pid, RLIMIT_NOFILE, &lim, NULL), 0);
    int extra[16];
    for (int i = 0; i < 16; i++)
        extra[i] = thttp_connect(p.port); /* the kernel completes them all */
    /* Out of descriptors from now on (it says so), then watched for 1.5 s. */
    assert_true(tproc_await_log(&p, "cannot accept connections", 10));
    double cpu0 = cpu_seconds(p.pid);
    off_t log0 = file_size(p.log_path);
    tpause(1.5); /* the spell measured: what is exercised, not ordering */
    double cpu = cpu_seconds(p.pid) - cpu0;
    off_t logged = file_size(p.log_path) - log0;
    /* The open connection is still served, at once. */
    assert_true(thttp_send(kept, "GET", "/healthz", NULL, NULL, 0));
    bool served = thttp_recv(kept, &r, 2);
    int status = served ? r.status : 0;
    if (served)
        thttp_resp_free(&r);
    for (int i = 0; i < 16; i++)
        if (extra[i] >= 0)
            close(extra[i]);
    close(kept);
    bool logged_why = tproc_log_contains(&p, "cannot accept connections");
    tproc_stop(&p, 5);
    printf("out of descriptors for 1.5 s: %.2f s of CPU, %lld bytes of log\n", cpu,
           (long long)logged);
    assert_true(served);
    assert_int_equal(status, 200);
    assert_true(cpu < 0.5);     /* a busy loop takes the whole 1.5 s */
    assert_true(logged < 4096); /* a line per interval, not per try */
    assert_true(logged_why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sighup_right_after_listening_is_a_reload),
        cmocka_unit_test(test_classifyd_sigterm_right_after_listening_is_a_clean_stop),
        cmocka_unit_test(test_soft_fd_limit_is_raised_to_the_hard_one),
        cmocka_unit_test(test_out_of_descriptors_pauses_accepting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
