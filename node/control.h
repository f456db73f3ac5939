/* The control API endpoint: a ZeroMQ ROUTER socket watched by the libuv
 * loop.  Requests that arrive together are handled as one batch by the
 * service (one transaction, one fsync), then every reply is sent. */
#pragma once

#include <stdint.h>
#include <uv.h>

#include "core/err.h"
#include "service.h"

typedef struct wj_control wj_control_t;

/* Binds endpoint (ipc://PATH gets file mode 0660 so that members of the
 * node's group may use node-ctl) and starts serving on loop. */
int wj_control_start(uv_loop_t *loop, const char *endpoint, wj_service_t *svc,
		     uint32_t batch_max, wj_control_t **out, wj_err_t *err);
/* Called after every batch that committed writes, once its replies are
 * sent: the daemon uses it to ship new events to other nodes at once. */
void wj_control_on_batch(wj_control_t *c, void (*cb)(void *data), void *data);
/* Something may have been stored (events from another node): held
 * watches are asked again and those with news answered. */
void wj_control_changed(wj_control_t *c);
/* Stops reading requests and closes the socket.  Requests already read
 * have been answered: a batch is handled to the end before the loop runs
 * again.  Memory is freed once the loop has closed the handles. */
void wj_control_stop(wj_control_t *c);
