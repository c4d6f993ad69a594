# SPDX-License-Identifier: GPL-2.0-or-later
# Image import, catalog, df and gc with real images and a bad-input corpus.
dist_check_SCRIPTS += tests/integration/210-import.sh tests/integration/211-import-badinput.sh
TESTS += tests/integration/210-import.sh tests/integration/211-import-badinput.sh
