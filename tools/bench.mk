# SPDX-License-Identifier: GPL-2.0-or-later
# strata bench: a thin C command that runs the shell harness in tests/bench.
tools_strata_SOURCES += tools/cmd_bench.c
# Where cmd_bench.c looks for the harness (GNU make target-specific flags).
# The object is tools/strata-cmd_bench.o once tools_strata has per-program
# flags (tools_strata_CPPFLAGS), tools/cmd_bench.o otherwise: name both.
tools/cmd_bench.$(OBJEXT) tools/strata-cmd_bench.$(OBJEXT): DEFS += -DSTRATA_BENCHDIR='"$(benchdir)"' \
	-DSTRATA_SRCDIR='"$(abs_top_srcdir)"'

benchdir = $(pkgdatadir)/bench
dist_bench_SCRIPTS = tests/bench/rootfs-bench.sh
benchlibdir = $(benchdir)/lib
dist_benchlib_DATA = \
	tests/bench/lib/backends.sh \
	tests/bench/lib/backend-kernel.sh \
	tests/bench/lib/backend-fuse-overlayfs.sh \
	tests/bench/lib/backend-strata.sh \
	tests/bench/lib/backend-strata-store.sh \
	tests/bench/lib/common.sh \
	tests/bench/lib/cproj.sh \
	tests/bench/lib/image.sh \
	tests/bench/lib/machine.sh \
	tests/bench/lib/plot.sh \
	tests/bench/lib/report.sh \
	tests/bench/lib/stats.sh \
	tests/bench/lib/store.sh \
	tests/bench/lib/workloads.sh \
	tests/lib/images.sh
dist_man_MANS += man/strata-bench.1
