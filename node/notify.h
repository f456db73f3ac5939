/* Telling systemd how the node is doing (a Type=notify unit): the
 * sd_notify protocol, one datagram of "KEY=value" lines to the AF_UNIX
 * socket that $NOTIFY_SOCKET names.
 *
 * Written here, not linked from libsystemd: the protocol is a stable
 * interface systemd documents for exactly this (sd_notify(3)), and
 * libsystemd with what it loads (libgcrypt, libgpg-error, liblz4, libzstd,
 * liblzma, libcap) cost about 1 MB of resident memory on every node, on a
 * village PC whose node must stay within 16 MB. */
#pragma once

#include "core/err.h"

/* Sends `state` (e.g. "READY=1") when the node runs under systemd.
 * Returns 1 when sent, 0 when there is nobody to tell ($NOTIFY_SOCKET
 * unset or empty), or a negative WJ_E* code with err saying why it could
 * not be sent. */
int wj_notify(const char *state, wj_err_t *err);
