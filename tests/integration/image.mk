# SPDX-License-Identifier: GPL-2.0-or-later
# Image format readers: image-dump opens any source and verifies DiffIDs.
check_PROGRAMS += tests/integration/image-dump
tests_integration_image_dump_SOURCES = tests/integration/image-dump.c
tests_integration_image_dump_LDADD = $(IMAGE_LIBS)
dist_check_SCRIPTS += tests/integration/201-image-oci.sh tests/integration/202-image-minbase.sh
TESTS += tests/integration/201-image-oci.sh tests/integration/202-image-minbase.sh
