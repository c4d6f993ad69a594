# SPDX-License-Identifier: GPL-2.0-or-later
# The benchmark harness in short mode: checks that it runs and produces a
# complete report (never passes or fails on the figures themselves).
# 011 (Ctrl-C cleanup) is kept out of TESTS for now: in the ASan build the
# SIGINT-to-the-group case exits 1 instead of 130 (issue 3 note); run it
# with `make check TESTS=tests/bench/011-bench-interrupt.sh`.
TESTS += tests/bench/010-bench-short.sh
dist_check_SCRIPTS += tests/bench/010-bench-short.sh tests/bench/011-bench-interrupt.sh
include tests/bench/store.mk
