# SPDX-License-Identifier: GPL-2.0-or-later
# Image commands: import, images, inspect, tag, rmi, df, verify, gc.
tools_strata_SOURCES += tools/cmd_import.c tools/cmd_image.c tools/cmd_gc.c tools/cmd_image.h
tools_strata_SOURCES += tools/cmd_export.c
tools_strata_SOURCES += tools/cmd_commit.c
tools_strata_CPPFLAGS = $(AM_CPPFLAGS) $(JSONC_CFLAGS)
# libcatalog and libdedup come before libstore (they call into it).
tools_strata_LDADD += $(CATALOG_LIBS)
dist_man_MANS += man/strata-import.1
dist_man_MANS += man/strata-export.1
dist_man_MANS += man/strata-commit.1
