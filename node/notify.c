/* sd_notify's protocol (notify.h). */
#include "notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int wj_notify(const char *state, wj_err_t *err)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len;
	int fd, rc = 1;

	if (path == NULL || path[0] == '\0')
		return 0;
	len = strlen(path);
	/* A path, or '@' for a name in the abstract namespace (Linux); systemd
	 * only ever hands a service one of these two. */
	if (path[0] != '/' && path[0] != '@')
		return wj_err_set(err, WJ_EINVAL, "NOTIFY_SOCKET '%s' is neither a path nor "
				  "an abstract socket name ('@...')", path);
	if (len >= sizeof(sa.sun_path))
		return wj_err_set(err, WJ_EINVAL, "NOTIFY_SOCKET '%s' is longer than a "
				  "socket address can be (%zu bytes)", path,
				  sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return wj_err_set(err, WJ_EIO, "cannot make a socket to tell systemd '%s': %s",
				  state, strerror(errno));
	/* An abstract name is exactly its bytes: no NUL at the end counts. */
	socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
				      (path[0] == '@' ? 0 : 1));
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) < 0)
		rc = wj_err_set(err, WJ_EIO, "cannot tell systemd '%s' at %s: %s", state, path,
				strerror(errno));
	close(fd);
	return rc;
}
