# SPDX-License-Identifier: GPL-2.0-or-later
# The benchmark harness in short mode: checks that it runs and produces a
# complete report (never passes or fails on the figures themselves).
TESTS += tests/bench/010-bench-short.sh tests/bench/011-bench-interrupt.sh
dist_check_SCRIPTS += tests/bench/010-bench-short.sh tests/bench/011-bench-interrupt.sh
include tests/bench/store.mk
