// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * store/device.c: probing (empty, ext4, dos partition table, strata's own
 * magic), prepare (create, extend, refuse to shrink), opening with and
 * without O_DIRECT, and real block devices: a loop device over tmpfs with
 * direct I/O (512 and 4096-byte sectors) and zram when the kernel has it.
 * Every temporary file, loop device, mount and zram device is removed in
 * the teardown, also when an assertion failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "strata/log.h"
#include "store/device-internal.h"

struct fx {
	char file[64];      /* temporary file or loop backing file */
	char dev[64];       /* loop or zram device, "" if none */
	char mnt[64];       /* mount point, "" if none */
	bool mounted;
	int zram_id;        /* -1: none; else the zram device we own */
	bool zram_hot;      /* made with hot_add: hot_remove afterwards */
	int claim_fd;
};

static void quiet_sink(enum strata_log_level lvl, const char *line, void *arg)
{
}

static bool have_cmd(const char *cmd)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "command -v %s >/dev/null 2>&1", cmd);
	return system(buf) == 0;
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* First line of a command's output into out; 0 or -1. */
static int run_out(char *out, size_t len, const char *cmd)
{
	FILE *p = popen(cmd, "r");
	int st;

	if (!p)
		return -1;
	if (!fgets(out, (int)len, p))
		out[0] = '\0';
	st = pclose(p);
	out[strcspn(out, "\n")] = '\0';
	return st == 0 && out[0] ? 0 : -1;
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -EIO;
}

static int fx_new(void **state, const char *dir, uint64_t size)
{
	struct fx *f = calloc(1, sizeof(*f));
	int fd;

	assert_non_null(f);
	f->zram_id = -1;
	f->claim_fd = -1;
	*state = f;
	snprintf(f->file, sizeof(f->file), "%s/strata-test-dev-XXXXXX", dir);
	fd = mkstemp(f->file);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
	return 0;
}

static int fx_setup_shm(void **state)
{
	return fx_new(state, "/dev/shm", 0);
}

static int fx_setup_tmp(void **state)
{
	return fx_new(state, "/tmp", 0);
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	char path[96];

	strata_log_set_sink(NULL, NULL);
	if (!f)
		return 0;
	if (f->claim_fd >= 0)
		close(f->claim_fd);
	if (f->mounted && umount(f->mnt) < 0)
		fprintf(stderr, "teardown: umount %s: %s\n", f->mnt, strerror(errno));
	if (f->mnt[0])
		rmdir(f->mnt);
	if (f->dev[0] && f->zram_id < 0 && run("losetup -d %s", f->dev) != 0)
		fprintf(stderr, "teardown: losetup -d %s failed\n", f->dev);
	if (f->zram_id >= 0) {
		snprintf(path, sizeof(path), "/sys/block/zram%d/reset", f->zram_id);
		if (write_str(path, "1") < 0)
			fprintf(stderr, "teardown: reset zram%d failed\n", f->zram_id);
		if (f->zram_hot) {
			snprintf(path, sizeof(path), "%d", f->zram_id);
			if (write_str("/sys/class/zram-control/hot_remove", path) < 0)
				fprintf(stderr, "teardown: hot_remove zram%d failed\n", f->zram_id);
		}
	}
	if (f->file[0]) {
		unlink(f->file);
		/* side files some tests make next to it */
		snprintf(path, sizeof(path), "%s.new", f->file);
		unlink(path);
		snprintf(path, sizeof(path), "%s.ext4", f->file);
		unlink(path);
	}
	free(f);
	*state = NULL;
	return 0;
}

/* ---- probe ---- */

static void test_probe_nothing(void **state)
{
	struct fx *f = *state;
	char what[128];
	int fd;

	assert_int_equal(store_dev_probe("/dev/shm/strata-test-no-such-file", what, sizeof(what)),
			 0);
	/* empty */
	assert_int_equal(store_dev_probe(f->file, what, sizeof(what)), 0);
	assert_string_equal(what, "");
	/* zeros */
	fd = open(f->file, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	/* almost our magic is not our magic */
	assert_int_equal(pwrite(fd, "STRATA\0X", 8, 0), 8);
	close(fd);
	assert_int_equal(store_dev_probe(f->file, what, sizeof(what)), 0);
	strata_log_set_sink(quiet_sink, NULL);
	assert_int_equal(store_dev_probe("/dev/shm", what, sizeof(what)), -EISDIR);
}

static void test_probe_strata(void **state)
{
	struct fx *f = *state;
	static const char magic[8] = { 'S', 'T', 'R', 'A', 'T', 'A', '\0', 'S' };
	char what[128];
	int fd = open(f->file, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	assert_int_equal(pwrite(fd, magic, 8, 0), 8);
	close(fd);
	assert_int_equal(store_dev_probe(f->file, what, sizeof(what)), -EEXIST);
	assert_string_equal(what, "strata store");
	/* a tiny buffer is truncated, not overrun */
	assert_int_equal(store_dev_probe(f->file, what, 7), -EEXIST);
	assert_string_equal(what, "strata");
}

static void test_probe_ext4(void **state)
{
	struct fx *f = *state;
	char what[128];

	if (!have_cmd("mkfs.ext4"))
		skip(); /* e2fsprogs missing (scripts/setup-deps.sh installs it) */
	assert_int_equal(truncate(f->file, 16 << 20), 0);
	assert_int_equal(run("mkfs.ext4 -q -F -L data %s >/dev/null 2>&1", f->file), 0);
	assert_int_equal(store_dev_probe(f->file, what, sizeof(what)), -EEXIST);
	assert_string_equal(what, "ext4 filesystem (label \"data\")");
}

static void test_probe_dos_partition_table(void **state)
{
	struct fx *f = *state;
	char what[128];

	if (!have_cmd("sfdisk"))
		skip(); /* package fdisk missing */
	assert_int_equal(truncate(f->file, 8 << 20), 0);
	assert_int_equal(run("printf 'label: dos\\n,4M,L\\n' | sfdisk -q %s >/dev/null 2>&1",
			     f->file),
			 0);
	assert_int_equal(store_dev_probe(f->file, what, sizeof(what)), -EEXIST);
	assert_string_equal(what, "dos partition table");
}

/* Two file systems' superblocks at once (xfs at 0, ext4 at 1 KiB): both named. */
static void test_probe_ambivalent(void **state)
{
	struct fx *f = *state;
	char ext4[96], what[256];

	if (!have_cmd("mkfs.xfs") || !have_cmd("mkfs.ext4"))
		skip(); /* xfsprogs or e2fsprogs missing */
	snprintf(ext4, sizeof(ext4), "%s.ext4", f->file);
	assert_int_equal(truncate(f->file, 300 << 20), 0);
	assert_int_equal(run("mkfs.xfs -q -f %s >/dev/null 2>&1", f->file), 0);
	assert_int_equal(run("truncate -s 16M %s && mkfs.ext4 -q -F %s >/dev/null 2>&1 && "
			     "dd if=%s of=%s bs=1024 skip=1 seek=1 count=1 conv=notrunc "
			     "2>/dev/null",
			     ext4, ext4, ext4, f->file),
			 0);
	unlink(ext4);
	assert_int_equal(store_dev_probe(f->file, what, sizeof(what)), -EEXIST);
	assert_non_null(strstr(what, "xfs filesystem"));
	assert_non_null(strstr(what, "ext4 filesystem"));
	/* no buffer for the description: still the answer */
	assert_int_equal(store_dev_probe(f->file, NULL, 0), -EEXIST);
}

/*
 * An md RAID member (metadata 1.2: superblock 4 KiB into the device).  No md
 * driver is needed to write one; the fields are those mdadm writes.
 */
static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void test_probe_raid_member(void **state)
{
	struct fx *f = *state;
	uint8_t sb[512] = { 0 };
	uint64_t sum = 0;
	char what[128];
	int fd;

	put_le32(sb + 0, 0xa92b4efc); /* magic */
	put_le32(sb + 4, 1);          /* major_version */
	for (int i = 0; i < 16; i++)
		sb[16 + i] = (uint8_t)(i + 1); /* set_uuid */
	memcpy(sb + 32, "host:md0", 8);    /* set_name */
	sb[144] = 8;                       /* super_offset: 4096 / 512 */
	/* sb_csum (offset 216) over the first 256 bytes, max_dev = 0 */
	for (int i = 0; i < 256; i += 4)
		sum += (uint32_t)(sb[i] | sb[i + 1] << 8 | sb[i + 2] << 16 | (uint32_t)sb[i + 3] << 24);
	put_le32(sb + 216, (uint32_t)((sum & 0xffffffff) + (sum >> 32)));

	fd = open(f->file, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4 << 20), 0);
	assert_int_equal(pwrite(fd, sb, sizeof(sb), 4096), sizeof(sb));
	close(fd);
	assert_int_equal(store_dev_probe(f->file, what, sizeof(what)), -EEXIST);
	assert_string_equal(what, "linux_raid_member raid member (label \"host:md0\")");
}

/* ---- prepare ---- */

static void test_prepare(void **state)
{
	struct fx *f = *state;
	char path[96];
	bool created = true;
	struct stat st;
	int ret;

	snprintf(path, sizeof(path), "%s.new", f->file);
	unlink(path);
	assert_int_equal(store_dev_prepare(path, 64 << 20, &created), 0);
	assert_true(created);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 64 << 20);
	assert_true(st.st_blocks < 64); /* sparse */
	assert_int_equal(st.st_mode & 0777, 0600);

	/* extend, same size, size 0: fine; shrink: refused and untouched */
	assert_int_equal(store_dev_prepare(path, 128 << 20, &created), 0);
	assert_false(created);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 128 << 20);
	assert_int_equal(store_dev_prepare(path, 128 << 20, &created), 0);
	assert_int_equal(store_dev_prepare(path, 0, &created), 0);
	strata_log_set_sink(quiet_sink, NULL);
	assert_int_equal(store_dev_prepare(path, 64 << 20, &created), -EEXIST);
	assert_false(created);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 128 << 20);
	unlink(path);

	/* missing with size 0: created empty */
	assert_int_equal(store_dev_prepare(path, 0, &created), 0);
	assert_true(created);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 0);
	unlink(path);

	/* beyond off_t, or beyond what the file system allows (ext4: 16 TiB;
	 * tmpfs takes anything): a new file that cannot be sized is removed */
	assert_int_equal(store_dev_prepare(path, UINT64_MAX, &created), -EFBIG);
	assert_false(created);
	ret = store_dev_prepare(path, (uint64_t)INT64_MAX, &created);
	if (ret == 0) {
		assert_true(created);
		unlink(path);
	} else {
		assert_int_equal(ret, -EFBIG);
		assert_false(created);
		assert_int_equal(access(path, F_OK), -1);
		assert_int_equal(errno, ENOENT);
	}

	assert_int_equal(store_dev_prepare("/dev/shm/strata-test-no-dir/x", 1 << 20, &created),
			 -ENOENT);
	assert_false(created);
	assert_int_equal(store_dev_prepare("/dev/shm", 1 << 20, &created), -EISDIR);
	assert_int_equal(store_dev_prepare("/dev/null", 0, &created), -EINVAL);
}

/* ---- open ---- */

static bool fs_takes_direct(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void check_file_open(struct fx *f)
{
	struct store_dev d;
	char buf[16];

	assert_int_equal(truncate(f->file, 4 << 20), 0);
	assert_int_equal(store_dev_open(f->file, false, -1, &d), 0);
	assert_false(d.is_blk);
	assert_false(d.read_only);
	assert_true(d.fd >= 0);
	/* tmpfs takes O_DIRECT since Linux 6.6, ext4 always: expect what
	 * the file system does for a plain open */
	if (fs_takes_direct(f->file))
		assert_true(d.dfd >= 0);
	else
		assert_int_equal(d.dfd, -1);
	assert_int_equal(d.size, 4 << 20);
	assert_int_equal(d.logical_sector, 512);
	assert_true(d.physical_sector >= 512 && d.physical_sector <= 4096);
	assert_int_equal(d.align, 4096);
	assert_int_equal(pwrite(d.fd, "hello", 5, 0), 5);
	store_dev_close(&d);
	assert_int_equal(d.fd, -1);
	assert_int_equal(d.dfd, -1);
	store_dev_close(&d); /* twice is fine */

	assert_int_equal(store_dev_open(f->file, false, 0, &d), 0);
	assert_int_equal(d.dfd, -1);
	store_dev_close(&d);

	if (!fs_takes_direct(f->file)) {
		assert_int_equal(store_dev_open(f->file, true, 1, &d), -EINVAL);
		return;
	}
	assert_int_equal(store_dev_open(f->file, true, 1, &d), 0);
	assert_true(d.dfd >= 0);
	assert_true(d.read_only);
	assert_int_equal(pread(d.fd, buf, 5, 0), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(pwrite(d.fd, "x", 1, 0), -1); /* O_RDONLY */
	assert_int_equal(errno, EBADF);
	strata_log_set_sink(quiet_sink, NULL);
	assert_int_equal(store_dev_discard(&d, 0, 4096), -EROFS);
	store_dev_close(&d);

	assert_int_equal(store_dev_open(f->file, false, 2, &d), -EINVAL);
	assert_int_equal(store_dev_open("/dev/shm/strata-test-no-such", false, -1, &d), -ENOENT);
	assert_int_equal(store_dev_open("/dev/shm", false, -1, &d), -EISDIR);
	assert_int_equal(d.fd, -1);
}

static void test_open_file_shm(void **state)
{
	check_file_open(*state);
}

static void test_open_file_tmp(void **state)
{
	check_file_open(*state);
}

/* procfs refuses O_DIRECT: direct=-1 falls back, direct=1 fails. */
static void test_open_direct_refused(void **state)
{
	struct store_dev d;

	assert_int_equal(store_dev_open("/proc/self/cmdline", true, -1, &d), 0);
	assert_true(d.fd >= 0);
	assert_int_equal(d.dfd, -1);
	store_dev_close(&d);
	strata_log_set_sink(quiet_sink, NULL);
	assert_int_equal(store_dev_open("/proc/self/cmdline", true, 1, &d), -EINVAL);
	assert_int_equal(d.fd, -1);
	assert_int_equal(d.dfd, -1);
	strata_log_set_sink(NULL, NULL);
}

static void test_close_zeroed(void **state)
{
	struct store_dev d;

	memset(&d, 0, sizeof(d));
	store_dev_close(&d); /* must not close stdin */
	assert_true(fcntl(0, F_GETFD) >= 0 || errno != EBADF);
}

static void test_discard_file(void **state)
{
	struct fx *f = *state;
	struct store_dev d;
	char buf[8192];
	struct stat st;

	assert_int_equal(truncate(f->file, 1 << 20), 0);
	assert_int_equal(store_dev_open(f->file, false, 0, &d), 0);
	memset(buf, 0xab, sizeof(buf));
	for (int i = 0; i < 16; i++)
		assert_int_equal(pwrite(d.fd, buf, sizeof(buf), i * (off_t)sizeof(buf)), sizeof(buf));
	assert_int_equal(store_dev_discard(&d, 8192, 65536), 0);
	assert_int_equal(pread(d.fd, buf, sizeof(buf), 8192), sizeof(buf));
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(pread(d.fd, buf, sizeof(buf), 0), sizeof(buf));
	assert_int_equal((uint8_t)buf[0], 0xab);
	assert_int_equal(fstat(d.fd, &st), 0);
	assert_int_equal(st.st_size, 1 << 20);
	assert_int_equal(store_dev_discard(&d, 0, 0), 0);
	store_dev_close(&d);
}

/* ---- loop device over tmpfs ---- */

static int loop_setup(void **state, unsigned sector)
{
	struct fx *f;
	char cmd[256];

	fx_new(state, "/dev/shm", 64 << 20);
	f = *state;
	if (!have_cmd("losetup") || access("/dev/loop-control", F_OK) != 0)
		return 0; /* the test skips */
	snprintf(cmd, sizeof(cmd), "losetup --show -f --direct-io=on --sector-size %u %s 2>/dev/null",
		 sector, f->file);
	if (run_out(f->dev, sizeof(f->dev), cmd) < 0)
		f->dev[0] = '\0';
	return 0;
}

static int loop_setup_512(void **state)
{
	return loop_setup(state, 512);
}

static int loop_setup_4k(void **state)
{
	return loop_setup(state, 4096);
}

static void need_dev(struct fx *f)
{
	if (!f->dev[0]) {
		print_message("no loop device (losetup or /dev/loop-control missing, or none free)\n");
		skip();
	}
}

static void test_loop_512(void **state)
{
	struct fx *f = *state;
	struct store_dev d, d2;
	bool created = true;
	char what[128];
	uint8_t *buf = NULL;

	need_dev(f);
	assert_int_equal(store_dev_probe(f->dev, what, sizeof(what)), 0);
	assert_int_equal(store_dev_open(f->dev, false, 1, &d), 0);
	assert_true(d.is_blk);
	assert_true(d.dfd >= 0);
	assert_int_equal(d.size, 64 << 20);
	assert_int_equal(d.logical_sector, 512);
	assert_int_equal(d.physical_sector, 512);
	assert_int_equal(d.align, 4096);

	/* O_EXCL: a second writer's claim of the same device is refused;
	 * a reader opens beside the writer */
	strata_log_set_sink(quiet_sink, NULL);
	assert_int_equal(store_dev_open(f->dev, false, -1, &d2), -EBUSY);
	assert_int_equal(store_dev_open(f->dev, true, -1, &d2), 0);
	assert_true(d2.is_blk);
	store_dev_close(&d2);

	/* discard: BLKDISCARD on a loop over tmpfs punches a hole -> zeros */
	buf = aligned_alloc(4096, 8192);
	assert_non_null(buf);
	memset(buf, 0x5a, 8192);
	assert_int_equal(pwrite(d.dfd, buf, 8192, 1 << 20), 8192);
	assert_int_equal(store_dev_discard(&d, 1 << 20, 4096), 0);
	assert_int_equal(pread(d.dfd, buf, 8192, 1 << 20), 8192);
	assert_int_equal(buf[0], 0);
	assert_int_equal(buf[4095], 0);
	assert_int_equal(buf[4096], 0x5a);
	/* unaligned edges are left alone; beyond the end is clipped */
	assert_int_equal(store_dev_discard(&d, 100, 200), 0);
	assert_int_equal(store_dev_discard(&d, (64 << 20) - 4096, 1 << 20), 0);
	free(buf);
	store_dev_close(&d);

	/* prepare: a block device takes no size */
	assert_int_equal(store_dev_prepare(f->dev, 0, &created), 0);
	assert_false(created);
	assert_int_equal(store_dev_prepare(f->dev, 1 << 20, &created), -EINVAL);

	/* someone else holding it exclusively (as a mount does): EBUSY for
	 * a writer; a reader is not refused (it would be by the superblock) */
	f->claim_fd = open(f->dev, O_RDONLY | O_EXCL | O_CLOEXEC);
	assert_true(f->claim_fd >= 0);
	assert_int_equal(store_dev_open(f->dev, false, -1, &d), -EBUSY);
	assert_int_equal(store_dev_open(f->dev, true, -1, &d), 0);
	store_dev_close(&d);
	close(f->claim_fd);
	f->claim_fd = -1;
}

/* A loop device with a file system: probe names it, a mount makes it busy. */
static void test_loop_with_fs(void **state)
{
	struct fx *f = *state;
	struct store_dev d;
	char what[128];

	need_dev(f);
	if (!have_cmd("mkfs.ext4"))
		skip(); /* e2fsprogs missing */
	assert_int_equal(run("mkfs.ext4 -q -F -L busy %s >/dev/null 2>&1", f->dev), 0);
	assert_int_equal(store_dev_probe(f->dev, what, sizeof(what)), -EEXIST);
	assert_string_equal(what, "ext4 filesystem (label \"busy\")");

	snprintf(f->mnt, sizeof(f->mnt), "/tmp/strata-test-mnt-XXXXXX");
	assert_non_null(mkdtemp(f->mnt));
	if (mount(f->dev, f->mnt, "ext4", 0, NULL) < 0) {
		print_message("cannot mount ext4 here (%s): mounted case not checked\n",
			      strerror(errno));
		return;
	}
	f->mounted = true;
	strata_log_set_sink(quiet_sink, NULL);
	assert_int_equal(store_dev_open(f->dev, false, -1, &d), -EBUSY);
	/* probing a mounted device still works and names it */
	assert_int_equal(store_dev_probe(f->dev, what, sizeof(what)), -EEXIST);
}

static void test_loop_4k(void **state)
{
	struct fx *f = *state;
	struct store_dev d;

	need_dev(f);
	assert_int_equal(store_dev_open(f->dev, false, 1, &d), 0);
	assert_true(d.is_blk);
	assert_int_equal(d.logical_sector, 4096);
	assert_int_equal(d.physical_sector, 4096);
	assert_int_equal(d.align, 4096);
	assert_int_equal(d.size, 64 << 20);
	store_dev_close(&d);
}

/* A read-only loop device: writable open refused up front, read-only fine. */
static int loop_setup_ro(void **state)
{
	char cmd[160];
	struct fx *f;

	fx_new(state, "/dev/shm", 16 << 20);
	f = *state;
	if (!have_cmd("losetup") || access("/dev/loop-control", F_OK) != 0)
		return 0;
	snprintf(cmd, sizeof(cmd), "losetup --show -f -r %s 2>/dev/null", f->file);
	if (run_out(f->dev, sizeof(f->dev), cmd) < 0)
		f->dev[0] = '\0';
	return 0;
}

static void test_loop_read_only(void **state)
{
	struct fx *f = *state;
	struct store_dev d;

	need_dev(f);
	strata_log_set_sink(quiet_sink, NULL);
	assert_int_equal(store_dev_open(f->dev, false, -1, &d), -EROFS);
	assert_int_equal(d.fd, -1);
	assert_int_equal(store_dev_open(f->dev, true, -1, &d), 0);
	assert_true(d.read_only);
	assert_int_equal(d.size, 16 << 20);
	store_dev_close(&d);
}

/* ---- zram ---- */

static int zram_setup(void **state)
{
	struct fx *f;
	char buf[64];
	FILE *fp;
	int id = -1;

	*state = NULL;
	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->zram_id = -1;
	f->claim_fd = -1;
	*state = f;
	/* Our own device when the kernel can add one, so nobody else's
	 * zram0 is touched; otherwise zram0, but only while it is unused. */
	fp = fopen("/sys/class/zram-control/hot_add", "r");
	if (fp) {
		if (fscanf(fp, "%d", &id) == 1 && id >= 0) {
			f->zram_id = id;
			f->zram_hot = true;
		}
		fclose(fp);
	}
	if (f->zram_id < 0) {
		fp = fopen("/sys/block/zram0/disksize", "r");
		if (!fp)
			return 0;
		if (fgets(buf, sizeof(buf), fp) && atoll(buf) == 0)
			f->zram_id = 0;
		fclose(fp);
		if (f->zram_id < 0)
			return 0;
	}
	snprintf(buf, sizeof(buf), "/sys/block/zram%d/disksize", f->zram_id);
	if (write_str(buf, "64M") < 0)
		return 0; /* teardown still resets/removes it */
	snprintf(f->dev, sizeof(f->dev), "/dev/zram%d", f->zram_id);
	return 0;
}

static void test_zram(void **state)
{
	struct fx *f = *state;
	struct store_dev d;
	char what[128];
	struct stat st;

	if (!f->dev[0] || stat(f->dev, &st) < 0 || !S_ISBLK(st.st_mode)) {
		print_message("no usable zram device (no zram module, or zram0 in use)\n");
		skip();
	}
	assert_int_equal(store_dev_probe(f->dev, what, sizeof(what)), 0);
	assert_int_equal(store_dev_open(f->dev, false, -1, &d), 0);
	assert_true(d.is_blk);
	assert_int_equal(d.size, 64 << 20);
	/* zram's sectors are pages */
	assert_int_equal(d.logical_sector, 4096);
	assert_int_equal(d.physical_sector, 4096);
	assert_int_equal(d.align, 4096);
	store_dev_close(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_probe_nothing, fx_setup_shm, fx_teardown),
		cmocka_unit_test_setup_teardown(test_probe_strata, fx_setup_shm, fx_teardown),
		cmocka_unit_test_setup_teardown(test_probe_ext4, fx_setup_tmp, fx_teardown),
		cmocka_unit_test_setup_teardown(test_probe_dos_partition_table, fx_setup_shm,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_probe_raid_member, fx_setup_shm, fx_teardown),
		cmocka_unit_test_setup_teardown(test_probe_ambivalent, fx_setup_shm, fx_teardown),
		cmocka_unit_test_setup_teardown(test_prepare, fx_setup_shm, fx_teardown),
		cmocka_unit_test_setup_teardown(test_prepare, fx_setup_tmp, fx_teardown),
		cmocka_unit_test_setup_teardown(test_open_file_shm, fx_setup_shm, fx_teardown),
		cmocka_unit_test_setup_teardown(test_open_file_tmp, fx_setup_tmp, fx_teardown),
		cmocka_unit_test(test_open_direct_refused),
		cmocka_unit_test(test_close_zeroed),
		cmocka_unit_test_setup_teardown(test_discard_file, fx_setup_tmp, fx_teardown),
		cmocka_unit_test_setup_teardown(test_loop_512, loop_setup_512, fx_teardown),
		cmocka_unit_test_setup_teardown(test_loop_with_fs, loop_setup_512, fx_teardown),
		cmocka_unit_test_setup_teardown(test_loop_4k, loop_setup_4k, fx_teardown),
		cmocka_unit_test_setup_teardown(test_loop_read_only, loop_setup_ro, fx_teardown),
		cmocka_unit_test_setup_teardown(test_zram, zram_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
