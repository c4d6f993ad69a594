# SPDX-License-Identifier: GPL-2.0-or-later
# strata volume: directories with size and inode limits, served by strata-fuse.
tools_strata_SOURCES += tools/cmd_volume.c
# fs_usage_scan() (fs/usage.c, no FUSE calls) for volumes not mounted.
tools_strata_LDADD += fs/libfs.a
dist_man_MANS += man/strata-volume.1
