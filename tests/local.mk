# SPDX-License-Identifier: GPL-2.0-or-later
# Unit test programs are added by each module's .mk; integration scripts by
# the fragments below.  tests/integration/lib.sh is shared by all scripts.
dist_check_SCRIPTS += tests/integration/lib.sh
TEST_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
TEST_LIBS = $(CMOCKA_LIBS)
include tests/integration/store.mk
include tests/integration/fs.mk
include tests/integration/image.mk
include tests/bench/bench.mk
include tests/integration/import.mk
