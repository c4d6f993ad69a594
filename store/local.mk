# SPDX-License-Identifier: GPL-2.0-or-later
# libstore: block store (io.mk: io_uring engine and devices; core.mk: format,
# log, index, checkpoints, recovery, fsck; image.mk: OCI image formats).
noinst_LIBRARIES += store/libstore.a
store_libstore_a_SOURCES = store/uuid.c
store_libstore_a_CPPFLAGS = $(AM_CPPFLAGS) $(URING_CFLAGS) $(BLKID_CFLAGS) $(XXHASH_CFLAGS) \
	$(ZSTD_CFLAGS) $(ARCHIVE_CFLAGS) $(CRYPTO_CFLAGS) $(JSONC_CFLAGS) $(ZLIB_CFLAGS)
noinst_HEADERS += include/strata/store.h store/io-internal.h store/device-internal.h
EXTRA_DIST += store/DESIGN.md
# Everything a program needs to link libstore.
STORE_LIBS = store/libstore.a common/libcommon.a $(URING_LIBS) $(BLKID_LIBS) $(XXHASH_LIBS) \
	$(ZSTD_LIBS) $(ARCHIVE_LIBS) $(CRYPTO_LIBS) $(JSONC_LIBS) $(ZLIB_LIBS) -lpthread
include store/io.mk
include store/core.mk
include store/image.mk
include store/catalog.mk
