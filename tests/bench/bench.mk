# SPDX-License-Identifier: GPL-2.0-or-later
# The benchmark harness in short mode: checks that it runs and produces a
# complete report (never passes or fails on the figures themselves).
# 011: Ctrl-C and SIGTERM clean up.  (Its group-SIGINT case used to exit 1
# instead of 130, most often in the ASan build: a signal that arrived while
# a FUSE daemon was being started ran the trap with the harness's message
# fd closed; fixed, and 011 now also interrupts mount cycles.)
TESTS += tests/bench/010-bench-short.sh tests/bench/011-bench-interrupt.sh
dist_check_SCRIPTS += tests/bench/010-bench-short.sh tests/bench/011-bench-interrupt.sh
include tests/bench/store.mk
