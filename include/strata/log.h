/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef STRATA_LOG_H
#define STRATA_LOG_H

#include <stdbool.h>

enum strata_log_level {
	STRATA_LOG_ERR = 0,
	STRATA_LOG_WARN = 1,
	STRATA_LOG_INFO = 2,
	STRATA_LOG_DEBUG = 3,
};

/*
 * Set the program name that prefixes every log line ("strata: ...") and the
 * highest level printed.  The level can also be raised with the environment
 * variable STRATA_LOG=err|warn|info|debug, read once by strata_log_init().
 * Log lines go to stderr (or to the sink set below); library code uses these
 * instead of printing to stdout.
 */
void strata_log_init(const char *progname, enum strata_log_level level);

/* Current threshold; messages above it are dropped. */
enum strata_log_level strata_log_level(void);

/*
 * Replace the sink (default: stderr).  Tests capture messages with it.  The
 * callback gets the formatted line without the trailing newline.  NULL
 * restores stderr.
 */
typedef void (*strata_log_sink_fn)(enum strata_log_level lvl, const char *line, void *arg);
void strata_log_set_sink(strata_log_sink_fn fn, void *arg);
/* Start each line written to stderr with the UTC time
 * ("2026-11-24T04:55:01Z "), for logs kept in a file. */
void strata_log_set_timestamps(bool on);

/* printf-style logging; thread-safe (one write per line). */
void strata_log(enum strata_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...) strata_log(STRATA_LOG_ERR, __VA_ARGS__)
#define log_warn(...) strata_log(STRATA_LOG_WARN, __VA_ARGS__)
#define log_info(...) strata_log(STRATA_LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                        \
	do {                                                  \
		if (strata_log_level() >= STRATA_LOG_DEBUG)   \
			strata_log(STRATA_LOG_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
