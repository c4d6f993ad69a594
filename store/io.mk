# SPDX-License-Identifier: GPL-2.0-or-later
# store/: io_uring engine and devices (io.c, device.c) with their unit tests.
store_libstore_a_SOURCES += store/io.c store/device.c

check_PROGRAMS += tests/unit/test_io tests/unit/test_device
TESTS += tests/unit/test_io tests/unit/test_device
STORE_IO_TEST_LIBS = store/libstore.a common/libcommon.a $(URING_LIBS) $(BLKID_LIBS) \
	$(TEST_LIBS) -lpthread

tests_unit_test_io_SOURCES = tests/unit/test_io.c
tests_unit_test_io_CPPFLAGS = $(store_libstore_a_CPPFLAGS)
tests_unit_test_io_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_io_LDADD = $(STORE_IO_TEST_LIBS)
# The test breaks rings on purpose by wrapping these two liburing calls.
tests_unit_test_io_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=io_uring_submit_and_wait \
	-Wl,--wrap=io_uring_queue_init

tests_unit_test_device_SOURCES = tests/unit/test_device.c
tests_unit_test_device_CPPFLAGS = $(store_libstore_a_CPPFLAGS)
tests_unit_test_device_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_device_LDADD = $(STORE_IO_TEST_LIBS)
