# SPDX-License-Identifier: GPL-2.0-or-later
bin_PROGRAMS += tools/strata
tools_strata_SOURCES = tools/strata.c tools/cmd.h tools/cmd_store.c tools/cmd_mount.c \
	tools/container.c tools/container.h tools/spawn.c tools/spawn.h
tools_strata_LDADD = $(STORE_LIBS)
include tools/fuse.mk
include tools/bench.mk
include tools/import.mk
include tools/volume.mk
include tools/container.mk
