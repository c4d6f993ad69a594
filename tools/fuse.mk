# SPDX-License-Identifier: GPL-2.0-or-later
bin_PROGRAMS += tools/strata-fuse
tools_strata_fuse_SOURCES = tools/strata-fuse.c
tools_strata_fuse_CFLAGS = $(AM_CFLAGS) $(FUSE3_CFLAGS)
tools_strata_fuse_LDADD = fs/libfs.a common/libcommon.a $(FUSE3_LIBS) -lpthread
dist_man_MANS += man/strata-fuse.8
