# SPDX-License-Identifier: GPL-2.0-or-later
bin_PROGRAMS += tools/strata-fuse
tools_strata_fuse_SOURCES = tools/strata-fuse.c
tools_strata_fuse_CFLAGS = $(AM_CFLAGS) $(FUSE3_CFLAGS)
tools_strata_fuse_LDADD = fs/libfs.a $(CATALOG_LIBS) $(FUSE3_LIBS) -lpthread
dist_man_MANS += man/strata-fuse.8

# mount(8) runs /sbin/mount.<type>: "mount -t strata" finds mount.strata;
# "mount -t fuse.strata-fuse" goes through fuse3's mount.fuse3, which runs
# strata-fuse SOURCE MOUNTPOINT -o OPTIONS.
sbin_PROGRAMS += tools/mount.strata
tools_mount_strata_SOURCES = tools/mount.strata.c
tools_mount_strata_CPPFLAGS = $(AM_CPPFLAGS) -DSTRATA_BINDIR='"$(bindir)"'
dist_man_MANS += man/mount.strata.8
