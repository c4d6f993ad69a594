// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * strata commit: a container's upper directory as a new image (see
 * strata-commit(1) and include/strata/commit.h).  When optimistic snapshot
 * attempts of a live upper keep failing, the container's strata-fuse is
 * stopped (SIGSTOP) for one last attempt; a watchdog child resumes it
 * (SIGCONT) even if this process dies while it is stopped.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "strata/commit.h"
#include "strata/log.h"
#include "strata/util.h"
#include "tools/cmd.h"
#include "tools/cmd_image.h"
#include "tools/container.h"

#define MAX_CHANGES 64
#define STOP_WAIT_MS 5000

struct freezer {
	pid_t daemon;
	pid_t watchdog;
	int pipefd;
};

/* Whether every thread of pid is stopped (state T or t). */
static bool all_stopped(pid_t pid)
{
	char path[64], buf[512];
	struct dirent *de;
	bool stopped = true;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return false;
	while (stopped && (de = readdir(d))) {
		FILE *f;
		char *p;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.20s/stat", (int)pid, de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue; /* the thread exited */
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
		p = strrchr(buf, ')');
		if (!p || p[1] != ' ' || (p[2] != 'T' && p[2] != 't'))
			stopped = false;
	}
	closedir(d);
	return stopped;
}

static int freeze(void *arg, bool on)
{
	struct freezer *fz = arg;
	int p[2];

	if (!on) {
		int r = kill(fz->daemon, SIGCONT) && errno != ESRCH ? -errno : 0;

		close(fz->pipefd);
		while (waitpid(fz->watchdog, NULL, 0) < 0 && errno == EINTR)
			;
		return r;
	}
	if (pipe(p))
		return -errno;
	fz->watchdog = fork();
	if (fz->watchdog < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (fz->watchdog == 0) {
		char c;

		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		close(p[1]);
		/* EOF: the parent resumed the daemon itself, or died. */
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		kill(fz->daemon, SIGCONT);
		_exit(0);
	}
	close(p[0]);
	fz->pipefd = p[1];
	if (kill(fz->daemon, SIGSTOP)) {
		int r = -errno;

		freeze(fz, false);
		return r;
	}
	for (int ms = 0; !all_stopped(fz->daemon); ms++) {
		struct timespec ts = {0, 1000000};

		if (ms == STOP_WAIT_MS) {
			freeze(fz, false);
			return -ETIMEDOUT;
		}
		nanosleep(&ts, NULL);
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: strata commit [--change 'INSTRUCTION ARGS']... [--message TEXT]\n"
		   "                     [--author TEXT] [--no-pause] [--quiet]\n"
		   "                     CONTAINER|MOUNTPOINT NAME[:TAG]\n"
		   "       strata commit [options] --upper DIR --image IMAGE NAME[:TAG]\n"
		   "INSTRUCTION: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, WORKDIR (Dockerfile "
		   "syntax).\n");
}

static void created_time(struct timespec *ts)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	char *end;

	if (sde && *sde) {
		long long v = strtoll(sde, &end, 10);

		if (!*end && v >= 0) {
			ts->tv_sec = (time_t)v;
			ts->tv_nsec = 0;
			return;
		}
	}
	clock_gettime(CLOCK_REALTIME, ts);
}

int cmd_commit(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"change", required_argument, NULL, 'c'},
	    {"message", required_argument, NULL, 'm'},
	    {"author", required_argument, NULL, 'a'},
	    {"upper", required_argument, NULL, 'u'},
	    {"image", required_argument, NULL, 'i'},
	    {"no-pause", no_argument, NULL, 'P'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *changes[MAX_CHANGES], *upper = NULL, *image = NULL, *target, *name;
	struct commit_opts o = {0};
	struct dedup_store_policy sp;
	struct commit_result res;
	struct container ct = {0};
	struct freezer fz = {0};
	const struct catalog_image *parent;
	char nn[CATALOG_NAME_MAX + 1], dg[IMAGE_DIGEST_STRLEN], dd[IMAGE_DIGEST_STRLEN];
	char a[32], b[32];
	bool quiet = false, no_pause = false, have_ct = false;
	struct img_ctx ctx;
	struct stat st;
	int c, r, ret = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:m:a:qh", lopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (o.nchanges == MAX_CHANGES) {
				cmd_err("commit: at most %d --change", MAX_CHANGES);
				return 2;
			}
			changes[o.nchanges++] = optarg;
			break;
		case 'm':
			o.message = optarg;
			break;
		case 'a':
			o.author = optarg;
			break;
		case 'u':
			upper = optarg;
			break;
		case 'i':
			image = optarg;
			break;
		case 'P':
			no_pause = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != (upper ? 1 : 2) || !!upper != !!image) {
		if (!!upper != !!image)
			cmd_err("commit: --upper and --image go together");
		usage(stderr);
		return 2;
	}
	target = upper ? NULL : argv[optind];
	name = argv[argc - 1];
	if (catalog_normalize_name(name, nn)) {
		cmd_err("commit: '%s' is not a valid name (NAME[:TAG])", name);
		return 2;
	}
	o.changes = changes;
	if (commit_check_changes(changes, o.nchanges)) {
		cmd_err("commit: bad --change (see above); nothing was committed");
		return 2;
	}
	if (target) {
		r = container_find(target, &ct);
		if (r) {
			if (r == -ENOENT)
				cmd_err("commit: %s: no such container (a name or mountpoint from "
					"'strata mount')",
					target);
			else
				cmd_err("commit: %s: %s", target, strerror(-r));
			return 1;
		}
		have_ct = true;
		upper = ct.upper;
		image = ct.image;
		/* The container's store, whatever the environment says. */
		setenv("STRATA_STORE", ct.store, 1);
		fz.daemon = container_daemon_pid(&ct);
	}
	if (stat(upper, &st) || !S_ISDIR(st.st_mode)) {
		cmd_err("commit: %s%s%supper directory %s %s; nothing was committed",
			have_ct ? "container " : "", have_ct ? ct.name : "", have_ct ? ": " : "",
			upper, errno == ENOENT ? "vanished" : "is not usable");
		goto out;
	}
	if (img_ctx_open(&ctx, "commit", true, NULL))
		goto out;
	r = catalog_resolve(ctx.cat, image, &parent);
	if (r) {
		if (have_ct && r == -ENOENT)
			cmd_err("commit: container %s: its image %s is no longer in the store",
				ct.name, image);
		else
			img_resolve_err("commit", image, r);
		img_ctx_close(&ctx, "commit");
		goto out;
	}
	/* The store's compression and chunking apply to the new layer. */
	r = dedup_store_policy_load(ctx.s, &sp);
	if (r && r != -EBADMSG) {
		cmd_err("commit: %s: cannot read the store policy: %s", ctx.path, strerror(-r));
		img_ctx_close(&ctx, "commit");
		goto out;
	}
	if (!r && sp.has_compress) {
		chunkstore_destroy(ctx.cs);
		r = chunkstore_create(ctx.s, &sp.compress, &ctx.cs);
		if (r) {
			ctx.cs = NULL;
			cmd_err("commit: %s", strerror(-r));
			img_ctx_close(&ctx, "commit");
			goto out;
		}
	}
	if (sp.has_chunking)
		o.chunking = &sp.chunking;
	o.upper = upper;
	o.names = (const char *const[]){nn};
	o.nnames = 1;
	o.tmpdir = getenv("TMPDIR");
	created_time(&o.created);
	if (fz.daemon > 0 && !no_pause) {
		o.freeze = freeze;
		o.freeze_arg = &fz;
	}
	r = commit_image(ctx.cs, ctx.cat, parent, &o, &res);
	if (r) {
		switch (r) {
		case -ENOENT:
			cmd_err("commit: %s: upper directory vanished; nothing was committed",
				upper);
			break;
		case -EAGAIN:
			cmd_err("commit: %s: the upper kept changing; no consistent snapshot%s",
				upper,
				fz.daemon > 0 && no_pause ? " (try without --no-pause)" : "");
			break;
		case -ENOTSUP:
			cmd_err("commit: %s: holds something a layer cannot express (see above)",
				upper);
			break;
		case -EBADMSG:
			cmd_err("commit: %s: damaged parent image or missing metacopy data (see "
				"above); nothing was committed",
				image);
			break;
		default:
			cmd_err("commit: %s: %s; nothing was committed", upper, strerror(-r));
		}
		img_ctx_close(&ctx, "commit");
		goto out;
	}
	ret = img_ctx_close(&ctx, "commit");
	if (ret)
		goto out;
	image_digest_format(&res.id, dg);
	if (quiet) {
		printf("%s\n", dg);
		goto out;
	}
	printf("committed %s (%s): layer %s, %llu entries, %s, %s%s, %s new stored, "
	       "%u attempt%s%s\n",
	       dg, nn, image_digest_format(&res.diff_id, dd), (unsigned long long)res.entries,
	       strata_fmt_size(res.tar_size, a, sizeof(a)),
	       res.layer_new ? "new layer" : "layer already stored",
	       res.metacopy_files ? ", metacopy data from the image" : "",
	       strata_fmt_size(res.stored_bytes, b, sizeof(b)), res.attempts,
	       res.attempts == 1 ? "" : "s", res.frozen ? " (daemon paused for the last)" : "");
out:
	if (have_ct)
		container_free(&ct);
	return ret;
}
