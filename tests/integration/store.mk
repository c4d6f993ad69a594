# SPDX-License-Identifier: GPL-2.0-or-later
# Block store integration tests: kill -9 crash rounds (store-crash writes
# and checks a deterministic operation stream) and bad input for the CLI.
check_PROGRAMS += tests/integration/store-crash
tests_integration_store_crash_SOURCES = tests/integration/store-crash.c
tests_integration_store_crash_CPPFLAGS = $(store_libstore_a_CPPFLAGS)
tests_integration_store_crash_LDADD = $(STORE_LIBS)
STORE_TESTS = \
	tests/integration/100-store-crash.sh \
	tests/integration/101-store-cli.sh
TESTS += $(STORE_TESTS)
dist_check_SCRIPTS += $(STORE_TESTS)
