/* sdnotify: systemd's readiness protocol (sd_notify(3)) without libsystemd.
 *
 * A service of Type=notify tells its manager it is ready by sending a
 * datagram such as "READY=1" to the AF_UNIX socket named by $NOTIFY_SOCKET
 * (a path, or "@name" for the abstract namespace). Without the variable
 * (run by hand, by tests, by another supervisor) every call does nothing. */
#ifndef BP_SDNOTIFY_H
#define BP_SDNOTIFY_H

#include <stdbool.h>

/* Sends `state` (newline-separated VAR=value lines) to $NOTIFY_SOCKET.
 * Returns true if it was sent or there is no socket to send to; false (and
 * logs a warning) if sending failed. */
bool sdnotify_send(const char *state);

/* READY=1: the listeners are open and requests will be served. */
bool sdnotify_ready(void);

/* STOPPING=1: shutting down (draining). */
bool sdnotify_stopping(void);

/* RELOADING=1 with MONOTONIC_USEC (the CLOCK_MONOTONIC time the reload
 * began, as systemd requires); sdnotify_ready() ends the reload. */
bool sdnotify_reloading(void);

#endif
