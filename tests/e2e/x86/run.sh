#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Real-Xen x86 end-to-end suite: Debian's stock Xen 4.17 amd64 (IOREQ
# servers already enabled) under qemu-system-x86_64 (TCG with SVM + NPT), a
# PV Debian dom0 running ioreqd built for the host, and one HVM domU (qemu-xen
# as its primary device model, hvmloader + SeaBIOS, direct kernel boot) whose
# LSI 53C895A controller at 00:05.0 is served by ioreqd as a secondary IOREQ
# server.
#
#   tests/e2e/x86/run.sh [STAGE...]
#
# Stages (default: all of them, in this order):
#   host     install the host's Debian packages (root; skipped when present)
#   fetch    amd64 .debs -> $W/sysroot (apt-get download + dpkg -x)
#   ioreqd   build ioreqd for the host with meson (-Dtests=disabled)
#   images   dom0 and domU initramfs
#   run      boot and run the scenarios; prints `N passed, N failed` last
#
# Scenarios: x86-seabios x86-sym53c8xx x86-pattern x86-ext2 (one boot, one
# guest with two disks: target 0 for the pattern, target 1 for ext2).
#
# Environment:
#   E2E_WORK         work and cache directory; this suite uses $E2E_WORK/x86
#                    (default build/e2e/x86)
#   E2E_X86_TIMEOUT  seconds for the whole QEMU run (default 600)
#   E2E_X86_BOOT_TIMEOUT seconds the domU may take to report (default 400)
#   E2E_X86_IOREQD   development only: use this binary instead of the build
#   E2E_X86_SYM      development only: sym53c8xx parameters joined by +,
#                    e.g. verb=2+cmd_per_lun=0
#   E2E_SHELL=1      with `run`: interactive dom0 shell on the terminal
#
# Every download and build is cached under $W; delete a piece to redo it.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
E2E=$ROOT/tests/e2e
X86=$E2E/x86
W=${E2E_WORK:-build/e2e}
case "$W" in /*) ;; *) W=$ROOT/$W ;; esac
W=$W/x86
mkdir -p "$W"
XENVER=4.17
MA=x86_64-linux-gnu

say() { printf 'e2e-x86: %s\n' "$*" >&2; }
# shellcheck source=../lib.sh
. "$E2E/lib.sh"
die() { say "error: $*"; exit 1; }
now() { date +%s; }

APT_SANDBOX=""
[ "$(id -u)" != 0 ] || APT_SANDBOX="-o APT::Sandbox::User=root"

HOST_PACKAGES="qemu-system-x86 qemu-system-data gcc libc6-dev cpio gzip
 dpkg-dev file kmod meson ninja-build pkg-config libxen-dev liburing-dev"

# Unpacked into the sysroot; qemu-system-xen's own libraries are resolved
# against the host's (same Debian release) with ldd in the images stage.
AMD64_PACKAGES="xen-hypervisor-$XENVER-amd64 xen-utils-$XENVER
 xen-utils-common xenstore-utils libxenmisc$XENVER libxenstore4 libxencall1
 libxendevicemodel1 libxenevtchn1 libxenforeignmemory1 libxengnttab1
 libxentoolcore1 libxentoollog1 libxenhypfs1 libyajl2 libc6 libuuid1 libfdt1
 libext2fs2 libcom-err2 zlib1g libncurses6 libtinfo6 libgcc-s1 liblzma5
 libzstd1 libnl-3-200 libnl-route-3-200 liburing2 busybox-static
 qemu-system-xen seabios"

# ---- host ------------------------------------------------------------------

stage_host() {
    local p missing=""
    for p in $HOST_PACKAGES; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
            grep -q '^install ok installed' || missing="$missing $p"
    done
    if [ -z "$missing" ]; then
        say "host: packages present"
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "host packages missing:$missing (run as root)"
    say "host: installing$missing"
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends --no-upgrade $HOST_PACKAGES >/dev/null
}

# ---- fetch -----------------------------------------------------------------

kernel_package() {
    apt-cache show --no-all-versions linux-image-amd64 |
        sed -n 's/^Depends: \(linux-image-[^ ,]*\).*/\1/p' | head -n 1
}

stage_fetch() {
    local S=$W/sysroot Q=$W/qemuxen D=$W/debs k p list=""
    if [ -f "$S/.done" ] && [ -f "$Q/.done" ]; then
        say "fetch: sysroot cached"
        return 0
    fi
    k=$(kernel_package)
    [ -n "$k" ] || die "no amd64 kernel package (apt-get update?)"
    mkdir -p "$D"
    for p in $AMD64_PACKAGES "$k"; do
        ls "$D/${p}_"*.deb >/dev/null 2>&1 || list="$list $p"
    done
    if [ -n "$list" ]; then
        say "fetch:$list"
        # shellcheck disable=SC2086
        (cd "$D" && apt-get $APT_SANDBOX download -q $list >/dev/null)
    fi
    rm -rf "$S" "$Q"
    mkdir -p "$S" "$Q"
    for p in "$D"/*.deb; do
        case "${p##*/}" in
        qemu-system-xen_*|seabios_*) dpkg -x "$p" "$Q" ;;
        *) dpkg -x "$p" "$S" ;;
        esac
    done
    echo "${k#linux-image-}" > "$S/.kver"
    touch "$S/.done" "$Q/.done"
    say "fetch: $(ls "$D" | wc -l) debs, kernel $(cat "$S/.kver")"
}

# ---- ioreqd ----------------------------------------------------------------

stage_ioreqd() {
    local B=$W/build O=$W/out
    mkdir -p "$O"
    if [ -n "${E2E_X86_IOREQD:-}" ]; then
        say "ioreqd: using E2E_X86_IOREQD=$E2E_X86_IOREQD"
        cp "$E2E_X86_IOREQD" "$O/ioreqd"
    else
        if [ ! -f "$B/build.ninja" ]; then
            meson setup "$B" "$ROOT" -Dtests=disabled -Dxen=enabled \
                -Dbuildtype=debugoptimized >"$W/meson-setup.log" 2>&1 ||
                { tail -n 30 "$W/meson-setup.log"; rm -rf "$B";
                  die "meson setup failed"; }
        fi
        ninja -C "$B" -j2 daemon/ioreqd >"$W/ninja.log" 2>&1 ||
            { tail -n 40 "$W/ninja.log"; die "build failed"; }
        cp "$B/daemon/ioreqd" "$O/ioreqd"
    fi
    file -b "$O/ioreqd" | grep -q 'x86-64' ||
        die "$O/ioreqd is not an x86-64 binary"
    # Guest and dom0 I/O checker: static, so the domU needs no libc.
    gcc -static -O2 -Wall -Wextra -D_GNU_SOURCE \
        -o "$O/iq-e2e-io" "$E2E/guest/iq-e2e-io.c"
    say "ioreqd: $(file -b "$O/ioreqd" | cut -d, -f1-2)"
}

# ---- images ----------------------------------------------------------------

# Modules $3... and everything they depend on, in load order, as paths
# relative to the module directory $1 (from its modules.dep).
module_closure() { # moddir seen-file name...
    local M=$1 seen=$2 m f d
    shift 2
    for m in "$@"; do
        f=$(grep -E "(^|/)$m\.ko:" "$M/modules.dep" | head -n 1 |
            cut -d: -f1)
        [ -n "$f" ] || die "kernel module $m.ko not found"
        grep -qx "$f" "$seen" 2>/dev/null && continue
        for d in $(grep -E "^$f:" "$M/modules.dep" | cut -d: -f2); do
            d=${d##*/}
            module_closure "$M" "$seen" "${d%.ko}"
        done
        grep -qx "$f" "$seen" 2>/dev/null || echo "$f" >> "$seen"
    done
}

# Copy the shared libraries ELF file $2 needs into rootfs $1 (resolved
# with the sysroot first, then the host).
copy_libs() { # rootfs elf
    local R=$1 S=$W/sysroot l b
    for l in $(LD_LIBRARY_PATH=$S/lib/$MA:$S/usr/lib/$MA:$S/usr/lib/xen-$XENVER/lib \
        ldd "$2" | awk '/=> \//{print $3} /not found/{print "MISSING:" $1}'); do
        case "$l" in MISSING:*) die "$2 needs ${l#MISSING:}" ;; esac
        b=${l##*/}
        [ -e "$R/lib/$MA/$b" ] || [ -e "$R/usr/lib/$MA/$b" ] ||
            cp -L "$l" "$R/usr/lib/$MA/"
    done
}

stage_images() {
    local S=$W/sysroot Q=$W/qemuxen O=$W/out KV M U R f seen
    KV=$(cat "$S/.kver")
    M=$S/lib/modules/$KV
    [ -x "$O/ioreqd" ] || die "run the ioreqd stage first"
    # The kernel package leaves modules.dep to its postinst.
    [ -f "$M/modules.dep" ] || depmod -b "$S" "$KV" ||
        die "depmod failed"
    gunzip -c "$S/boot/xen-$XENVER-amd64.gz" > "$O/xen"
    cp "$S/boot/vmlinuz-$KV" "$O/vmlinuz"

    # domU: busybox, the I/O checker, sym53c8xx + sd_mod, ext4 (mounts ext2).
    U=$W/rootfs-domu
    rm -rf "$U"
    mkdir -p "$U"/{bin,dev,proc,sys,mnt,tmp,lib/modules}
    cp "$S/bin/busybox" "$O/iq-e2e-io" "$U/bin/"
    cp "$X86/domu-init" "$U/init"
    chmod 755 "$U/init"
    seen=$W/domu-modules.list
    rm -f "$seen"
    module_closure "$M" "$seen" sym53c8xx sd_mod crc32c_generic ext4
    for f in $(cat "$seen"); do
        cp "$M/$f" "$U/lib/modules/"
        echo "${f##*/}" >> "$U/lib/modules/order"
    done
    (cd "$U" && find . | cpio -o -H newc --quiet | gzip -1) \
        > "$O/domu-initrd.gz"

    # dom0: busybox, Xen tools and libraries, qemu-xen + SeaBIOS, ioreqd,
    # the scenario script and the domU kernel + initramfs.
    R=$W/rootfs-dom0
    rm -rf "$R"
    mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,usr/libexec,lib64,etc/xen} \
        "$R"/{opt/e2e,domu,proc,sys,dev,run,tmp,var/lib,var/log} \
        "$R/usr/lib/$MA" "$R/usr/share/seabios" "$R/usr/share/qemu"
    cp -a "$S/lib/$MA" "$R/lib/"
    cp -L "$S/lib64/ld-linux-x86-64.so.2" "$R/lib64/"
    cp -a "$S"/usr/lib/$MA/*.so* "$R/usr/lib/$MA/"
    cp -a "$S/usr/lib/xen-$XENVER" "$R/usr/lib/"
    cp -a "$S"/usr/bin/xenstore* "$R/usr/bin/"
    cp -a "$S/etc/xen/." "$R/etc/xen/"
    cp "$S/bin/busybox" "$R/bin/"
    cp "$Q/usr/libexec/xen-qemu-system-i386" "$R/usr/libexec/"
    cp -L "$Q"/usr/share/seabios/bios*.bin "$R/usr/share/seabios/"
    # qemu-xen refuses to start without its keymaps (even with vnc=0);
    # linuxboot_dma.bin does the direct kernel boot.
    cp -rL /usr/share/qemu/keymaps "$R/usr/share/qemu/"
    for f in linuxboot_dma.bin linuxboot.bin kvmvapic.bin; do
        cp -L "/usr/share/qemu/$f" "$R/usr/share/qemu/"
    done
    cp "$O/ioreqd" "$R/usr/sbin/ioreqd"
    for f in "$R/usr/libexec/xen-qemu-system-i386" "$R/usr/sbin/ioreqd" \
        "$R"/usr/lib/xen-$XENVER/bin/*; do
        file -b "$f" | grep -q ELF && copy_libs "$R" "$f"
    done
    cp "$O/iq-e2e-io" "$R/opt/e2e/"
    cp "$X86/scenarios.sh" "$R/opt/e2e/"
    cp "$X86/dom0-init" "$R/init"
    chmod 755 "$R/init"
    seen=$W/dom0-modules.list
    rm -f "$seen"
    module_closure "$M" "$seen" xen-evtchn xen-privcmd xen-gntdev \
        xen-gntalloc xenfs
    for f in $(cat "$seen"); do
        mkdir -p "$R/lib/modules/$KV/$(dirname "$f")"
        cp "$M/$f" "$R/lib/modules/$KV/$f"
        echo "$f" >> "$R/lib/modules/order"
    done
    cp "$O/vmlinuz" "$R/domu/vmlinuz"
    cp "$O/domu-initrd.gz" "$R/domu/initrd.gz"
    (cd "$R" && find . | cpio -o -H newc --quiet) > "$O/dom0-initrd.cpio"
    say "images: dom0 $(du -h "$O/dom0-initrd.cpio" | cut -f1)," \
        "domU $(du -h "$O/domu-initrd.gz" | cut -f1)"
}

# ---- run -------------------------------------------------------------------

ALL_SCENARIOS="x86-seabios x86-sym53c8xx x86-pattern x86-ext2"
SUMMARY_DONE=0

# One boot of Xen + dom0 under QEMU; the log has time stamps.
boot() { # logfile mode
    local O=$W/out log=$1 mode=$2 t0 l n
    local qemu=(qemu-system-x86_64 -accel tcg -machine pc
        -cpu qemu64,+svm,+npt -smp 2 -m 3072 -display none -monitor none
        -nodefaults -no-reboot
        -kernel "$O/xen"
        -append "console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M $(
            )dom0_max_vcpus=1 bootscrub=0 loglvl=all guest_loglvl=all $(
            )noreboot ${E2E_XEN_ARGS:-}"
        -initrd "$O/vmlinuz console=hvc0 earlyprintk=xen rdinit=/init $(
            )loglevel=5 iqe2e=$mode iqboot=${E2E_X86_BOOT_TIMEOUT:-400} $(
            )${E2E_X86_SYM:+iqsym=$E2E_X86_SYM},$(
            )$O/dom0-initrd.cpio")
    if [ "$mode" = shell ]; then
        exec "${qemu[@]}" -serial mon:stdio
    fi
    t0=$(date +%s%N)
    set +e
    timeout "${E2E_X86_TIMEOUT:-600}" "${qemu[@]}" -serial stdio </dev/null \
        2>&1 | while IFS= read -r l; do
            n=$(( ($(date +%s%N) - t0) / 10000000 ))
            printf '[%5d.%02d] %s\n' $((n / 100)) $((n % 100)) "$l"
        done > "$log"
    local rc=${PIPESTATUS[0]}
    set -e
    return "$rc"
}

stage_run() {
    mkdir -p "$W/logs"
    [ -f "$W/out/dom0-initrd.cpio" ] || die "run the images stage first"
    if [ "${E2E_SHELL:-0}" = 1 ]; then
        boot /dev/null shell
    fi
    e2e_boot_retrying run ""
    grep -E 'E2E-(RESULT|TIME)|E2E: (HANG|guest state)' "$E2E_LOG" |
        sed 's/^\[[^]]*\] //' | tr -d '\r' >&2 || true
    # shellcheck disable=SC2086
    e2e_collect "$E2E_LOG" $ALL_SCENARIOS
}

# ---- main ------------------------------------------------------------------

summary_on_exit() {
    if [ "$SUMMARY_DONE" = 1 ]; then
        echo "$SUMMARY"
    elif [ "$WANT_SUMMARY" = 1 ]; then
        echo "0 passed, $(echo $ALL_SCENARIOS | wc -w) failed"
    fi
}

main() {
    local st t0
    local stages=("$@")
    [ ${#stages[@]} -gt 0 ] || stages=(host fetch ioreqd images run)
    for st in "${stages[@]}"; do
        case "$st" in
        host|fetch|ioreqd|images|run) ;;
        *) die "unknown stage '$st'" ;;
        esac
    done
    WANT_SUMMARY=0
    case " ${stages[*]} " in *" run "*) WANT_SUMMARY=1 ;; esac
    trap summary_on_exit EXIT
    for st in "${stages[@]}"; do
        t0=$(now)
        "stage_$st"
        say "stage $st: $(( $(now) - t0 )) s"
    done
}

main "$@"
