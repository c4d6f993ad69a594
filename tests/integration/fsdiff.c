// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fsdiff: differential testing of strata-fuse against kernel overlayfs.
 *
 *   fsdiff populate SEED DIR [BELOW]  random lower tree (files, dirs,
 *                                     symlinks, fifos, xattrs; with the
 *                                     layer BELOW: opaque dirs, whiteouts)
 *   fsdiff run SEED NOPS REF TEST     the same seeded operations on both
 *                                     mounts; return codes and the touched
 *                                     objects' attributes must match
 *   fsdiff tree A B                   merged views must be identical
 *   fsdiff upper A B                  upper directories must be identical
 *                                     (whiteouts, opaque markers included)
 *
 * Renames that the reference refuses with EXDEV (directories with lower
 * content: kernel overlayfs without redirect_dir) are done by strata by
 * design; they are skipped on both sides and counted.  Exit 1 on any
 * difference, with one line per difference on stderr.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

static uint64_t rng;
static int mismatches;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static unsigned pick(unsigned n)
{
	return (unsigned)(rnd() % n);
}

static const char *const names[] = { "a", "b", "c", "d", "e" };

static void rand_rel(char *buf, size_t size)
{
	unsigned depth = 1 + pick(3);
	size_t len = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < depth; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s",
					i ? "/" : "", names[pick(5)]);
}

static void mismatch(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void mismatch(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "MISMATCH: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	mismatches++;
}

/* ---- populate ---- */
static void fill(int fd, size_t n)
{
	char buf[4096];

	while (n) {
		size_t k = n < sizeof(buf) ? n : sizeof(buf);

		for (size_t i = 0; i < k; i++)
			buf[i] = (char)('a' + pick(26));
		if (write(fd, buf, k) != (ssize_t)k)
			return;
		n -= k;
	}
}

/* ref: the same directory in the layer below, NULL when there is none (or
 * this one is opaque).  Whiteouts go only where ref is a directory: kernel
 * overlayfs lists whiteouts of a single-layer lower directory as entries
 * (that then fail lookup), a quirk no real image relies on. */
static void populate(const char *dir, const char *ref, int depth, bool bottom)
{
	char p[4096], rp[4096];
	struct stat st;

	for (unsigned i = 0; i < 5; i++) {
		unsigned what = pick(10);
		int fd;

		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		if (ref)
			snprintf(rp, sizeof(rp), "%s/%s", ref, names[i]);
		if (what < 3 && depth < 3) {
			bool opq = !bottom && pick(5) == 0;

			mkdir(p, 0755 - (pick(2) ? 0 : 020));
			if (opq)
				setxattr(p, "trusted.overlay.opaque", "y", 1, 0);
			populate(p, ref && !opq && !lstat(rp, &st) &&
					    S_ISDIR(st.st_mode) ? rp : NULL,
				 depth + 1, bottom);
		} else if (what < 6) {
			fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
			if (fd >= 0) {
				if (pick(4) == 0)
					lseek(fd, 65536 * (1 + pick(4)), SEEK_SET);
				fill(fd, pick(3) ? pick(200) : 70000);
				close(fd);
			}
			if (pick(4) == 0)
				setxattr(p, "user.k", "v", 1, 0);
			if (pick(5) == 0)
				chown(p, 1000, 1000);
		} else if (what == 6) {
			symlink(pick(2) ? "a" : "../b/c", p);
		} else if (what == 7) {
			mkfifo(p, 0600);
		} else if (what == 8 && !bottom && ref) {
			mknod(p, S_IFCHR, makedev(0, 0)); /* whiteout */
		}
	}
}

/* ---- run ---- */
struct res {
	int ret; /* 0 or errno */
	struct stat st;
	int st_ret;
	char data[256];
	ssize_t dlen;
};

static void look(const char *root, const char *rel, struct res *r)
{
	char p[4096];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	r->st_ret = lstat(p, &r->st) ? errno : 0;
	r->dlen = -1;
	if (!r->st_ret && S_ISREG(r->st.st_mode)) {
		fd = open(p, O_RDONLY);
		if (fd >= 0) {
			r->dlen = pread(fd, r->data, sizeof(r->data), 0);
			close(fd);
		}
	}
}

struct op {
	unsigned kind;
	char p1[256], p2[256];
	unsigned mode, flags, uid;
	off_t off, size;
	uint64_t seed;
};

enum { OP_CREATE, OP_WRITE, OP_TRUNC, OP_RENAME, OP_LINK, OP_UNLINK,
       OP_MKDIR, OP_RMDIR, OP_CHMOD, OP_CHOWN, OP_SETX, OP_RMX, OP_SYMLINK,
       OP_UTIME, OP_MKFIFO, OP_NOPS };
static const char *const op_names[] = { "create", "write", "truncate",
	"rename", "link", "unlink", "mkdir", "rmdir", "chmod", "chown",
	"setxattr", "removexattr", "symlink", "utimens", "mkfifo" };

static int apply(const char *root, const struct op *o)
{
	char a[4096], b[4096], buf[8192];
	struct timespec ts[2] = { { 1000000000, 123456789 },
				  { 1100000000, 987654321 } };
	uint64_t save;
	int fd, r = 0;

	snprintf(a, sizeof(a), "%s/%s", root, o->p1);
	snprintf(b, sizeof(b), "%s/%s", root, o->p2);
	switch (o->kind) {
	case OP_CREATE:
		fd = open(a, O_CREAT | O_EXCL | O_WRONLY, o->mode);
		if (fd < 0)
			return errno;
		close(fd);
		return 0;
	case OP_WRITE:
		fd = open(a, O_WRONLY | O_NONBLOCK | (o->flags ? O_APPEND : 0));
		if (fd < 0)
			return errno;
		save = rng;
		rng = o->seed;
		for (size_t i = 0; i < (size_t)o->size && i < sizeof(buf); i++)
			buf[i] = (char)('A' + pick(26));
		rng = save;
		if (pwrite(fd, buf, (size_t)o->size, o->off) < 0)
			r = errno;
		close(fd);
		return r;
	case OP_TRUNC:
		return truncate(a, o->size) ? errno : 0;
	case OP_RENAME:
		return renameat2(AT_FDCWD, a, AT_FDCWD, b, o->flags) ? errno : 0;
	case OP_LINK:
		return link(a, b) ? errno : 0;
	case OP_UNLINK:
		return unlink(a) ? errno : 0;
	case OP_MKDIR:
		return mkdir(a, o->mode) ? errno : 0;
	case OP_RMDIR:
		return rmdir(a) ? errno : 0;
	case OP_CHMOD:
		return chmod(a, o->mode) ? errno : 0;
	case OP_CHOWN:
		return lchown(a, o->uid, o->uid) ? errno : 0;
	case OP_SETX:
		return lsetxattr(a, "user.t", o->p2, strlen(o->p2), 0) ? errno : 0;
	case OP_RMX:
		return lremovexattr(a, "user.k") ? errno : 0;
	case OP_SYMLINK:
		return symlink(o->p2, a) ? errno : 0;
	case OP_UTIME:
		return utimensat(AT_FDCWD, a, ts, AT_SYMLINK_NOFOLLOW) ? errno : 0;
	case OP_MKFIFO:
		return mkfifo(a, o->mode) ? errno : 0;
	}
	return EINVAL;
}

static void compare_res(int i, const struct op *o, const char *rel,
			const struct res *x, const struct res *y)
{
	if (x->st_ret != y->st_ret) {
		mismatch("op %d %s %s: lstat %s vs %s", i, op_names[o->kind],
			 rel, strerror(x->st_ret), strerror(y->st_ret));
		return;
	}
	if (x->st_ret)
		return;
	if (x->st.st_mode != y->st.st_mode || x->st.st_uid != y->st.st_uid ||
	    x->st.st_gid != y->st.st_gid ||
	    (!S_ISDIR(x->st.st_mode) && x->st.st_size != y->st.st_size) ||
	    (!S_ISDIR(x->st.st_mode) && x->st.st_nlink != y->st.st_nlink))
		mismatch("op %d %s %s: mode %o/%o uid %u/%u gid %u/%u size %lld/%lld nlink %lu/%lu",
			 i, op_names[o->kind], rel, x->st.st_mode,
			 y->st.st_mode, x->st.st_uid, y->st.st_uid,
			 x->st.st_gid, y->st.st_gid,
			 (long long)x->st.st_size, (long long)y->st.st_size,
			 (unsigned long)x->st.st_nlink,
			 (unsigned long)y->st.st_nlink);
	if (o->kind == OP_UTIME &&
	    (x->st.st_mtim.tv_sec != y->st.st_mtim.tv_sec ||
	     x->st.st_mtim.tv_nsec != y->st.st_mtim.tv_nsec))
		mismatch("op %d utimens %s: mtime differs", i, rel);
	if (x->dlen != y->dlen ||
	    (x->dlen > 0 && memcmp(x->data, y->data, (size_t)x->dlen)))
		mismatch("op %d %s %s: file data differs", i,
			 op_names[o->kind], rel);
}

static int run(uint64_t seed, int nops, const char *ref, const char *test)
{
	int skipped = 0, done = 0;

	rng = seed ? seed : 1;
	for (int i = 0; i < nops; i++) {
		struct op o;
		struct res x, y;
		int rx, ry;

		memset(&o, 0, sizeof(o));
		o.kind = pick(OP_NOPS);
		rand_rel(o.p1, sizeof(o.p1));
		rand_rel(o.p2, sizeof(o.p2));
		o.mode = (unsigned[]){ 0644, 0755, 0600, 0711, 02755, 0444 }[pick(6)];
		o.uid = pick(3) * 1000;
		o.off = pick(3) ? pick(100) : 65536 + pick(70000);
		o.size = pick(3) ? pick(300) : 8192;
		o.flags = o.kind == OP_RENAME ?
				  (unsigned[]){ 0, 0, RENAME_NOREPLACE,
						RENAME_EXCHANGE }[pick(4)] :
				  pick(2);
		o.seed = rnd() | 1;
		if (o.kind == OP_TRUNC)
			o.size = pick(2) ? pick(500) : 100000;
		if (o.kind == OP_SETX)
			snprintf(o.p2, sizeof(o.p2), "v%u", pick(100));
		if (o.kind == OP_SYMLINK && pick(2))
			snprintf(o.p2, sizeof(o.p2), "t%u", pick(10));
		rx = apply(ref, &o);
		if (o.kind == OP_RENAME && rx == EXDEV) {
			skipped++;
			continue;
		}
		ry = apply(test, &o);
		done++;
		if (getenv("FSDIFF_TRACE"))
			fprintf(stderr, "op %d %s %s %s mode %o flags %u: %d %d\n",
				i, op_names[o.kind], o.p1, o.p2, o.mode,
				o.flags, rx, ry);
		if (rx != ry)
			mismatch("op %d %s %s %s (flags %u): %s vs %s", i,
				 op_names[o.kind], o.p1, o.p2, o.flags,
				 strerror(rx), strerror(ry));
		look(ref, o.p1, &x);
		look(test, o.p1, &y);
		compare_res(i, &o, o.p1, &x, &y);
		if (o.kind == OP_RENAME || o.kind == OP_LINK) {
			look(ref, o.p2, &x);
			look(test, o.p2, &y);
			compare_res(i, &o, o.p2, &x, &y);
		}
	}
	printf("fsdiff: %d operations compared, %d EXDEV renames skipped, %d mismatches\n",
	       done, skipped, mismatches);
	return mismatches ? 1 : 0;
}

/* ---- tree comparison ---- */
static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t list_dir(const char *p, char ***out)
{
	DIR *d = opendir(p);
	struct dirent *de;
	size_t n = 0, cap = 16;
	char **v = malloc(cap * sizeof(*v));

	while (d && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap)
			v = realloc(v, (cap *= 2) * sizeof(*v));
		v[n++] = strdup(de->d_name);
	}
	if (d)
		closedir(d);
	qsort(v, n, sizeof(*v), cmp_name);
	*out = v;
	return n;
}

static void cmp_xattrs(const char *rel, const char *pa, const char *pb,
		       bool upper)
{
	char la[4096], lb[4096], va[4096], vb[4096];
	ssize_t na = llistxattr(pa, la, sizeof(la));
	ssize_t nb = llistxattr(pb, lb, sizeof(lb));
	const char *sides[2][2] = { { pa, pb }, { pb, pa } };

	for (int s = 0; s < 2; s++) {
		char *l = s ? lb : la;
		ssize_t n = s ? nb : na;

		for (char *x = l; n > 0 && x < l + n; x += strlen(x) + 1) {
			ssize_t a, b;

			/* origin, impure: kernel-private.  opaque: kernel
			 * overlayfs also sets it, as an optimisation, on some
			 * new directories whose name hides nothing, depending
			 * on its dentry cache; it does not change the view,
			 * which the cross-mount checks compare.  Compared
			 * with FSDIFF_STRICT_OPAQUE=1. */
			if (!strncmp(x, "trusted.overlay.", 16) &&
			    (!upper || strcmp(x, "trusted.overlay.opaque") ||
			     !getenv("FSDIFF_STRICT_OPAQUE")))
				continue;
			if (!strncmp(x, "security.selinux", 16))
				continue;
			a = lgetxattr(sides[s][0], x, va, sizeof(va));
			b = lgetxattr(sides[s][1], x, vb, sizeof(vb));
			if (a != b || (a > 0 && memcmp(va, vb, (size_t)a)))
				mismatch("%s: xattr %s differs", rel, x);
		}
	}
}

static void cmp_files(const char *rel, const char *pa, const char *pb)
{
	char ba[65536], bb[65536];
	int fa = open(pa, O_RDONLY), fb = open(pb, O_RDONLY);
	ssize_t na, nb;

	if (fa < 0 || fb < 0) {
		mismatch("%s: cannot open", rel);
		goto out;
	}
	do {
		na = read(fa, ba, sizeof(ba));
		nb = read(fb, bb, sizeof(bb));
		if (na != nb || (na > 0 && memcmp(ba, bb, (size_t)na))) {
			mismatch("%s: contents differ", rel);
			break;
		}
	} while (na > 0);
out:
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
}

static void cmp_tree(const char *a, const char *b, const char *rel,
		     bool upper)
{
	char pa[8192], pb[8192], r[4096];
	char **va, **vb;
	size_t na, nb, i = 0, j = 0;

	snprintf(pa, sizeof(pa), "%s/%s", a, rel);
	snprintf(pb, sizeof(pb), "%s/%s", b, rel);
	na = list_dir(pa, &va);
	nb = list_dir(pb, &vb);
	while (i < na || j < nb) {
		int c = i == na ? 1 : j == nb ? -1 : strcmp(va[i], vb[j]);
		struct stat sa, sb;

		if (c) {
			mismatch("%s/%s only in %s", rel,
				 c < 0 ? va[i] : vb[j], c < 0 ? a : b);
			if (c < 0)
				i++;
			else
				j++;
			continue;
		}
		snprintf(r, sizeof(r), "%s%s%s", rel, *rel ? "/" : "", va[i]);
		snprintf(pa, sizeof(pa), "%s/%s", a, r);
		snprintf(pb, sizeof(pb), "%s/%s", b, r);
		i++, j++;
		if (lstat(pa, &sa) || lstat(pb, &sb)) {
			mismatch("%s: lstat failed", r);
			continue;
		}
		if (sa.st_mode != sb.st_mode || sa.st_uid != sb.st_uid ||
		    sa.st_gid != sb.st_gid || sa.st_rdev != sb.st_rdev ||
		    (!S_ISDIR(sa.st_mode) && sa.st_size != sb.st_size)) {
			mismatch("%s: mode %o/%o uid %u/%u gid %u/%u size %lld/%lld",
				 r, sa.st_mode, sb.st_mode, sa.st_uid,
				 sb.st_uid, sa.st_gid, sb.st_gid,
				 (long long)sa.st_size, (long long)sb.st_size);
			continue;
		}
		cmp_xattrs(r, pa, pb, upper);
		if (S_ISREG(sa.st_mode))
			cmp_files(r, pa, pb);
		else if (S_ISLNK(sa.st_mode)) {
			char ta[4096] = "", tb[4096] = "";

			if (readlink(pa, ta, sizeof(ta) - 1) < 0 ||
			    readlink(pb, tb, sizeof(tb) - 1) < 0 ||
			    strcmp(ta, tb))
				mismatch("%s: symlink target %s vs %s", r, ta,
					 tb);
		} else if (S_ISDIR(sa.st_mode))
			cmp_tree(a, b, r, upper);
	}
	for (i = 0; i < na; i++)
		free(va[i]);
	for (j = 0; j < nb; j++)
		free(vb[j]);
	free(va);
	free(vb);
}

int main(int argc, char **argv)
{
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "populate")) {
		rng = strtoull(argv[2], NULL, 0) | 1;
		populate(argv[3], argc == 5 ? argv[4] : NULL, 0, argc == 4);
		return 0;
	}
	if (argc == 6 && !strcmp(argv[1], "run"))
		return run(strtoull(argv[2], NULL, 0), atoi(argv[3]), argv[4],
			   argv[5]);
	if (argc == 4 && (!strcmp(argv[1], "tree") || !strcmp(argv[1], "upper"))) {
		cmp_tree(argv[2], argv[3], "", argv[1][0] == 'u');
		if (mismatches)
			fprintf(stderr, "fsdiff: %d differences\n", mismatches);
		return mismatches ? 1 : 0;
	}
	fprintf(stderr, "usage: fsdiff populate SEED DIR [BELOW] | run SEED NOPS REF TEST | tree A B | upper A B\n");
	return 2;
}
