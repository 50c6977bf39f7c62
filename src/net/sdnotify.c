#include "sdnotify.h"

#include "log.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Fills `sa` from $NOTIFY_SOCKET; returns the address length, 0 when the
 * variable is unset or empty, -1 when it can't name an AF_UNIX socket. */
static int notify_addr(struct sockaddr_un *sa)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 0;
    size_t n = strlen(path);
    /* A path socket or an abstract one ('@' stands for the leading NUL);
     * systemd also accepts vsock addresses, which this service never gets. */
    if ((path[0] != '/' && path[0] != '@') || n >= sizeof sa->sun_path)
        return -1;
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, n);
    if (path[0] == '@')
        sa->sun_path[0] = '\0'; /* abstract: the length, not a NUL, ends it */
    return (int)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
}

bool sdnotify_send(const char *state)
{
    struct sockaddr_un sa;
    int len = notify_addr(&sa);
    if (len == 0)
        return true;
    if (len < 0) {
        log_warn("NOTIFY_SOCKET: '%s' is not a path or an abstract socket name",
                 getenv("NOTIFY_SOCKET"));
        return false;
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_warn("NOTIFY_SOCKET: socket: %s", strerror(errno));
        return false;
    }
    ssize_t sent =
        sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, (socklen_t)len);
    int err = errno;
    close(fd);
    if (sent < 0) {
        log_warn("NOTIFY_SOCKET: sending '%s': %s", state, strerror(err));
        return false;
    }
    return true;
}

bool sdnotify_ready(void)
{
    return sdnotify_send("READY=1");
}

bool sdnotify_stopping(void)
{
    return sdnotify_send("STOPPING=1");
}

bool sdnotify_reloading(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char msg[64];
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
    return sdnotify_send(msg);
}
