#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# dom0 side of the x86 end-to-end scenarios: one HVM domain whose LSI
# 53C895A at 00:05.0 (two disks: target 0 and 1) is served by ioreqd as a
# secondary IOREQ server; qemu-xen is the primary device model. Prints one
# "E2E-RESULT: <name> PASS|FAIL [detail]" line per scenario:
#   x86-seabios    SeaBIOS found the controller and listed both disks
#   x86-sym53c8xx  Linux's sym53c8xx bound 00:05.0, both disks appeared
#                  with no bus reset or error recovery during the probe
#   x86-pattern    O_DIRECT seeded pattern on target 0; dom0 checks the image
#   x86-ext2       ext2 on target 1: fill, remount, checksums; dom0 sees ext2
BOOT_TIMEOUT=$(sed -n 's/.*iqboot=\([0-9]*\).*/\1/p' /proc/cmdline)
BOOT_TIMEOUT=${BOOT_TIMEOUT:-400}
# Development: sym53c8xx module parameters, e.g. iqsym=verb=2 (dom0 cmdline).
IQ_SYM=$(sed -n 's/.*iqsym=\([^ ]*\).*/\1/p' /proc/cmdline)
CON=/var/log/xen/console
IO=/opt/e2e/iq-e2e-io
SIG=IOREQD-X86-E2E-SIGNATURE
SEED=8086
MiB=1048576
N=iq-x86
IMG_A=/domu/x86-a.img
IMG_B=/domu/x86-b.img
ILOG=/var/log/ioreqd-x86.log
PIDF=/run/ioreqd-x86.pid

up() { cut -d' ' -f1 /proc/uptime; }
secs() { cut -d. -f1 /proc/uptime; }
log() { echo "E2E: $*"; }
result() { echo "E2E-RESULT: $1 $2${3:+ ($3)}"; }
all_fail() { # detail
    for s in x86-seabios x86-sym53c8xx x86-pattern x86-ext2; do
        result $s FAIL "$1"
    done
}
console() { tr -d '\r' < "$CON/guest-$N.log" 2>/dev/null; }
guest_result() { # check -> "PASS ..." / "FAIL ..." / ""
    console | grep "IQ-GUEST: $1 \(PASS\|FAIL\)" | tail -n 1 |
        sed "s/.*IQ-GUEST: $1 //"
}
state() { xl list "$N" 2>/dev/null | awk 'NR == 2 {print $5}'; }

mkimg() { # path MiB
    rm -f "$1"
    dd if=/dev/zero of="$1" bs=1M count="$2" 2>/dev/null
    printf '%s' "$SIG" | dd of="$1" conv=notrunc 2>/dev/null
}

mkimg $IMG_A 16
mkimg $IMG_B 32
cat > /etc/xen/$N.cfg <<CFG
name = "$N"
type = "hvm"
kernel = "/domu/vmlinuz"
ramdisk = "/domu/initrd.gz"
extra = "console=ttyS0 rdinit=/init loglevel=1 iqsig=$SIG iqseed=$SEED ${IQ_SYM:+iqsym=$IQ_SYM}"
serial = "file:$CON/guest-$N.log"
memory = 256
vcpus = 1
vga = "none"
nographic = 1
vnc = 0
sdl = 0
device_model_version = "qemu-xen"
device_model_override = "/usr/libexec/xen-qemu-system-i386"
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"
CFG

# Created paused: ioreqd claims 00:05.0 before hvmloader enumerates PCI.
t0=$(secs)
if ! xl create -p /etc/xen/$N.cfg >/tmp/xl-create.log 2>&1; then
    cat /tmp/xl-create.log
    tail -n 20 /var/log/xen/qemu-dm-$N.log 2>/dev/null
    all_fail "xl create"
    exit 0
fi
D=$(xl domid $N)
log "xl create -p took $(($(secs) - t0)) s, domid $D"
ioreqd --domid "$D" --arch x86 --log-level debug --pidfile $PIDF \
    --device "lsi53c895a,bdf=00:05.0,disk=$IMG_A,disk=$IMG_B" \
    >$ILOG 2>&1 &
IPID=$!
end=$(($(secs) + 60))
while [ ! -s $PIDF ] && kill -0 $IPID 2>/dev/null && [ "$(secs)" -lt $end ]
do
    sleep 0.2
done
if [ ! -s $PIDF ]; then
    log "ioreqd not ready:"
    cat $ILOG
    xl destroy $N
    all_fail "ioreqd did not start"
    exit 0
fi
log "ioreqd pid $IPID ready at $(up) s"
xl unpause $N
t0=$(secs)
log "unpaused at $(up) s"

# Wait for the guest to finish; report progress so that a hang (SeaBIOS
# polls the controller without a timeout) shows where it stopped.
end=$(($(secs) + BOOT_TIMEOUT))
last=$(secs)
done_=0
while [ "$(secs)" -lt $end ]; do
    if console | grep -q IQ-GUEST-DONE; then
        done_=1
        break
    fi
    if ! xl domid $N >/dev/null 2>&1; then
        break
    fi
    if [ $(($(secs) - last)) -ge 30 ]; then
        last=$(secs)
        log "guest state at +$((last - t0)) s: xl '$(state)'," \
            "console $(console | wc -l) lines, last:" \
            "'$(console | tail -n 1 | cut -c1-100)'," \
            "ioreqd $(kill -0 $IPID 2>/dev/null && echo alive || echo gone)"
        kill -USR1 $IPID 2>/dev/null
        sleep 0.5
        grep 'stats: ioreq ' $ILOG | tail -n 1 | sed 's/^/IOREQD: /'
        console | grep -E 'IQ-(GUEST: waiting|DMESG)' | tail -n 5
    fi
    sleep 1
done
log "guest finished=$done_ after $(($(secs) - t0)) s"
if [ $done_ = 0 ]; then
    log "HANG: guest did not report within $BOOT_TIMEOUT s;" \
        "xl state '$(state)'"
    xl list
    echo "----- xl dmesg (tail) -----"
    xl dmesg | tail -n 60
    echo "----- ioreqd log (tail) -----"
    tail -n 60 $ILOG
fi
echo "----- guest console -----"
console | tail -n 80
echo "----- end -----"

# Wait until the domain is gone (poweroff -f -> destroy), then ioreqd.
end=$(($(secs) + 60))
[ $done_ = 1 ] || end=0
while xl domid $N >/dev/null 2>&1 && [ "$(secs)" -lt $end ]; do
    sleep 0.5
done
if xl domid $N >/dev/null 2>&1; then
    log "domain still there: destroying"
    xl destroy $N
fi
end=$(($(secs) + 20))
while kill -0 $IPID 2>/dev/null && [ "$(secs)" -lt $end ]; do
    sleep 0.5
done
if kill -0 $IPID 2>/dev/null; then
    log "ioreqd still running 20 s after the domain went away: SIGTERM"
    xl list
    kill $IPID
    sleep 2
    log "after SIGTERM:"
    xl list
fi
wait $IPID
log "ioreqd exit status $?"
grep -v -i 'unclaimed ioreq' $ILOG | tail -n 30 | sed 's/^/IOREQD: /'
log "ioreqd: $(grep -c -i 'unclaimed ioreq' $ILOG) unclaimed-ioreq lines"

# 1. SeaBIOS: its debug output (port 0xe9) is in the Xen console ring.
xl dmesg > /tmp/xl-dmesg.log
grep -i -E 'lsi|blksize|drive' /tmp/xl-dmesg.log | sed 's/^/SEABIOS: /'
if ! grep -q 'found lsi53c895a at 00:05.0' /tmp/xl-dmesg.log; then
    result x86-seabios FAIL "no 'found lsi53c895a' in xl dmesg"
elif [ "$(grep -i 'lsi' /tmp/xl-dmesg.log | grep -c 'blksize=512')" != 2 ]
then
    result x86-seabios FAIL "SeaBIOS did not list both disks"
else
    result x86-seabios PASS \
        "$(grep -i lsi /tmp/xl-dmesg.log | grep blksize= | head -n 1 |
            sed 's/^(d[0-9]*) //' | tr -d '\r')"
fi

# 2. driver.
r=$(guest_result sym53c8xx)
lsi_stats=$(grep -o 'sel_timeouts=[0-9]* bus_resets=[0-9]* chip_resets=[0-9]*' \
    $ILOG | tail -n 1)
case "$r" in
PASS*) result x86-sym53c8xx PASS "${r#PASS }; ioreqd: ${lsi_stats:-no stats}" ;;
"") result x86-sym53c8xx FAIL "no guest result" ;;
*) result x86-sym53c8xx FAIL "${r#FAIL }" ;;
esac

# 3. pattern: the guest's check, then dom0 reads the image itself.
r=$(guest_result pattern)
got=$(head -c ${#SIG} $IMG_A)
case "$r" in
PASS*)
    if [ "$got" != "$SIG" ]; then
        result x86-pattern FAIL "image signature gone"
    elif ! $IO verify $IMG_A $SEED $MiB $((4 * MiB)); then
        result x86-pattern FAIL "dom0 image check"
    else
        result x86-pattern PASS "guest and dom0 checks"
    fi
    ;;
"") result x86-pattern FAIL "no guest result" ;;
*) result x86-pattern FAIL "${r#FAIL }" ;;
esac

# 4. ext2: the guest's check, then the superblock magic 0xef53 at 1080.
r=$(guest_result ext2)
magic=$(dd if=$IMG_B bs=1 skip=1080 count=2 2>/dev/null | od -An -tx1 |
    tr -d ' \n')
case "$r" in
PASS*)
    if [ "$magic" = 53ef ]; then
        result x86-ext2 PASS "${r#PASS }, dom0 sees the ext2 superblock"
    else
        result x86-ext2 FAIL "dom0: no ext2 magic in the image ($magic)"
    fi
    ;;
"") result x86-ext2 FAIL "no guest result" ;;
*) result x86-ext2 FAIL "${r#FAIL }" ;;
esac
