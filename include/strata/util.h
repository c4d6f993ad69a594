/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef STRATA_UTIL_H
#define STRATA_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) ((((x) + (a) - 1) / (a)) * (a))
#define ALIGN_DOWN(x, a) (((x) / (a)) * (a))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/*
 * Parse a size such as "4096", "64K", "1.5G", "2GiB" (powers of 1024).
 * Returns 0 and stores bytes in *out, or -EINVAL for anything else
 * (empty, negative, trailing garbage, overflow).
 */
int strata_parse_size(const char *s, uint64_t *out);

/* Format bytes as "1.5 GiB" into buf (at least 16 bytes); returns buf. */
char *strata_fmt_size(uint64_t bytes, char *buf, size_t len);

/*
 * Full pread/pwrite: loop over short transfers and EINTR.  Return 0 when
 * all len bytes moved, -errno on error, -EIO on an unexpected EOF (pread).
 */
int strata_pread_full(int fd, void *buf, size_t len, off_t off);
int strata_pwrite_full(int fd, const void *buf, size_t len, off_t off);

/* Hex encode n bytes into out (2n+1 bytes, NUL terminated). */
void strata_hex(const uint8_t *in, size_t n, char *out);

/*
 * Decode exactly 2n hex digits from in into out.  Returns 0, or -EINVAL on
 * a bad digit or wrong length.
 */
int strata_unhex(const char *in, uint8_t *out, size_t n);

/*
 * The state directory: $STRATA_STATE_DIR if set, else /var/lib/strata.
 * Returns a static string.
 */
const char *strata_state_dir(void);

/* mkdir -p with mode; 0 or -errno. */
int strata_mkdir_p(const char *path, mode_t mode);

/* Monotonic clock in nanoseconds. */
uint64_t strata_now_ns(void);

/*
 * A zero-filled buffer of len bytes for a long-lived large allocation,
 * aligned to 2 MiB and backed by transparent huge pages where the kernel
 * has them (common/bigbuf.c); NULL when out of memory.  Free it with
 * strata_big_free() and the same len.
 */
void *strata_big_alloc(size_t len);
void strata_big_free(void *p, size_t len);

#endif
