/* fakebe: the scriptable fake backend (fakebe.h) as a program, for shell
 * scripts (scripts/memcheck.sh puts it behind batchproxy under valgrind).
 *
 *   fakebe [--listen 127.0.0.1:0] [--rest STEP] [--health STEP] STEP...
 *
 * Each STEP, in fakebe_parse_step's text form, answers one POST in the
 * order they arrive; every later POST follows --rest (default: the true
 * answer). It prints "listening on 127.0.0.1:PORT" on stderr, serves until
 * SIGINT or SIGTERM, prints what it served, and exits 0. */
#include "fakebe.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STEPS 256

/* Prints the usage: after why on stderr (exit 2), or alone on stdout for
 * --help (exit 0). */
static int usage(const char *why)
{
    if (why)
        fprintf(stderr, "fakebe: %s\n", why);
    fprintf(why ? stderr : stdout,
            "usage: fakebe [--listen 127.0.0.1:0] [--rest STEP] [--health STEP] STEP...\n"
            "  STEP: comma-separated act=normal|wrong_count|status|raw|close|silent,\n"
            "        status=N, body=TEXT, pad=BYTES, delay=S, trickle=S, chunked,\n"
            "        then=keep|close|repeat|extra, extra=TEXT (TEXT: \\xHH escapes)\n");
    return why ? 2 : 0;
}

int main(int argc, char **argv)
{
    static fakebe_step steps[MAX_STEPS];
    fakebe_script script = {.steps = steps};
    char err[200];
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (!strcmp(opt, "--help"))
            return usage(NULL);
        bool takes = !strcmp(opt, "--listen") || !strcmp(opt, "--rest") || !strcmp(opt, "--health");
        if (takes && i + 1 >= argc)
            return usage("an option lacks its value");
        fakebe_step *st = !strcmp(opt, "--rest")     ? &script.rest
                          : !strcmp(opt, "--health") ? &script.health
                          : takes                    ? NULL
                                                     : &steps[script.n];
        if (!strcmp(opt, "--listen") && strcmp(argv[i + 1], "127.0.0.1:0") != 0)
            return usage("it listens on 127.0.0.1:0 only (a free port)");
        if (!takes && script.n == MAX_STEPS)
            return usage("too many steps");
        if (st && !fakebe_parse_step(argv[takes ? i + 1 : i], st, err, sizeof err))
            return usage(err);
        script.n += !takes;
        i += takes;
    }
    /* Blocked before the fake's threads start, so they inherit the mask
     * and sigwait below takes the signal. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    fakebe fb;
    if (!fakebe_start(&fb, &script)) {
        perror("fakebe: cannot start");
        return 1;
    }
    fprintf(stderr, "listening on 127.0.0.1:%d\n", fb.port);
    int sig;
    sigwait(&stop, &sig);
    fprintf(stderr, "fakebe: %d POSTs (%d answered in full), %d health checks, %d connections\n",
            fakebe_posts(&fb), fakebe_answered(&fb), fakebe_health_checks(&fb),
            fakebe_connections(&fb));
    fakebe_stop(&fb);
    return 0;
}
