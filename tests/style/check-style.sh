#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The `style` suite (STYLE.md sections 2, 4, 9). Usage:
#   check-style.sh SRCDIR BUILDDIR CHECK
# CHECK is one of: xen-includes, printf, spdx, guest-exits, symbols, format.
set -u
src=$1
build=$2
check=$3
cd "$src" || exit 2
layers="common ioreq mapcache backends vhost-bridge daemon include"
fail=0

existing_layers() {
    for d in $layers; do
        [ -d "$d" ] && printf '%s\n' "$d"
    done
}

case "$check" in
xen-includes)
    # Only ioreq/ and mapcache/ may include Xen headers.
    hits=$(grep -rnE '#\s*include\s*<xen' $(existing_layers) \
        --include='*.c' --include='*.h' | grep -vE '^(ioreq|mapcache)/')
    if [ -n "$hits" ]; then
        echo "Xen headers outside ioreq/ and mapcache/:"
        echo "$hits"
        fail=1
    fi
    ;;
printf)
    # Output goes through common/log.c; only daemon/main.c prints usage.
    hits=$(grep -rnE '\b(printf|perror|puts)\s*\(|fprintf\s*\(\s*std(err|out)' \
        $(existing_layers) --include='*.c' |
        grep -vE '^(common/log\.c|daemon/main\.c):')
    if [ -n "$hits" ]; then
        echo "printf/perror outside common/log.c and daemon/main.c:"
        echo "$hits"
        fail=1
    fi
    ;;
spdx)
    files=$(git ls-files '*.c' '*.h' 'meson.build' '*/meson.build' \
        'meson_options.txt' '*.sh' 'Makefile' 2>/dev/null)
    [ -n "$files" ] || files=$(find $(existing_layers) tests bench \
        -name '*.[ch]' -o -name meson.build)
    for f in $files; do
        head -n 3 "$f" | grep -q 'SPDX-License-Identifier: GPL-2.0-or-later' ||
            { echo "missing SPDX header: $f"; fail=1; }
    done
    ;;
guest-exits)
    # No exit/abort in code that guest input reaches (asserts are for
    # internal invariants only and are reviewed by hand).
    hits=$(grep -rnE '(^|[^_a-z])(exit|abort|_exit)\s*\(' \
        ioreq mapcache backends vhost-bridge --include='*.c' 2>/dev/null)
    if [ -n "$hits" ]; then
        echo "exit/abort in guest-facing code:"
        echo "$hits"
        fail=1
    fi
    ;;
symbols)
    # Every external symbol of the layer libraries carries the iq_ prefix.
    libs=$(find "$build/common" "$build/ioreq" "$build/mapcache" \
        "$build/backends" "$build/vhost-bridge" "$build/daemon" \
        -name 'libiq-*.a' 2>/dev/null)
    for l in $libs; do
        bad=$(nm -g --defined-only "$l" 2>/dev/null |
            awk 'NF==3 && $2 ~ /[TDBRC]/ {print $3}' |
            grep -vE '^(iq_|IQ_)')
        if [ -n "$bad" ]; then
            echo "unprefixed exports in $l:"
            echo "$bad"
            fail=1
        fi
    done
    ;;
format)
    command -v clang-format >/dev/null || { echo "no clang-format"; exit 77; }
    files=$(find $(existing_layers) -name '*.[ch]')
    if ! clang-format --dry-run --Werror $files >/dev/null 2>&1; then
        clang-format --dry-run $files 2>&1 | grep -E 'warning:' | head -n 20
        fail=1
    fi
    ;;
*)
    echo "unknown check $check"
    exit 2
    ;;
esac
exit $fail
