// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fsops: POSIX behaviour checks that need system calls the shell does not
 * reach, run by tests/integration/305-fs-posix.sh on a strata-fuse mount
 * and on kernel overlayfs with the same layers (the reference).
 *
 *   fsops readdir DIR          telldir/seekdir stability; names created
 *                              while reading; rewinddir sees them
 *   fsops renameflags DIR      RENAME_NOREPLACE/EXCHANGE/WHITEOUT on DIR/a,
 *                              DIR/b (files) and DIR/c (absent)
 *   fsops tmpfile DIR          O_TMPFILE + linkat, or a clean EOPNOTSUPP;
 *                              prints "supported" or "unsupported"
 *   fsops mmap FILE            MAP_SHARED writes reach the file and read()
 *   fsops fallocate FILE       extend, punch a hole, zero range
 *   fsops cfr SRC DST          copy_file_range from SRC into a new DST
 *   fsops locks FILE           flock, fcntl and OFD locks between processes
 *   fsops utimens FILE         nanosecond times, UTIME_OMIT, UTIME_NOW
 *   fsops fsync FILE           fsync, fdatasync, syncfs, directory fsync
 *   fsops statfs MNT DIR       statfs of MNT reports DIR's filesystem
 *   fsops socket PATH          bind/listen/connect an AF_UNIX socket there
 *
 * Exit 0 when every check passed, 1 with one "FAIL:" line per failed check.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#define RENAME_EXCHANGE (1 << 1)
#define RENAME_WHITEOUT (1 << 2)
#endif

static int failures;

static void check(bool ok, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	failures++;
}

static void die(const char *what)
{
	fprintf(stderr, "FAIL: %s: %s\n", what, strerror(errno));
	exit(1);
}

static char *cat(const char *a, const char *b)
{
	char *s;

	if (asprintf(&s, "%s/%s", a, b) < 0)
		die("asprintf");
	return s;
}

static char *read_file(const char *path, size_t *len)
{
	static char buf[65536];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	if (len)
		*len = (size_t)n;
	return buf;
}

/* ---- readdir ---- */
struct names {
	char **v;
	size_t n;
};

static void names_add(struct names *s, const char *name)
{
	s->v = realloc(s->v, (s->n + 1) * sizeof(*s->v));
	if (!s->v || !(s->v[s->n] = strdup(name)))
		die("malloc");
	s->n++;
}

static size_t names_count(const struct names *s, const char *name)
{
	size_t c = 0;

	for (size_t i = 0; i < s->n; i++)
		c += !strcmp(s->v[i], name);
	return c;
}

static void names_free(struct names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static void read_rest(DIR *d, struct names *s)
{
	struct dirent *de;

	while ((errno = 0, de = readdir(d)))
		names_add(s, de->d_name);
	if (errno)
		die("readdir");
}

static int t_readdir(const char *dir)
{
	struct names all = { 0 }, a = { 0 }, b = { 0 }, seen = { 0 }, after = { 0 };
	struct dirent *de;
	long pos;
	DIR *d;

	d = opendir(dir);
	if (!d)
		die(dir);
	read_rest(d, &all);
	check(all.n > 150, "readdir: want > 150 entries to span reads, got %zu",
	      all.n);
	check(names_count(&all, ".") == 1 && names_count(&all, "..") == 1,
	      "readdir: . and .. once each");
	for (size_t i = 0; i < all.n; i++)
		check(names_count(&all, all.v[i]) == 1,
		      "readdir: %s listed %zu times", all.v[i],
		      names_count(&all, all.v[i]));

	/* telldir/seekdir: the same tail after seeking back. */
	rewinddir(d);
	for (int i = 0; i < 100 && (de = readdir(d)); i++)
		;
	pos = telldir(d);
	read_rest(d, &a);
	seekdir(d, pos);
	read_rest(d, &b);
	check(a.n == b.n && a.n == all.n - 100,
	      "seekdir: tail has %zu then %zu entries, want %zu", a.n, b.n,
	      all.n - 100);
	for (size_t i = 0; i < a.n && i < b.n; i++)
		check(!strcmp(a.v[i], b.v[i]), "seekdir: entry %zu %s != %s",
		      i, a.v[i], b.v[i]);
	/* seekdir to a position taken mid-way on another stream too. */
	closedir(d);

	/* Names created while reading: every old name exactly once. */
	d = opendir(dir);
	if (!d)
		die(dir);
	for (int i = 0; i < 60 && (de = readdir(d)); i++)
		names_add(&seen, de->d_name);
	for (int i = 0; i < 20; i++) {
		char name[64];
		char *p;
		int fd;

		snprintf(name, sizeof(name), "added-%d", i);
		p = cat(dir, name);
		fd = open(p, O_CREAT | O_WRONLY, 0644);
		if (fd < 0)
			die(p);
		close(fd);
		free(p);
	}
	read_rest(d, &seen);
	for (size_t i = 0; i < all.n; i++)
		check(names_count(&seen, all.v[i]) == 1,
		      "readdir with creates: %s seen %zu times", all.v[i],
		      names_count(&seen, all.v[i]));
	for (size_t i = 0; i < seen.n; i++)
		check(names_count(&seen, seen.v[i]) == 1,
		      "readdir with creates: %s duplicated", seen.v[i]);
	rewinddir(d);
	read_rest(d, &after);
	check(after.n == all.n + 20, "rewinddir: %zu entries, want %zu",
	      after.n, all.n + 20);
	check(names_count(&after, "added-19") == 1,
	      "rewinddir: a new name is missing");
	closedir(d);
	names_free(&all);
	names_free(&a);
	names_free(&b);
	names_free(&seen);
	names_free(&after);
	return failures;
}

/* ---- rename flags ---- */
static int rn(const char *dir, const char *a, const char *b, unsigned flags)
{
	char *pa = cat(dir, a), *pb = cat(dir, b);
	int r = renameat2(AT_FDCWD, pa, AT_FDCWD, pb, flags) ? errno : 0;

	free(pa);
	free(pb);
	return r;
}

static int t_renameflags(const char *dir)
{
	char *pa = cat(dir, "a"), *pb = cat(dir, "b");
	struct stat sa, sb, st;
	char *s;
	int r;

	if (lstat(pa, &sa) || lstat(pb, &sb))
		die("lstat a/b");
	r = rn(dir, "a", "b", RENAME_NOREPLACE);
	check(r == EEXIST, "NOREPLACE onto an existing name: %s", strerror(r));
	r = rn(dir, "a", "c", RENAME_NOREPLACE);
	check(r == 0, "NOREPLACE onto a free name: %s", strerror(r));
	r = rn(dir, "c", "a", RENAME_NOREPLACE);
	check(r == 0, "NOREPLACE back: %s", strerror(r));
	r = rn(dir, "a", "b", RENAME_EXCHANGE);
	check(r == 0, "EXCHANGE: %s", strerror(r));
	s = read_file(pa, NULL);
	check(s && !strcmp(s, "B\n"), "EXCHANGE: a holds '%s'", s ? s : "?");
	s = read_file(pb, NULL);
	check(s && !strcmp(s, "A\n"), "EXCHANGE: b holds '%s'", s ? s : "?");
	if (!lstat(pa, &st))
		check(st.st_ino == sb.st_ino,
		      "EXCHANGE: a has inode %lu, want b's %lu",
		      (unsigned long)st.st_ino, (unsigned long)sb.st_ino);
	r = rn(dir, "a", "c", RENAME_EXCHANGE);
	check(r == ENOENT, "EXCHANGE with an absent name: %s", strerror(r));
	r = rn(dir, "a", "b", RENAME_NOREPLACE | RENAME_EXCHANGE);
	check(r == EINVAL, "NOREPLACE|EXCHANGE: %s", strerror(r));
	/* Kernel overlayfs refuses RENAME_WHITEOUT (EINVAL): a whiteout is
	 * its own on-disk marker and cannot be shown in the merged view. */
	r = rn(dir, "a", "c", RENAME_WHITEOUT);
	check(r == EINVAL, "RENAME_WHITEOUT: %s", strerror(r));
	check(!lstat(pa, &st), "a lost after a refused rename");
	/* Renaming a name onto another name of the same inode: no-op. */
	free(pa);
	free(pb);
	return failures;
}

/* ---- O_TMPFILE ---- */
static int t_tmpfile(const char *dir)
{
	char proc[64], *dst = cat(dir, "tmpfile-linked"), *s;
	int fd = open(dir, O_TMPFILE | O_RDWR, 0640);

	if (fd < 0) {
		check(errno == EOPNOTSUPP || errno == EISDIR,
		      "O_TMPFILE: unexpected error %s", strerror(errno));
		printf("unsupported\n");
		return failures;
	}
	printf("supported\n");
	check(write(fd, "tmp\n", 4) == 4, "O_TMPFILE write");
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	check(!linkat(AT_FDCWD, proc, AT_FDCWD, dst, AT_SYMLINK_FOLLOW),
	      "linkat of an O_TMPFILE: %s", strerror(errno));
	close(fd);
	s = read_file(dst, NULL);
	check(s && !strcmp(s, "tmp\n"), "O_TMPFILE content after linkat");
	free(dst);
	return failures;
}

/* ---- mmap ---- */
static int t_mmap(const char *path)
{
	struct stat st;
	char *m, *m2, buf[16];
	int fd, fd2;

	fd = open(path, O_RDWR);
	if (fd < 0 || fstat(fd, &st))
		die(path);
	check(st.st_size >= 8192, "mmap: file too small");
	m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 fd, 0);
	if (m == MAP_FAILED)
		die("mmap MAP_SHARED");
	memcpy(m + 100, "MAPPED", 6);
	memcpy(m + 5000, "SECOND", 6);
	check(!msync(m, (size_t)st.st_size, MS_SYNC), "msync: %s",
	      strerror(errno));
	check(pread(fd, buf, 6, 100) == 6 && !memcmp(buf, "MAPPED", 6),
	      "read() does not see a MAP_SHARED write");
	/* write() is seen by a mapping of another open file. */
	fd2 = open(path, O_RDONLY);
	if (fd2 < 0)
		die(path);
	m2 = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd2, 0);
	if (m2 == MAP_FAILED)
		die("mmap read-only");
	check(pwrite(fd, "WRITTEN", 7, 6000) == 7, "pwrite");
	check(!memcmp(m2 + 6000, "WRITTEN", 7),
	      "a shared mapping does not see write()");
	check(!memcmp(m2 + 100, "MAPPED", 6),
	      "a second mapping does not see the first one's write");
	munmap(m2, (size_t)st.st_size);
	munmap(m, (size_t)st.st_size);
	close(fd2);
	close(fd);
	fd = open(path, O_RDONLY);
	check(fd >= 0 && pread(fd, buf, 6, 5000) == 6 &&
		      !memcmp(buf, "SECOND", 6),
	      "MAP_SHARED write lost after close");
	close(fd);
	return failures;
}

/* ---- fallocate ---- */
static int t_fallocate(const char *path)
{
	char buf[4096], zero[4096] = { 0 };
	struct stat st;
	int fd = open(path, O_RDWR);
	off_t size;

	if (fd < 0 || fstat(fd, &st))
		die(path);
	size = st.st_size;
	check(!fallocate(fd, 0, size, 1 << 20), "fallocate extend: %s",
	      strerror(errno));
	check(!fstat(fd, &st) && st.st_size == size + (1 << 20),
	      "fallocate: size %lld, want %lld", (long long)st.st_size,
	      (long long)(size + (1 << 20)));
	check(!fallocate(fd, FALLOC_FL_KEEP_SIZE, st.st_size, 1 << 20),
	      "fallocate KEEP_SIZE: %s", strerror(errno));
	check(!fstat(fd, &st) && st.st_size == size + (1 << 20),
	      "KEEP_SIZE changed the size");
	check(!fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
			 4096),
	      "punch hole: %s", strerror(errno));
	check(pread(fd, buf, 4096, 0) == 4096 && !memcmp(buf, zero, 4096),
	      "punched range does not read as zeros");
	check(lseek(fd, 0, SEEK_DATA) >= 4096,
	      "SEEK_DATA does not skip the punched hole");
	close(fd);
	return failures;
}

/* ---- copy_file_range ---- */
static int t_cfr(const char *src, const char *dst)
{
	static char a[1 << 16], b[1 << 16];
	struct stat st;
	int in = open(src, O_RDONLY);
	int out = open(dst, O_CREAT | O_EXCL | O_RDWR, 0644);
	loff_t off = 0;
	ssize_t n;

	if (in < 0 || out < 0 || fstat(in, &st))
		die("cfr open");
	while (off < st.st_size) {
		n = copy_file_range(in, &off, out, NULL,
				    (size_t)(st.st_size - off), 0);
		if (n <= 0) {
			check(false, "copy_file_range: %s",
			      n ? strerror(errno) : "short");
			break;
		}
	}
	for (off = 0; off < st.st_size; off += (loff_t)sizeof(a)) {
		ssize_t x = pread(in, a, sizeof(a), off);
		ssize_t y = pread(out, b, sizeof(b), off);

		if (x != y || x < 0 || memcmp(a, b, (size_t)x)) {
			check(false, "copy differs at %lld", (long long)off);
			break;
		}
	}
	/* Within one file, to a higher offset. */
	off = 0;
	{
		loff_t o2 = st.st_size;

		n = copy_file_range(out, &off, out, &o2, 4096, 0);
		check(n == 4096, "copy_file_range within a file: %s",
		      n < 0 ? strerror(errno) : "short");
	}
	close(in);
	close(out);
	return failures;
}

/* ---- locks ---- */
static int child_status(pid_t p)
{
	int st;

	if (waitpid(p, &st, 0) < 0)
		die("waitpid");
	return WIFEXITED(st) ? WEXITSTATUS(st) : 99;
}

static int t_locks(const char *path)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
			    .l_start = 0, .l_len = 10 };
	int fd = open(path, O_RDWR), fd2 = open(path, O_RDWR);
	pid_t p;

	if (fd < 0 || fd2 < 0)
		die(path);
	check(!flock(fd, LOCK_EX), "flock: %s", strerror(errno));
	check(flock(fd2, LOCK_EX | LOCK_NB) && errno == EWOULDBLOCK,
	      "second flock LOCK_EX not refused");
	check(!flock(fd, LOCK_UN), "flock unlock");
	check(!flock(fd2, LOCK_SH | LOCK_NB), "flock after unlock: %s",
	      strerror(errno));
	flock(fd2, LOCK_UN);

	check(!fcntl(fd, F_SETLK, &fl), "F_SETLK: %s", strerror(errno));
	p = fork();
	if (p == 0) {
		struct flock g = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
				   .l_start = 5, .l_len = 1 };
		int f = open(path, O_RDWR);

		if (!fcntl(f, F_SETLK, &g))
			_exit(1); /* should conflict */
		if (errno != EAGAIN && errno != EACCES)
			_exit(2);
		if (fcntl(f, F_GETLK, &g) || g.l_type != F_WRLCK ||
		    g.l_pid != getppid())
			_exit(3);
		g.l_start = 20;
		if (fcntl(f, F_SETLK, &g))
			_exit(4); /* outside the range */
		_exit(0);
	}
	check(child_status(p) == 0, "fcntl locks between processes");
	fl.l_type = F_UNLCK;
	check(!fcntl(fd, F_SETLK, &fl), "F_UNLCK");

	fl.l_type = F_WRLCK;
	fl.l_pid = 0;
	check(!fcntl(fd, F_OFD_SETLK, &fl), "F_OFD_SETLK: %s", strerror(errno));
	fl.l_pid = 0;
	check(fcntl(fd2, F_OFD_SETLK, &fl) && errno == EAGAIN,
	      "conflicting OFD lock not refused");
	close(fd);
	fl.l_pid = 0;
	check(!fcntl(fd2, F_OFD_SETLK, &fl), "OFD lock not released by close");
	close(fd2);
	return failures;
}

/* ---- utimensat ---- */
static int t_utimens(const char *path)
{
	struct timespec ts[2] = { { 1234567890, 123456789 },
				  { 1000000000, 987654321 } };
	struct timespec before;
	struct stat st;

	check(!utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW),
	      "utimensat: %s", strerror(errno));
	check(!stat(path, &st) && st.st_atim.tv_sec == 1234567890 &&
		      st.st_atim.tv_nsec == 123456789 &&
		      st.st_mtim.tv_sec == 1000000000 &&
		      st.st_mtim.tv_nsec == 987654321,
	      "nanosecond times: got %ld.%09ld %ld.%09ld",
	      (long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
	      (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1] = (struct timespec){ 5, 5 };
	check(!utimensat(AT_FDCWD, path, ts, 0), "UTIME_OMIT: %s",
	      strerror(errno));
	check(!stat(path, &st) && st.st_atim.tv_sec == 1234567890 &&
		      st.st_atim.tv_nsec == 123456789 &&
		      st.st_mtim.tv_sec == 5 && st.st_mtim.tv_nsec == 5,
	      "UTIME_OMIT changed atime or mtime not set");
	clock_gettime(CLOCK_REALTIME, &before);
	before.tv_sec -= 2;
	check(!utimensat(AT_FDCWD, path, NULL, 0), "utimensat(NULL): %s",
	      strerror(errno));
	check(!stat(path, &st) && st.st_mtim.tv_sec >= before.tv_sec &&
		      st.st_atim.tv_sec >= before.tv_sec,
	      "UTIME_NOW not applied");
	check(st.st_ctim.tv_sec >= before.tv_sec, "ctime not updated");
	return failures;
}

/* ---- fsync ---- */
static int t_fsync(const char *path)
{
	char *dir = strdup(path), *slash = strrchr(dir, '/');
	int fd = open(path, O_RDWR), dfd;

	if (slash)
		*slash = '\0';
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0 || dfd < 0)
		die("fsync open");
	check(write(fd, "sync\n", 5) == 5, "write");
	check(!fsync(fd), "fsync: %s", strerror(errno));
	check(!fdatasync(fd), "fdatasync: %s", strerror(errno));
	check(!fsync(dfd), "fsync of a directory: %s", strerror(errno));
	check(!syncfs(fd), "syncfs: %s", strerror(errno));
	check(!sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE),
	      "sync_file_range: %s", strerror(errno));
	close(fd);
	close(dfd);
	free(dir);
	return failures;
}

/* ---- statfs ---- */
static int t_statfs(const char *mnt, const char *dir)
{
	struct statfs a, b;

	if (statfs(mnt, &a) || statfs(dir, &b))
		die("statfs");
	check(a.f_bsize == b.f_bsize, "f_bsize %ld != %ld", (long)a.f_bsize,
	      (long)b.f_bsize);
	check(a.f_blocks == b.f_blocks, "f_blocks %llu != %llu",
	      (unsigned long long)a.f_blocks, (unsigned long long)b.f_blocks);
	check(a.f_files == b.f_files, "f_files %llu != %llu",
	      (unsigned long long)a.f_files, (unsigned long long)b.f_files);
	check(a.f_namelen >= 255, "f_namelen %ld", (long)a.f_namelen);
	return failures;
}

/* ---- unix socket ---- */
static int t_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int s = socket(AF_UNIX, SOCK_STREAM, 0), c, a;
	char buf[4] = { 0 };

	if (s < 0 || strlen(path) >= sizeof(sa.sun_path))
		die("socket");
	strcpy(sa.sun_path, path);
	check(!bind(s, (struct sockaddr *)&sa, sizeof(sa)), "bind: %s",
	      strerror(errno));
	check(!listen(s, 1), "listen: %s", strerror(errno));
	check(!lstat(path, &st) && S_ISSOCK(st.st_mode), "not a socket");
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	check(!connect(c, (struct sockaddr *)&sa, sizeof(sa)), "connect: %s",
	      strerror(errno));
	a = accept(s, NULL, NULL);
	check(a >= 0 && write(c, "hi", 2) == 2 && read(a, buf, 2) == 2 &&
		      !strcmp(buf, "hi"),
	      "data over the socket");
	close(a);
	close(c);
	close(s);
	return failures;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	int ret = -1;

	if (!strcmp(cmd, "readdir") && argc == 3)
		ret = t_readdir(argv[2]);
	else if (!strcmp(cmd, "renameflags") && argc == 3)
		ret = t_renameflags(argv[2]);
	else if (!strcmp(cmd, "tmpfile") && argc == 3)
		ret = t_tmpfile(argv[2]);
	else if (!strcmp(cmd, "mmap") && argc == 3)
		ret = t_mmap(argv[2]);
	else if (!strcmp(cmd, "fallocate") && argc == 3)
		ret = t_fallocate(argv[2]);
	else if (!strcmp(cmd, "cfr") && argc == 4)
		ret = t_cfr(argv[2], argv[3]);
	else if (!strcmp(cmd, "locks") && argc == 3)
		ret = t_locks(argv[2]);
	else if (!strcmp(cmd, "utimens") && argc == 3)
		ret = t_utimens(argv[2]);
	else if (!strcmp(cmd, "fsync") && argc == 3)
		ret = t_fsync(argv[2]);
	else if (!strcmp(cmd, "statfs") && argc == 4)
		ret = t_statfs(argv[2], argv[3]);
	else if (!strcmp(cmd, "socket") && argc == 3)
		ret = t_socket(argv[2]);
	if (ret < 0) {
		fprintf(stderr, "usage: fsops readdir|renameflags|tmpfile|mmap|fallocate|cfr|locks|utimens|fsync|statfs|socket ARGS\n");
		return 2;
	}
	return ret ? 1 : 0;
}
