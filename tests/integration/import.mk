# SPDX-License-Identifier: GPL-2.0-or-later
# Image import, catalog, df and gc with real images and a bad-input corpus.
dist_check_SCRIPTS += tests/integration/210-import.sh tests/integration/211-import-badinput.sh
TESTS += tests/integration/210-import.sh tests/integration/211-import-badinput.sh
# 212: the per-store policy and chunking options; gc racing concurrent
# imports; the import benchmark's short CI mode (runs, figures unchecked).
dist_check_SCRIPTS += tests/integration/212-import-policy.sh \
	tests/integration/212-import-concurrent-gc.sh tests/integration/212-import-bench-ci.sh
TESTS += tests/integration/212-import-policy.sh tests/integration/212-import-concurrent-gc.sh \
	tests/integration/212-import-bench-ci.sh
EXTRA_DIST += tests/bench/import-bench.sh tests/bench/IMPORT-RESULTS.md
# 213: the file system under the store file fills up during an import.
dist_check_SCRIPTS += tests/integration/213-import-host-full.sh
TESTS += tests/integration/213-import-host-full.sh
# 220: strata export to an OCI layout, oci-archive and docker-archive.
dist_check_SCRIPTS += tests/integration/220-export.sh
TESTS += tests/integration/220-export.sh
# 230: strata commit of live and unmounted containers (needs FUSE).
dist_check_SCRIPTS += tests/integration/230-commit.sh
TESTS += tests/integration/230-commit.sh
# 240, 241: strata bundle (runc runs the image's command), ps/rm, which.
dist_check_SCRIPTS += tests/integration/240-bundle.sh tests/integration/241-ps-which.sh
TESTS += tests/integration/240-bundle.sh tests/integration/241-ps-which.sh
