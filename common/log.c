// SPDX-License-Identifier: GPL-2.0-or-later
/* Logging for libraries and tools: one line per message, stderr by default. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>

#include "strata/log.h"

static const char *log_prog = "strata";
static enum strata_log_level log_threshold = STRATA_LOG_WARN;
static bool log_stamps;
static strata_log_sink_fn log_sink;
static void *log_sink_arg;

static const char *const level_names[] = { "err", "warn", "info", "debug" };

void strata_log_init(const char *progname, enum strata_log_level level)
{
	const char *env = getenv("STRATA_LOG");

	if (progname)
		log_prog = progname;
	log_threshold = level;
	if (env) {
		for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
			if (!strcasecmp(env, level_names[i]))
				log_threshold = (enum strata_log_level)i;
	}
}

enum strata_log_level strata_log_level(void)
{
	return log_threshold;
}

void strata_log_set_sink(strata_log_sink_fn fn, void *arg)
{
	log_sink = fn;
	log_sink_arg = arg;
}

void strata_log_set_timestamps(bool on)
{
	log_stamps = on;
}

void strata_log(enum strata_log_level lvl, const char *fmt, ...)
{
	char line[1024];
	int saved = errno;
	int n, off = 0, start;
	va_list ap;

	if (lvl > log_threshold)
		return;
	if (log_stamps && !log_sink) {
		time_t now = time(NULL);
		struct tm tm;

		if (gmtime_r(&now, &tm))
			off = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ ", &tm);
	}
	start = off;
	off += snprintf(line + off, sizeof(line) - off, "%s: ", log_prog);
	if (lvl == STRATA_LOG_WARN)
		off += snprintf(line + off, sizeof(line) - off, "warning: ");
	va_start(ap, fmt);
	n = vsnprintf(line + off, sizeof(line) - off, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	off += n;
	if (off > (int)sizeof(line) - 2)
		off = sizeof(line) - 2;
	if (log_sink) {
		line[off] = '\0';
		log_sink(lvl, line + start + strlen(log_prog) + 2, log_sink_arg);
	} else {
		line[off++] = '\n';
		/* One write() so that lines from threads do not interleave. */
		if (write(STDERR_FILENO, line, off) < 0) {
			/* nothing sensible to do */
		}
	}
	errno = saved;
}
