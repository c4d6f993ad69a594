#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# kill -9 at random moments: a writer puts, deletes, checkpoints and syncs
# records forever and logs each acknowledged sync; after SIGKILL the store
# must open, every acknowledged record must read back byte-identical (and
# every durably deleted one stay gone), and fsck must find no damage, both
# read-only on the crashed image (`strata fsck`) and after recovery
# (store_fsck in store-crash verify).  Rounds: 40 (20 with CI=true), capped
# at about 50 s.
. "$(dirname "$0")/lib.sh"

CRASH="$STRATA_BUILDDIR/tests/integration/store-crash"
[ -x "$CRASH" ] || fail "$CRASH not built (make check builds it)"
command -v strata >/dev/null 2>&1 || fail "strata not built"

rounds=${STORE_CRASH_ROUNDS:-40}
[ "${CI:-}" = true ] && rounds=${STORE_CRASH_ROUNDS:-20}
budget=50

# A RAM-backed store when /dev/shm is there: many rounds in little time.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	dir=$(mktemp -d /dev/shm/strata-crash.XXXXXX)
	on_cleanup "rm -rf '$dir'"
else
	dir=$TEST_TMP
fi
S=$dir/store.img
expect_ok strata store init --file "$S" --size 128M --segment-size 1M --label crash

# Random integer in [lo, hi].
rnd() { echo $(( $1 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % ($2 - $1 + 1) )); }

start=$(date +%s)
done_rounds=0 verified=0 acked=0 torn=0 replayed=0 present=0
r=1
while [ "$r" -le "$rounds" ]; do
	if [ $(($(date +%s) - start)) -ge "$budget" ]; then
		say "time budget of ${budget}s reached after $done_rounds rounds"
		break
	fi
	"$CRASH" write "$r" "$S" "$dir/ack.$r" 2>"$TEST_TMP/writer.err" &
	pid=$!
	track_pid "$pid"
	# 20..600 ms: from inside the first open to well into steady writing.
	ms=$(rnd 20 600)
	sleep "$(printf '0.%03d' "$ms")"
	if ! kill -0 "$pid" 2>/dev/null; then
		rc=0
		wait "$pid" || rc=$?
		cat "$TEST_TMP/writer.err" >&2
		fail "round $r: writer exited on its own with status $rc"
	fi
	kill -9 "$pid"
	rc=0
	{ wait "$pid"; } 2>/dev/null || rc=$? # no "Killed" job notice per round
	[ "$rc" = 137 ] || fail "round $r: writer ended with status $rc, not by SIGKILL"

	# The crashed image as it is, read-only (recovery in memory only).
	if ! strata fsck "$S" >"$TEST_TMP/fsck.out" 2>"$TEST_TMP/fsck.err"; then
		cat "$TEST_TMP/fsck.out" "$TEST_TMP/fsck.err" >&2
		fail "round $r (killed after ${ms} ms): strata fsck failed on the crashed store"
	fi
	t=$(sed -n 's/.* \([0-9]*\) torn bytes dropped.*/\1/p' "$TEST_TMP/fsck.out")
	p=$(sed -n 's/.* \([0-9]*\) replayed.*/\1/p' "$TEST_TMP/fsck.out")
	[ "${t:-0}" -gt 0 ] && torn=$((torn + 1))
	[ "${p:-0}" -gt 0 ] && replayed=$((replayed + 1))

	# Recovery for real, every acknowledged record, then store_fsck.
	prev=""
	[ "$r" -gt 1 ] && prev="$((r - 1)) $dir/ack.$((r - 1))"
	# shellcheck disable=SC2086
	if ! "$CRASH" verify "$r" "$S" "$dir/ack.$r" $prev >"$TEST_TMP/verify.out" \
		2>"$TEST_TMP/verify.err"; then
		rc=$?
		cat "$TEST_TMP/verify.out" "$TEST_TMP/verify.err" >&2
		case $rc in
		1) fail "round $r (killed after ${ms} ms): store unopenable after the crash" ;;
		2) fail "round $r (killed after ${ms} ms): acknowledged records lost or wrong" ;;
		3) fail "round $r (killed after ${ms} ms): fsck found damage after recovery" ;;
		*) fail "round $r: store-crash verify failed ($rc)" ;;
		esac
	fi
	v=$(sed -n "s/^seed=$r .* verified=\([0-9]*\) .*/\1/p" "$TEST_TMP/verify.out")
	a=$(sed -n "s/^seed=$r acked_ops=\([0-9]*\) .*/\1/p" "$TEST_TMP/verify.out")
	u=$(sed -n "s/^seed=$r .* unacked_present=\([0-9]*\) .*/\1/p" "$TEST_TMP/verify.out")
	[ -n "$v" ] && [ -n "$a" ] || { cat "$TEST_TMP/verify.out" >&2; fail "round $r: no verify summary"; }
	verified=$((verified + v))
	acked=$((acked + a))
	present=$((present + u))
	# And the recovered store once more through the tool.
	expect_ok strata fsck "$S"
	assert_grep ': clean$' "$TEST_TMP/stdout"
	done_rounds=$r
	r=$((r + 1))
done

[ "$done_rounds" -ge 5 ] || fail "only $done_rounds rounds ran"
# A run where no writer ever got a sync acknowledged tested nothing.
[ "$acked" -gt 0 ] && [ "$verified" -gt 0 ] || fail "no acknowledged records in $done_rounds rounds"
expect_ok strata store info "$S"
say "$done_rounds rounds: 0 unopenable, 0 corrupt; $verified acknowledged records verified" \
	"(own round's $acked acknowledged ops replayed), $present unacknowledged records" \
	"survived intact; torn tail in $torn rounds, roll-forward in $replayed rounds" \
	"($(($(date +%s) - start)) s)"
