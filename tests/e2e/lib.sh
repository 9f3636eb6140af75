# SPDX-License-Identifier: GPL-2.0-or-later
# Shared by tests/e2e/run.sh (arm64) and tests/e2e/x86/run.sh: boot with the
# infrastructure-only retry, and collect the scenario results. The caller
# defines say(), boot LOG ARG and $W.

# e2e_boot_retrying ARG LABEL [NAME]: boot once, and once more only if dom0
# never started the tests (QEMU died or timed out first) — never for a
# failed check. Sets E2E_LOG ($W/logs/NAME-N.log, NAME default run) and
# E2E_RC; copies the log to $W/logs/last.log.
e2e_boot_retrying() {
    local arg=$1 label=$2 name=${3:-run} attempt=1
    while :; do
        E2E_LOG=$W/logs/$name-$attempt.log
        say "run: attempt $attempt${label:+, $label}, log $E2E_LOG"
        E2E_RC=0
        boot "$E2E_LOG" "$arg" || E2E_RC=$?
        if grep -q 'E2E: tests start' "$E2E_LOG" || [ $attempt -ge 2 ]; then
            break
        fi
        say "run: dom0 never started the tests (qemu status $E2E_RC): retrying"
        attempt=$((attempt + 1))
    done
    [ "$E2E_RC" = 0 ] || say "run: qemu exit status $E2E_RC (124: timeout)"
    cp "$E2E_LOG" "$W/logs/last.log"
}

# e2e_collect LOG SCENARIO...: one PASS/FAIL line per scenario (a missing
# result is a failure). Sets SUMMARY and SUMMARY_DONE; returns 0 only when
# every scenario passed.
e2e_collect() {
    local log=$1 s line pass=0 fail=0
    shift
    for s in "$@"; do
        line=$(grep "E2E-RESULT: $s " "$log" | tail -n 1 | tr -d '\r')
        case "$line" in
        *"E2E-RESULT: $s PASS"*) pass=$((pass + 1)); echo "PASS $s" ;;
        "") fail=$((fail + 1)); echo "FAIL $s (no result)" ;;
        *) fail=$((fail + 1)); echo "FAIL $s" ;;
        esac
    done
    if ! grep -q 'E2E: tests finished' "$log"; then
        say "run: the dom0 test script did not finish (see $log)"
    fi
    say "run: $(du -sh "$W" | cut -f1) in $W"
    SUMMARY_DONE=1
    SUMMARY="$pass passed, $fail failed"
    [ "$fail" = 0 ] && [ "$pass" -gt 0 ]
}
