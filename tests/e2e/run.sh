#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Real-Xen end-to-end suite: Xen 4.17 (arm64, rebuilt with
# CONFIG_IOREQ_SERVER=y) under qemu-system-aarch64 (TCG), a Debian arm64
# Linux dom0 running the cross-built ioreqd, and Linux domUs whose disks are
# served by it. Everything comes from Debian 12 packages (the 6.12 dom0 of
# vhost-mmap-612 from bookworm-backports).
#
#   tests/e2e/run.sh [STAGE...]
#
# Stages (default: all of them, in this order):
#   host     install the host's Debian packages (root; skipped when present)
#   fetch    arm64 .debs -> $W/sysroot (apt-get download + dpkg -x)
#   xen      rebuild the arm64 hypervisor with CONFIG_IOREQ_SERVER=y
#   ioreqd   cross-build ioreqd with meson against the sysroot
#   images   dom0 and domU initramfs
#   run      boot and run the scenarios; prints `N passed, N failed` last
#
# Environment:
#   E2E_WORK         work and cache directory (default build/e2e)
#   E2E_SCENARIOS    space-separated subset of scenarios (default: all)
#   E2E_TIMEOUT      seconds for the whole QEMU run (default 1800)
#   E2E_BOOT_TIMEOUT seconds a domU may take to boot and report (default 300)
#   E2E_IOREQD       development only: use this arm64 binary instead of the
#                    cross-built daemon/ioreqd
#   E2E_SHELL=1      with `run`: interactive dom0 shell on the terminal
#                    (E2E_SHELL_612=1 too: with the Linux 6.12 dom0)
#   E2E_BPO_MIRROR   Debian mirror for bookworm-backports (Linux 6.12;
#                    default http://deb.debian.org/debian)
#   E2E_X86=0        skip the x86 suite (tests/e2e/x86/run.sh), which a full
#                    default run does after the arm64 one, printing one
#                    combined `N passed, N failed`
#
# Every download and build is cached under $W; delete a piece to redo it.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
E2E=$ROOT/tests/e2e
W=${E2E_WORK:-build/e2e}
case "$W" in /*) ;; *) W=$ROOT/$W ;; esac
mkdir -p "$W"
XENVER=4.17
TRIPLE=aarch64-linux-gnu

say() { printf 'e2e: %s\n' "$*" >&2; }
# shellcheck source=lib.sh
. "$E2E/lib.sh"
die() { say "error: $*"; exit 1; }
now() { date +%s; }

# As root, apt would drop to _apt for downloads into our (root-owned) cache
# and warn that it cannot; download as root directly.
APT_SANDBOX=""
[ "$(id -u)" != 0 ] || APT_SANDBOX="-o APT::Sandbox::User=root"

HOST_PACKAGES="qemu-system-arm gcc-aarch64-linux-gnu libc6-dev-arm64-cross
 binutils-aarch64-linux-gnu make gcc flex bison python3 cpio dpkg-dev
 xz-utils gzip meson ninja-build pkg-config file"

ARM64_PACKAGES="xen-hypervisor-$XENVER-arm64 xen-utils-$XENVER
 xen-utils-common xenstore-utils libxenmisc$XENVER libxenstore4 libxen-dev
 libxencall1 libxendevicemodel1 libxenevtchn1 libxenforeignmemory1
 libxengnttab1 libxentoolcore1 libxentoollog1 libxenhypfs1 libyajl2 libc6
 libuuid1 libfdt1 libext2fs2 libcom-err2 zlib1g libncurses6 libtinfo6
 libgcc-s1 liburing2 liburing-dev busybox-static"

# Debian's qemu-storage-daemon for the vhost-qsd scenario, and the libraries
# it loads that the sysroot lacks: the NEEDED entries of the arm64 binary
# (readelf -d, recursively), mapped to packages with dpkg -S on a Debian 12
# host. Unpacked apart from the sysroot ($W/sysroot-qsd) so that the dom0
# image takes only the binary and the libraries it loads.
QSD_PACKAGES="qemu-system-common libgnutls30 libnuma1 libglib2.0-0
 libfuse3-3 libzstd1 libaio1 libnettle8 libgmp10 libhogweed6 libp11-kit0
 libidn2-0 libunistring2 libtasn1-6 libpcre2-8-0 libffi8"

# ---- host ------------------------------------------------------------------

stage_host() {
    local p missing=""
    for p in $HOST_PACKAGES; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
            grep -q '^install ok installed' || missing="$missing $p"
    done
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        [ "$(id -u)" = 0 ] || die "need root for dpkg --add-architecture arm64"
        dpkg --add-architecture arm64
        missing="$missing (arm64 lists)"
    fi
    if [ -z "$missing" ] &&
        apt-cache show --no-all-versions busybox-static:arm64 >/dev/null 2>&1
    then
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

# The arm64 kernel package Debian's linux-image-arm64 points at.
kernel_package() {
    apt-cache show --no-all-versions linux-image-arm64:arm64 |
        sed -n 's/^Depends: \(linux-image-[^ ,]*\).*/\1/p' | head -n 1
}

stage_fetch() {
    fetch_sysroot
    fetch_qsd
    fetch_k612
}

# Download the arm64 packages $3... into $1 (those not there yet), then
# unpack every .deb of $1 into a fresh $2.
fetch_arm64_debs() { # debdir root package...
    local D=$1 R=$2 p list=""
    shift 2
    mkdir -p "$D"
    for p in "$@"; do
        ls "$D/${p}_"*_arm64.deb >/dev/null 2>&1 || list="$list $p:arm64"
    done
    if [ -n "$list" ]; then
        say "fetch:$list"
        # shellcheck disable=SC2086
        (cd "$D" && apt-get $APT_SANDBOX download -q $list >/dev/null)
    fi
    rm -rf "$R"
    mkdir -p "$R"
    for p in "$D"/*.deb; do
        dpkg -x "$p" "$R"
    done
}

fetch_sysroot() {
    local S=$W/sysroot D=$W/debs k
    if [ -f "$S/.done" ]; then
        say "fetch: sysroot cached"
        return 0
    fi
    k=$(kernel_package)
    [ -n "$k" ] || die "no arm64 kernel package (apt-get update?)"
    # libxen-dev:arm64 is not Multi-Arch and conflicts with the amd64 one:
    # unpack everything into a private sysroot instead of installing.
    # shellcheck disable=SC2086
    fetch_arm64_debs "$D" "$S" $ARM64_PACKAGES "$k"
    echo "${k#linux-image-}" > "$S/.kver"
    touch "$S/.done"
    say "fetch: $(ls "$D" | wc -l) debs, kernel $(cat "$S/.kver")"
}

fetch_qsd() {
    local Q=$W/sysroot-qsd D=$W/debs-qsd
    if [ -f "$Q/.done" ]; then
        say "fetch: qemu-storage-daemon cached"
        return 0
    fi
    # shellcheck disable=SC2086
    fetch_arm64_debs "$D" "$Q" $QSD_PACKAGES
    [ -x "$Q/usr/bin/qemu-storage-daemon" ] ||
        die "qemu-system-common:arm64 has no usr/bin/qemu-storage-daemon"
    touch "$Q/.done"
    say "fetch: qemu-storage-daemon and $(ls "$D" | wc -l) debs"
}

# Debian 12's backported Linux 6.12 for the vhost-mmap-612 boot's dom0: the
# kernel, the headers and kbuild to rebuild xen-privcmd.ko, and the kernel
# source (only drivers/xen/privcmd* is kept). Debian builds 6.12 without
# CONFIG_XEN_PRIVCMD_EVENTFD (it depends on CONFIG_XEN_VIRTIO, which Debian
# leaves off), so its privcmd has no IOCTL_PRIVCMD_IOEVENTFD/IRQFD; the
# images stage rebuilds that one module with it. Headers exist only for the
# newest backport, so the kernel is the one linux-image-arm64 points at
# there. The apt lists are private to $W/k612 (the host's sources are not
# touched).
K612_MIRROR=${E2E_BPO_MIRROR:-http://deb.debian.org/debian}

fetch_k612() {
    local B=$W/k612 A=$W/k612/apt D=$W/k612/debs R=$W/k612/root opts
    local kv mm base ver sver hostarch p list=""
    if [ -f "$B/.done" ]; then
        say "fetch: Linux 6.12 (backports) cached"
        return 0
    fi
    mkdir -p "$A/lists/partial" "$A/parts" "$D"
    hostarch=$(dpkg --print-architecture)
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\n%s\n%s\n%s\n' \
        "$K612_MIRROR" "Components: main" "Architectures: $hostarch arm64" \
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" \
        > "$A/parts/bpo.sources"
    opts="-o Dir::Etc::sourcelist=/dev/null -o Dir::Etc::sourceparts=$A/parts
          -o Dir::State::Lists=$A/lists"
    # shellcheck disable=SC2086
    apt-get $opts update -q >/dev/null
    # shellcheck disable=SC2086
    kv=$(apt-cache $opts show --no-all-versions linux-image-arm64:arm64 |
        sed -n 's/^Depends: linux-image-\([^ ,]*\).*/\1/p' | head -n 1)
    # Any backported series from 6.7 on has the privcmd ioctls (6.12 today).
    mm=$(echo "$kv" | cut -d. -f1,2)
    case "$kv" in
    6.[7-9].*-arm64 | 6.[1-9][0-9].*-arm64 | [7-9].*-arm64) ;;
    *) die "bookworm-backports has no arm64 kernel >= 6.7 ('$kv')" ;;
    esac
    base=${kv%-arm64}
    # shellcheck disable=SC2086
    ver=$(apt-cache $opts show --no-all-versions \
        "linux-image-$kv:arm64" | sed -n 's/^Version: //p')
    # shellcheck disable=SC2086
    sver=$(apt-cache $opts show --no-all-versions "linux-source-$mm" |
        sed -n 's/^Version: //p')
    [ "$ver" = "$sver" ] ||
        die "linux-source-$mm $sver does not match the kernel $ver"
    for p in "linux-image-$kv:arm64" "linux-headers-$kv:arm64" \
        "linux-headers-$base-common" "linux-kbuild-$base:$hostarch" \
        "linux-source-$mm"; do
        ls "$D/${p%%:*}_"*.deb >/dev/null 2>&1 || list="$list $p"
    done
    if [ -n "$list" ]; then
        say "fetch:$list"
        # shellcheck disable=SC2086
        (cd "$D" && apt-get $opts $APT_SANDBOX download -q $list >/dev/null)
    fi
    rm -rf "$R" "$B/src"
    mkdir -p "$R" "$B/src"
    for p in "$D/linux-image-${kv}_"*.deb "$D/linux-headers-"*.deb \
        "$D/linux-kbuild-"*.deb; do
        dpkg -x "$p" "$R"
    done
    # Only the Xen modules are used.
    find "$R/lib/modules/$kv/kernel" -mindepth 1 -maxdepth 1 \
        ! -name drivers -exec rm -rf {} +
    find "$R/lib/modules/$kv/kernel/drivers" -mindepth 1 -maxdepth 1 \
        ! -name xen -exec rm -rf {} +
    # The headers' Makefile includes the common one by its absolute path.
    echo "include $R/usr/src/linux-headers-$base-common/Makefile" \
        > "$R/usr/src/linux-headers-$kv/Makefile"
    dpkg --fsys-tarfile "$D/linux-source-${mm}_"*.deb |
        tar -xO "./usr/src/linux-source-$mm.tar.xz" | xz -dc |
        tar -x -C "$B/src" --strip-components=1 \
            --wildcards "linux-source-$mm/drivers/xen/privcmd*"
    [ -f "$B/src/drivers/xen/privcmd.c" ] ||
        die "no drivers/xen/privcmd.c in linux-source-$mm"
    echo "$kv" > "$B/.kver"
    touch "$B/.done"
    say "fetch: Linux $kv ($ver) from bookworm-backports"
}

# ---- xen -------------------------------------------------------------------

stage_xen() {
    local A=$W/xen-src O=$W/out v got="" opts
    mkdir -p "$O"
    if [ -f "$O/xen" ]; then
        say "xen: hypervisor cached ($O/xen)"
        return 0
    fi
    # Debian's arm64 hypervisor lacks CONFIG_IOREQ_SERVER (EXPERT-only on
    # Arm in 4.17): rebuild it from Debian's own source with Debian's config
    # plus the two options. The deb-src list is private to $A.
    mkdir -p "$A/lists/partial" "$A/parts" "$A/dl"
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        sed 's/^Types:.*/Types: deb-src/' \
            /etc/apt/sources.list.d/debian.sources > "$A/parts/src.sources"
    else
        sed -n 's/^deb /deb-src /p' /etc/apt/sources.list \
            > "$A/parts/src.list"
    fi
    opts="-o Dir::Etc::sourcelist=/dev/null -o Dir::Etc::sourceparts=$A/parts
          -o Dir::State::Lists=$A/lists"
    # shellcheck disable=SC2086
    apt-get $opts update -q >/dev/null
    # Newest first; a security pool may list a version without sources.
    # shellcheck disable=SC2086
    for v in $(apt-cache $opts showsrc xen | sed -n 's/^Version: //p'); do
        if ls "$A/dl/xen_${v#*:}.dsc" >/dev/null 2>&1 ||
            (cd "$A/dl" && apt-get $opts $APT_SANDBOX source -q \
                --download-only \
                "xen=$v" >/dev/null 2>&1); then
            got=${v#*:}
            break
        fi
    done
    [ -n "$got" ] || die "could not download Debian's xen source"
    rm -rf "$A/tree"
    # apt verified the files against the signed archive; dpkg-source's own
    # signature check only warns (no keyring): keep its chatter in a log.
    dpkg-source -x "$A/dl/xen_$got.dsc" "$A/tree" >"$A/build.log" 2>&1 ||
        { tail -n 20 "$A/build.log"; die "dpkg-source failed"; }
    cp "$W/sysroot/boot/xen-$XENVER-arm64.config" "$A/tree/xen/.config"
    printf 'CONFIG_EXPERT=y\nCONFIG_IOREQ_SERVER=y\n' >> "$A/tree/xen/.config"
    (
        cd "$A/tree/xen"
        export XEN_TARGET_ARCH=arm64 CROSS_COMPILE=$TRIPLE-
        make -s olddefconfig >>"$A/build.log" 2>&1
        grep -qx 'CONFIG_IOREQ_SERVER=y' .config ||
            die "CONFIG_IOREQ_SERVER did not stick"
        make -s -j"$(nproc)" >>"$A/build.log" 2>&1 ||
            { tail -n 30 "$A/build.log"; die "Xen build failed"; }
    )
    cp "$A/tree/xen/.config" "$O/xen.config"
    cp "$A/tree/xen/xen" "$O/xen"
    rm -rf "$A/tree"
    say "xen: built $got with CONFIG_IOREQ_SERVER=y"
}

# ---- ioreqd ----------------------------------------------------------------

stage_ioreqd() {
    local S=$W/sysroot B=$W/build-arm64 X=$W/cross-arm64.ini O=$W/out
    mkdir -p "$O"
    sed "s|@SYSROOT@|$S|g" "$E2E/cross-arm64.ini.in" > "$X.new"
    if ! cmp -s "$X.new" "$X"; then
        mv "$X.new" "$X"
        rm -rf "$B"
    else
        rm -f "$X.new"
    fi
    if [ -n "${E2E_IOREQD:-}" ]; then
        # Development only: serve the domains with another binary.
        say "ioreqd: using E2E_IOREQD=$E2E_IOREQD instead of the cross build"
        cp "$E2E_IOREQD" "$O/ioreqd"
    else
        if [ ! -f "$B/build.ninja" ]; then
            meson setup "$B" "$ROOT" --cross-file "$X" -Dtests=disabled \
                -Dxen=enabled >"$W/meson-setup.log" 2>&1 ||
                { tail -n 30 "$W/meson-setup.log"; rm -rf "$B";
                  die "meson setup failed"; }
        fi
        ninja -C "$B" -j"$(nproc)" >"$W/ninja.log" 2>&1 ||
            { tail -n 40 "$W/ninja.log"; die "cross build failed"; }
        [ -x "$B/daemon/ioreqd" ] ||
            die "the cross build produced no daemon/ioreqd"
        cp "$B/daemon/ioreqd" "$O/ioreqd"
    fi
    file -b "$O/ioreqd" | grep -q 'ARM aarch64' ||
        die "$O/ioreqd is not an arm64 binary"
    # Guest and dom0 I/O checker: static, so the domU needs no libc.
    $TRIPLE-gcc -static -O2 -Wall -Wextra -D_GNU_SOURCE \
        -o "$O/iq-e2e-io" "$E2E/guest/iq-e2e-io.c"
    # The vhost-user test peer of vhost-mmap-612 (XEN_MMAP, foreign maps).
    $TRIPLE-gcc -std=c11 -O2 -Wall -Wextra -I"$S/usr/include" \
        -o "$O/iq-vu-rng" "$E2E/dom0/iq-vu-rng.c" \
        -L"$S/usr/lib/aarch64-linux-gnu" -lxenforeignmemory \
        -Wl,-rpath-link,"$S/usr/lib/aarch64-linux-gnu" \
        -Wl,-rpath-link,"$S/lib/aarch64-linux-gnu"
    say "ioreqd: $(file -b "$O/ioreqd" | cut -d, -f1-2)"
}

# ---- images ----------------------------------------------------------------

# Copy kernel modules (uncompressed .ko in Debian 12) flat into $2.
copy_modules() { # moddir dest name...
    local M=$1 D=$2 m f
    shift 2
    mkdir -p "$D"
    for m in "$@"; do
        f=$(find "$M" -name "$m.ko" | head -n 1)
        [ -n "$f" ] || die "kernel module $m.ko not found"
        cp "$f" "$D/"
    done
}

# Copy qemu-storage-daemon into the dom0 tree $1 with the libraries it
# loads (NEEDED, recursively) that the tree does not hold yet.
copy_qsd() { # dom0-root
    local R=$1 Q=$W/sysroot-qsd L=$1/usr/lib/aarch64-linux-gnu so f d todo
    local seen=" "
    [ -f "$Q/.done" ] || die "run the fetch stage first (qemu-storage-daemon)"
    needed() { $TRIPLE-readelf -d "$1" |
        sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'; }
    cp "$Q/usr/bin/qemu-storage-daemon" "$R/usr/bin/"
    todo=$(needed "$Q/usr/bin/qemu-storage-daemon")
    while [ -n "$todo" ]; do
        # shellcheck disable=SC2086
        set -- $todo
        so=$1
        shift
        todo="$*"
        case "$seen" in *" $so "*) continue ;; esac
        seen="$seen$so "
        if [ -e "$R/lib/aarch64-linux-gnu/$so" ] || [ -e "$L/$so" ] ||
            [ -e "$R/lib/$so" ]; then
            continue
        fi
        f=""
        for d in "$Q/lib/aarch64-linux-gnu" "$Q/usr/lib/aarch64-linux-gnu"; do
            [ -e "$d/$so" ] && { f=$d/$so; break; }
        done
        [ -n "$f" ] || die "qemu-storage-daemon needs $so: not in $Q"
        cp -L "$f" "$L/$so"
        todo="$todo $(needed "$f")"
    done
}

# Debian's 6.12 xen-privcmd.ko rebuilt with CONFIG_XEN_PRIVCMD_EVENTFD=y
# (the ioeventfd/irqfd ioctls), out of tree against Debian's own headers,
# kbuild and source of that kernel (same compiler: Debian's
# gcc-aarch64-linux-gnu 12). Unsigned: Debian's kernel loads it (no
# MODULE_SIG_FORCE) and marks itself tainted.
build_privcmd_612() { # dest.ko
    local B=$W/k612 K kv Mo=$W/k612/privcmd
    kv=$(cat "$B/.kver")
    K=$B/root/usr/src/linux-headers-$kv
    if [ -f "$Mo/xen-privcmd.ko" ]; then
        cp "$Mo/xen-privcmd.ko" "$1"
        return 0
    fi
    rm -rf "$Mo"
    mkdir -p "$Mo"
    cp "$B/src/drivers/xen/"privcmd* "$Mo/"
    printf '%s\n' 'obj-m := xen-privcmd.o' \
        'xen-privcmd-y := privcmd.o privcmd-buf.o' \
        'ccflags-y := -DCONFIG_XEN_PRIVCMD_EVENTFD=1' > "$Mo/Kbuild"
    # No BTF for the module (pahole is not needed).
    make -C "$K" M="$Mo" ARCH=arm64 CROSS_COMPILE=$TRIPLE- \
        CONFIG_DEBUG_INFO_BTF_MODULES= modules >"$Mo/build.log" 2>&1 ||
        { tail -n 20 "$Mo/build.log"; die "xen-privcmd.ko build failed"; }
    $TRIPLE-strip --strip-debug "$Mo/xen-privcmd.ko"
    $TRIPLE-nm "$Mo/xen-privcmd.ko" | grep -q irqfd_wakeup ||
        die "the rebuilt xen-privcmd.ko has no irqfd support"
    cp "$Mo/xen-privcmd.ko" "$1"
    say "images: xen-privcmd.ko for $kv rebuilt with XEN_PRIVCMD_EVENTFD"
}

# The partial device tree (xl device_tree=) of vhost-mmap-612's guest: a
# virtio-mmio node under /passthrough, which libxl 4.17 copies into the
# guest's tree (it makes nodes only for virtio disks itself). The
# interrupt parent is the guest GIC's fixed phandle 65000; the SPI is
# edge-rising like libxl's virtio nodes. Written as a flattened device
# tree (version 17) without dtc.
make_rng_dtb() { # base size irq out
    python3 - "$@" <<'PY'
import struct
import sys

base, size, irq, out = (int(sys.argv[1], 0), int(sys.argv[2], 0),
                        int(sys.argv[3]), sys.argv[4])
strs, offs, st = bytearray(), {}, bytearray()


def pad(b):
    return b + b"\0" * (-len(b) % 4)


def node(name):
    st.extend(struct.pack(">I", 1) + pad(name.encode() + b"\0"))


def end():
    st.extend(struct.pack(">I", 2))


def prop(name, val=b""):
    if name not in offs:
        offs[name] = len(strs)
        strs.extend(name.encode() + b"\0")
    st.extend(struct.pack(">III", 3, len(val), offs[name]) + pad(val))


def cells(*c):
    return struct.pack(">%dI" % len(c), *c)


node("")
prop("#address-cells", cells(2))
prop("#size-cells", cells(2))
node("passthrough")
prop("compatible", b"simple-bus\0")
prop("ranges")
prop("#address-cells", cells(2))
prop("#size-cells", cells(2))
node("virtio@%x" % base)
prop("compatible", b"virtio,mmio\0")
prop("reg", cells(base >> 32, base & 0xffffffff, size >> 32,
                  size & 0xffffffff))
prop("interrupt-parent", cells(65000))
prop("interrupts", cells(0, irq - 32, 1))
prop("dma-coherent")
end()
end()
end()
st.extend(struct.pack(">I", 9))
rsv = b"\0" * 16
o_st = 40 + len(rsv)
o_str = o_st + len(st)
hdr = struct.pack(">10I", 0xd00dfeed, o_str + len(strs), o_st, o_str, 40,
                  17, 16, 0, len(strs), len(st))
with open(out, "wb") as f:
    f.write(hdr + rsv + bytes(st) + bytes(strs))
PY
}

# The vhost-mmap-612 device: the first virtio-mmio slot and SPI of Xen's
# guest layout (GUEST_VIRTIO_MMIO_BASE, GUEST_VIRTIO_MMIO_SPI_FIRST), free
# because that guest has no virtio disk.
RNG_BASE=0x2000000
RNG_IRQ=33

stage_images() {
    local S=$W/sysroot O=$W/out KV M U R K6 M6 X6
    KV=$(cat "$S/.kver")
    M=$S/lib/modules/$KV/kernel
    [ -x "$O/ioreqd" ] || die "run the ioreqd stage first"
    # Debian's arm64 vmlinuz is a plain, uncompressed Image.
    cp "$S/boot/vmlinuz-$KV" "$O/Image"

    # domU: busybox, the I/O checker, virtio-mmio/blk and ext4 (which also
    # mounts ext2 in Debian's kernel: CONFIG_EXT4_USE_FOR_EXT2=y).
    U=$W/rootfs-domu
    rm -rf "$U"
    mkdir -p "$U"/{bin,dev,proc,sys,mnt,tmp,lib/modules}
    cp "$S/bin/busybox" "$O/iq-e2e-io" "$U/bin/"
    cp "$E2E/guest/domu-init" "$U/init"
    chmod 755 "$U/init"
    copy_modules "$M" "$U/lib/modules" virtio_mmio virtio_blk crc16 \
        mbcache jbd2 crc32c_generic ext4 virtio-rng
    (cd "$U" && find . | cpio -o -H newc --quiet | gzip -1) \
        > "$O/domu-initrd.gz"

    # dom0: busybox, Xen tools and libraries, ioreqd and its libraries, the
    # Xen modules, the scenario scripts and the domU kernel + initramfs.
    R=$W/rootfs-dom0
    rm -rf "$R"
    mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,usr/lib,lib,etc/xen,opt/e2e} \
        "$R"/{domu,proc,sys,dev,run,tmp,var/lib,var/log}
    cp -a "$S/lib/aarch64-linux-gnu" "$S/lib/ld-linux-aarch64.so.1" "$R/lib/"
    mkdir -p "$R/usr/lib/aarch64-linux-gnu"
    cp -a "$S"/usr/lib/aarch64-linux-gnu/*.so* "$R/usr/lib/aarch64-linux-gnu/"
    cp -a "$S/usr/lib/xen-$XENVER" "$R/usr/lib/"
    cp -a "$S"/usr/bin/xenstore* "$R/usr/bin/"
    cp -a "$S/etc/xen/." "$R/etc/xen/"
    cp "$S/bin/busybox" "$R/bin/"
    cp "$O/ioreqd" "$R/usr/sbin/ioreqd"
    copy_qsd "$R"
    cp "$O/iq-e2e-io" "$R/opt/e2e/"
    cp "$E2E/dom0/scenarios.sh" "$R/opt/e2e/"
    cp "$E2E/dom0/init" "$R/init"
    chmod 755 "$R/init"
    copy_modules "$M" "$R/lib/modules/$KV/kernel/drivers/xen" xen-evtchn \
        xen-privcmd xen-gntdev xen-gntalloc
    mkdir -p "$R/lib/modules/$KV/kernel/drivers/xen/xenfs"
    mv "$R/lib/modules/$KV/kernel/drivers/xen/xenfs.ko" \
        "$R/lib/modules/$KV/kernel/drivers/xen/xenfs/" 2>/dev/null ||
        copy_modules "$M" "$R/lib/modules/$KV/kernel/drivers/xen/xenfs" xenfs
    # vhost-mmap-612: the 6.12 dom0's Xen modules (xz in Debian's package:
    # stored uncompressed for busybox insmod; privcmd rebuilt) next to the
    # 6.1 ones, the vhost-user test peer and the guest's partial tree.
    [ -f "$W/k612/.done" ] || die "run the fetch stage first (Linux 6.12)"
    K6=$(cat "$W/k612/.kver")
    M6=$W/k612/root/lib/modules/$K6/kernel/drivers/xen
    X6=$R/lib/modules/$K6/kernel/drivers/xen
    mkdir -p "$X6/xenfs"
    for m in xen-evtchn xen-gntdev xen-gntalloc xenfs/xenfs; do
        [ -f "$M6/$m.ko.xz" ] || die "no $m.ko.xz in Linux $K6"
        xz -dc "$M6/$m.ko.xz" > "$X6/$m.ko"
    done
    build_privcmd_612 "$X6/xen-privcmd.ko"
    cp "$W/k612/root/boot/vmlinuz-$K6" "$O/Image-612"
    cp "$O/iq-vu-rng" "$R/opt/e2e/"
    make_rng_dtb $RNG_BASE 0x200 $RNG_IRQ "$R/opt/e2e/vurng.dtb"
    cp "$O/Image" "$R/domu/Image"
    cp "$O/domu-initrd.gz" "$R/domu/initrd.gz"
    (cd "$R" && find . | cpio -o -H newc --quiet) > "$O/dom0-initrd.cpio"
    say "images: dom0 $(du -h "$O/dom0-initrd.cpio" | cut -f1)," \
        "domU $(du -h "$O/domu-initrd.gz" | cut -f1)"
}

# ---- run -------------------------------------------------------------------

ALL_SCENARIOS="pattern ext2 smp destroy reboot ro vhost-qsd vhost-mmap-612"
# Scenarios that need the Linux 6.12 dom0: a second boot of the same Xen
# and dom0 initramfs with that kernel.
K612_SCENARIOS="vhost-mmap-612"
SUMMARY_DONE=0

# One boot of Xen + dom0 under QEMU; the log has time stamps. The dom0
# kernel is $DOM0_IMAGE (default: Debian 12's, out/Image).
boot() { # logfile scenario-list
    local O=$W/out log=$1 list=$2 t0 l n
    local dom0=${DOM0_IMAGE:-$W/out/Image}
    local qemu=(qemu-system-aarch64
        -machine virt,virtualization=on,gic-version=3 -cpu cortex-a57
        -smp 2 -m 2048 -display none -monitor none -nic none -no-reboot
        -kernel "$O/xen"
        -append "console=dtuart dtuart=/pl011@9000000 dom0_mem=512M $(
            )dom0_max_vcpus=2 bootscrub=0 vwfi=native ${E2E_XEN_ARGS:-}"
        -device "guest-loader,addr=0x50000000,kernel=$dom0,bootargs=console=hvc0 earlycon=xen rdinit=/init loglevel=5 iqe2e=$list iqboot=${E2E_BOOT_TIMEOUT:-300}"
        -device "guest-loader,addr=0x60000000,initrd=$O/dom0-initrd.cpio")
    if [ "$list" = shell ]; then
        exec "${qemu[@]}" -serial mon:stdio
    fi
    t0=$(date +%s%N)
    set +e
    timeout "${E2E_TIMEOUT:-1800}" "${qemu[@]}" -serial stdio </dev/null \
        2>&1 | while IFS= read -r l; do
            n=$(( ($(date +%s%N) - t0) / 10000000 ))
            printf '[%5d.%02d] %s\n' $((n / 100)) $((n % 100)) "$l"
        done > "$log"
    local rc=${PIPESTATUS[0]}
    set -e
    return "$rc"
}

stage_run() {
    local list s l61="" l612="" logs=""
    list=${E2E_SCENARIOS:-$ALL_SCENARIOS}
    mkdir -p "$W/logs"
    [ -f "$W/out/dom0-initrd.cpio" ] || die "run the images stage first"
    if [ "${E2E_SHELL:-0}" = 1 ]; then
        [ "${E2E_SHELL_612:-0}" = 1 ] && DOM0_IMAGE=$W/out/Image-612
        boot /dev/null shell
    fi
    for s in $list; do
        case " $K612_SCENARIOS " in
        *" $s "*) l612="$l612 $s" ;;
        *) l61="$l61 $s" ;;
        esac
    done
    if [ -n "$l61" ]; then
        DOM0_IMAGE=$W/out/Image
        # shellcheck disable=SC2086
        e2e_boot_retrying "$(echo $l61 | tr ' ' ':')" "scenarios:$l61" run
        logs="$logs $E2E_LOG"
    fi
    if [ -n "$l612" ]; then
        DOM0_IMAGE=$W/out/Image-612
        # shellcheck disable=SC2086
        e2e_boot_retrying "$(echo $l612 | tr ' ' ':')" \
            "Linux 6.12 dom0, scenarios:$l612" run-612
        logs="$logs $E2E_LOG"
    fi
    [ -n "$logs" ] || die "no scenario to run"
    # shellcheck disable=SC2086
    cat $logs > "$W/logs/all.log"
    grep -E 'E2E-(RESULT|TIME)' "$W/logs/all.log" | sed 's/^\[[^]]*\] //' |
        tr -d '\r' >&2 || true
    # shellcheck disable=SC2086
    e2e_collect "$W/logs/all.log" $list
}

# ---- main ------------------------------------------------------------------

summary_on_exit() {
    local n
    if [ "$SUMMARY_DONE" = 1 ]; then
        echo "$SUMMARY"
    elif [ "$WANT_SUMMARY" = 1 ]; then
        n=$(echo ${E2E_SCENARIOS:-$ALL_SCENARIOS} | wc -w)
        # The x86 suite's four scenarios did not run either.
        [ "$WANT_X86" = 0 ] || n=$((n + 4))
        echo "0 passed, $n failed"
    fi
}

# The x86 suite (tests/e2e/x86/run.sh, all of its stages) after the arm64
# run; its `N passed, N failed` is added to the arm64 one.
run_x86() {
    local out=$W/x86-suite.out last xp xf ap af rc=0
    say "x86: tests/e2e/x86/run.sh"
    "$E2E/x86/run.sh" > "$out" || rc=$?
    head -n -1 "$out"
    last=$(tail -n 1 "$out")
    case "$last" in
    *" passed, "*" failed") xp=${last%% passed*}; xf=${last#*, }
        xf=${xf%% failed*} ;;
    *) xp=0; xf=4 ;;
    esac
    ap=${SUMMARY%% passed*}
    af=${SUMMARY#*, }
    af=${af%% failed*}
    SUMMARY="$((ap + xp)) passed, $((af + xf)) failed"
    return "$rc"
}

main() {
    local st t0
    local stages=("$@")
    [ ${#stages[@]} -gt 0 ] || stages=(host fetch xen ioreqd images run)
    for st in "${stages[@]}"; do
        case "$st" in
        host|fetch|xen|ioreqd|images|run) ;;
        *) die "unknown stage '$st'" ;;
        esac
    done
    WANT_SUMMARY=0
    case " ${stages[*]} " in *" run "*) WANT_SUMMARY=1 ;; esac
    # The x86 suite too, after a full default run (E2E_X86=0 skips it).
    WANT_X86=0
    [ "${E2E_X86:-1}" != 1 ] || [ $# -gt 0 ] || WANT_X86=1
    trap summary_on_exit EXIT
    local rc=0
    for st in "${stages[@]}"; do
        t0=$(now)
        if [ "$st" = run ] && [ "$WANT_X86" = 1 ]; then
            "stage_$st" || rc=$?
        else
            "stage_$st"
        fi
        say "stage $st: $(( $(now) - t0 )) s"
    done
    if [ "$WANT_X86" = 1 ]; then
        run_x86 || rc=1
    fi
    return "$rc"
}

main "$@"
