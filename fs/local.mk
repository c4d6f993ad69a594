# SPDX-License-Identifier: GPL-2.0-or-later
# fs/: strata-fuse, the merged container filesystem (libfuse low-level API).
noinst_LIBRARIES += fs/libfs.a
fs_libfs_a_CFLAGS = $(AM_CFLAGS) $(FUSE3_CFLAGS)
fs_libfs_a_SOURCES = \
	fs/fs-internal.h \
	fs/opts.c \
	fs/layer_dir.c \
	fs/layer_store.c \
	fs/inode.c \
	fs/lookup.c \
	fs/dir.c \
	fs/copyup.c \
	fs/hardlink.c \
	fs/upper.c \
	fs/xattr.c \
	fs/origin.c \
	fs/node_ops.c \
	fs/create.c \
	fs/remove.c \
	fs/rename.c \
	fs/file.c \
	fs/handles.c \
	fs/passthrough.c \
	fs/readpool.c \
	fs/killpriv.c \
	fs/wire.c \
	fs/ops.c \
	fs/quota.c \
	fs/usage.c
noinst_HEADERS += include/strata/fs.h

check_PROGRAMS += tests/unit/test_fs_opts
TESTS += tests/unit/test_fs_opts
tests_unit_test_fs_opts_SOURCES = tests/unit/test_fs_opts.c
tests_unit_test_fs_opts_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_fs_opts_LDADD = fs/libfs.a common/libcommon.a $(FUSE3_LIBS) -lpthread $(TEST_LIBS)
