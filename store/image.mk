# SPDX-License-Identifier: GPL-2.0-or-later
# Image formats: OCI layout, oci-archive, docker-archive, rootfs tarballs,
# the layer tar walker and the byte-exact tar rebuild.
store_libstore_a_SOURCES += \
	store/digest.c \
	store/json.c \
	store/oci.c \
	store/archive.c \
	store/tarwalk.c \
	store/tarstream.c \
	store/tarbuild.c
noinst_HEADERS += include/strata/image.h store/image-internal.h

# The same sources as a small library of their own: the image readers do
# not depend on the block store, so their tests and tools link only this.
noinst_LIBRARIES += store/libimage.a
store_libimage_a_SOURCES = store/digest.c store/json.c store/oci.c store/archive.c \
	store/tarwalk.c store/tarstream.c store/tarbuild.c
store_libimage_a_CPPFLAGS = $(AM_CPPFLAGS) $(ZSTD_CFLAGS) $(ARCHIVE_CFLAGS) $(CRYPTO_CFLAGS) \
	$(JSONC_CFLAGS) $(ZLIB_CFLAGS) $(XXHASH_CFLAGS)
IMAGE_LIBS = store/libimage.a common/libcommon.a $(ZSTD_LIBS) $(ARCHIVE_LIBS) $(CRYPTO_LIBS) \
	$(JSONC_LIBS) $(ZLIB_LIBS) $(XXHASH_LIBS) -lpthread
EXTRA_DIST += tests/fuzz/fuzz_tarwalk.c tests/fuzz/fuzz_oci_json.c tests/fuzz/build-image-fuzzers.sh

check_PROGRAMS += tests/unit/test_oci tests/unit/test_tarwalk
TESTS += tests/unit/test_oci tests/unit/test_tarwalk
tests_unit_test_oci_SOURCES = tests/unit/test_oci.c tests/unit/tarhelp.h
tests_unit_test_oci_CFLAGS = $(TEST_CFLAGS) $(ARCHIVE_CFLAGS) $(JSONC_CFLAGS)
tests_unit_test_oci_LDADD = $(IMAGE_LIBS) $(TEST_LIBS)
tests_unit_test_tarwalk_SOURCES = tests/unit/test_tarwalk.c tests/unit/tarhelp.h
tests_unit_test_tarwalk_CFLAGS = $(TEST_CFLAGS) $(ARCHIVE_CFLAGS) $(ZLIB_CFLAGS) $(ZSTD_CFLAGS)
tests_unit_test_tarwalk_LDADD = $(IMAGE_LIBS) $(TEST_LIBS)
