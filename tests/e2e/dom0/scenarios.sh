#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# dom0 side of the end-to-end scenarios. Usage: scenarios.sh a:b:c
# Scenarios: pattern ext2 smp (one domain, two disks, two vCPUs), destroy,
# reboot, ro, vhost-qsd (a disk served by qemu-storage-daemon),
# vhost-mmap-612 (booted with the Linux 6.12 dom0: a virtio-rng served by a
# vhost-user daemon in mmap mode with the privcmd offload). Prints one
# "E2E-RESULT: <name> PASS|FAIL [detail]" line per scenario and
# "E2E-TIME: <name> <seconds>" lines.
#
# ioreqd is started by the launcher (dom0 init) as libxl creates each
# domain's virtio_disk backend nodes. The domU checks its own I/O and prints
# IQ-GUEST lines on its console; dom0 checks the image files afterwards.

BOOT_TIMEOUT=$(sed -n 's/.*iqboot=\([0-9]*\).*/\1/p' /proc/cmdline)
BOOT_TIMEOUT=${BOOT_TIMEOUT:-300}
CON=/var/log/xen/console
IO=/opt/e2e/iq-e2e-io
SIG=IOREQD-E2E-SIGNATURE
MiB=1048576
BE=/local/domain/0/backend/virtio_disk

up() { cut -d' ' -f1 /proc/uptime; }
secs() { cut -d. -f1 /proc/uptime; }
log() { echo "E2E: $*"; }
result() { # name PASS|FAIL detail
    echo "E2E-RESULT: $1 $2${3:+ ($3)}"
}

# The guest console (xenconsoled appends per domain name).
console() { cat "$CON/guest-$1.log" 2>/dev/null; }

# Deadlines use the clock: under TCG a loop iteration can take long.
wait_console() { # name pattern seconds
    local end=$(($(secs) + $3))
    while [ "$(secs)" -lt $end ]; do
        grep -q "$2" "$CON/guest-$1.log" 2>/dev/null && return 0
        sleep 0.5
    done
    grep -q "$2" "$CON/guest-$1.log" 2>/dev/null
}

# "PASS ..." / "FAIL ..." from the guest's "IQ-GUEST: <check> ..." line.
guest_result() { # name check
    grep "IQ-GUEST: $2 \(PASS\|FAIL\)" "$CON/guest-$1.log" 2>/dev/null |
        tail -n 1 | sed "s/.*IQ-GUEST: $2 //; s/\r$//"
}

wait_gone() { # name seconds
    local end=$(($(secs) + $2))
    while xl domid "$1" >/dev/null 2>&1 && [ "$(secs)" -lt $end ]; do
        sleep 0.5
    done
    ! xl domid "$1" >/dev/null 2>&1
}

ioreqd_pid() { # domid
    local p c
    for p in /proc/[0-9]*; do
        c=$({ tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null)
        case "$c" in
        *ioreqd*"--domid $1 "*) echo "${p#/proc/}" ;;
        esac
    done
}

# Everything of domain $1 is gone: daemon, xenstore nodes, the domain
# itself (a dom0 process still holding a foreign mapping would keep it
# as a zombie "(null)" domain in `xl list`). Echoes what is left.
leftovers() { # domid
    local left="" end=$(($(secs) + 30))
    while :; do
        left=""
        [ -z "$(ioreqd_pid "$1")" ] || left="$left ioreqd-running"
        xenstore-exists "$BE/$1" 2>/dev/null && left="$left backend-node"
        xenstore-exists "/local/domain/$1" 2>/dev/null &&
            left="$left domain-node"
        [ "$(xl list | wc -l)" = 2 ] || left="$left domain($(xl list |
            tail -n +3 | awk '{print $1}' | tr '\n' ' '))"
        [ -z "$left" ] && break
        [ "$(secs)" -lt $end ] || break
        sleep 0.5
    done
    echo "$left"
}

daemon_exit() { # domid: the launcher's log line about its child's exit
    grep "ioreqd for domain $1 " /var/log/ioreqd.log | tail -n 1
}

mkimg() { # path MiB: zeroed image with the host's signature at offset 0
    rm -f "$1"
    dd if=/dev/zero of="$1" bs=1M count="$2" 2>/dev/null
    printf '%s' "$SIG" | dd of="$1" conv=notrunc 2>/dev/null
}

mkcfg() { # name test seed vcpus on_reboot disk...
    local n=$1 t=$2 s=$3 v=$4 r=$5 d sep=""
    shift 5
    {
        echo "name = \"$n\""
        echo 'kernel = "/domu/Image"'
        echo 'ramdisk = "/domu/initrd.gz"'
        echo "extra = \"console=hvc0 rdinit=/init loglevel=4 iqtest=$t" \
            "iqsig=$SIG iqseed=$s\""
        echo 'memory = 192'
        echo "vcpus = $v"
        echo 'on_poweroff = "destroy"'
        echo "on_reboot = \"$r\""
        echo 'on_crash = "destroy"'
        printf 'disk = [ '
        for d in "$@"; do
            printf '%s"%s"' "$sep" "$d"
            sep=", "
        done
        echo ' ]'
    } > "/etc/xen/$n.cfg"
}

vdisk() { # vdev target [ro]
    echo "format=raw, vdev=$1, access=${3:-rw}, specification=virtio, target=$2"
}

create() { # name -> 0 when xl create succeeded
    local ct0
    rm -f "$CON/guest-$1.log"
    ct0=$(up)
    if xl create "/etc/xen/$1.cfg" > "/tmp/xl-$1.log" 2>&1; then
        log "xl create $1 took $ct0 -> $(up) s, domid $(xl domid "$1")"
        return 0
    fi
    log "xl create $1 FAILED ($ct0 -> $(up) s):"
    cat "/tmp/xl-$1.log"
    tail -n 20 /var/log/ioreqd.log
    return 1
}

show_console() {
    echo "----- console of $1 -----"
    console "$1" | tail -n "${2:-40}"
    echo "----- end -----"
}

# -- scenarios 1-3: one domain, two disks, two vCPUs --------------------------

s_basic() { # which of pattern ext2 smp were asked for
    want=$1
    mkimg /domu/basic-a.img 16
    mkimg /domu/basic-b.img 32
    mkcfg iq-basic basic 4242 2 destroy \
        "$(vdisk xvda /domu/basic-a.img)" "$(vdisk xvdb /domu/basic-b.img)"
    t0=$(secs)
    pr="FAIL xl create failed" er="$pr" sr="$pr"
    if create iq-basic; then
        dom=$(xl domid iq-basic)
        if wait_console iq-basic "IQ-GUEST-DONE" "$BOOT_TIMEOUT"; then
            pr=$(guest_result iq-basic pattern)
            er=$(guest_result iq-basic ext2)
            sr=$(guest_result iq-basic smp)
        else
            pr="FAIL guest did not finish" er="$pr" sr="$pr"
        fi
        show_console iq-basic
        wait_gone iq-basic 60 || xl destroy iq-basic
        left=$(leftovers "$dom")
        [ -z "$left" ] || log "after iq-basic:$left"
        # dom0 checks the image the guest wrote through ioreqd.
        case "$pr" in
        PASS*)
            if ! $IO verify /domu/basic-a.img 4242 $MiB $((4 * MiB)); then
                pr="FAIL dom0 sees a different pattern in the image"
            elif [ "$(head -c ${#SIG} /domu/basic-a.img)" != "$SIG" ]; then
                pr="FAIL signature overwritten"
            fi
            ;;
        esac
    fi
    el=$(($(secs) - t0))
    for s in pattern ext2 smp; do
        case ",$want," in *",$s,"*) ;; *) continue ;; esac
        case $s in
        pattern) r=$pr ;;
        ext2) r=$er ;;
        smp) r=$sr ;;
        esac
        [ -n "$r" ] || r="FAIL no guest result"
        result $s "${r%% *}" "$(echo "$r" | cut -s -d' ' -f2-)"
        echo "E2E-TIME: $s $el"
    done
    rm -f /domu/basic-a.img /domu/basic-b.img
}

# -- scenario 4: xl destroy during I/O, then a new domain ----------------------

s_destroy() {
    t0=$(secs)
    mkimg /domu/destroy.img 16
    mkcfg iq-destroy loop 77 1 destroy "$(vdisk xvda /domu/destroy.img)"
    r=""
    if ! create iq-destroy; then
        r="FAIL xl create failed"
    else
        dom=$(xl domid iq-destroy)
        pid=$(ioreqd_pid "$dom")
        log "iq-destroy is domain $dom, ioreqd pid ${pid:-none}"
        if ! wait_console iq-destroy "IO-LOOP-STARTED" "$BOOT_TIMEOUT"; then
            r="FAIL guest I/O never started"
            show_console iq-destroy
        fi
        sleep 1
        td=$(up)
        xl destroy iq-destroy
        rc=$?
        log "xl destroy rc=$rc took $td -> $(up) s"
        [ $rc = 0 ] || r="${r:-FAIL xl destroy rc=$rc}"
        left=$(leftovers "$dom")
        [ -z "$left" ] || r="${r:-FAIL left behind:$left}"
        ex=$(daemon_exit "$dom")
        log "daemon: $ex"
        case "$ex" in
        *"exited with status 0"*) ;;
        *) r="${r:-FAIL ioreqd did not exit cleanly: $ex}" ;;
        esac
    fi
    # A new domain works afterwards.
    if [ -z "$r" ]; then
        mkimg /domu/destroy.img 16
        mkcfg iq-after probe 78 1 destroy "$(vdisk xvda /domu/destroy.img)"
        if ! create iq-after; then
            r="FAIL new domain: xl create failed"
        elif ! wait_console iq-after "IQ-GUEST-DONE" "$BOOT_TIMEOUT"; then
            r="FAIL new domain did not finish"
            show_console iq-after
        else
            g=$(guest_result iq-after probe)
            case "$g" in
            PASS*) ;;
            *) r="FAIL new domain: ${g:-no result}"; show_console iq-after ;;
            esac
        fi
        dom2=$(xl domid iq-after 2>/dev/null)
        wait_gone iq-after 60 || xl destroy iq-after
        [ -z "$dom2" ] || leftovers "$dom2" >/dev/null
    fi
    r=${r:-PASS}
    result destroy "${r%% *}" "$(echo "$r" | cut -s -d' ' -f2-)"
    echo "E2E-TIME: destroy $(($(secs) - t0))"
    rm -f /domu/destroy.img
}

# -- scenario 5: guest reboot with on_reboot="restart" -------------------------

s_reboot() {
    t0=$(secs)
    mkimg /domu/reboot.img 16
    mkcfg iq-reboot reboot 99 1 restart "$(vdisk xvda /domu/reboot.img)"
    r=""
    l0=$(wc -l < /var/log/ioreqd.log)
    if ! create iq-reboot; then
        r="FAIL xl create failed"
    else
        dom=$(xl domid iq-reboot)
        if ! wait_console iq-reboot "IQ-GUEST: reboot \(PASS\|FAIL\)" \
            $((BOOT_TIMEOUT * 2)); then
            r="FAIL no result after reboot"
        else
            g=$(guest_result iq-reboot reboot)
            case "$g" in
            PASS*) ;;
            *) r="FAIL $g" ;;
            esac
        fi
        wait_console iq-reboot "IQ-GUEST-DONE" 60
        show_console iq-reboot 60
        wait_gone iq-reboot 60 || xl destroy iq-reboot
        # The reboot is a new domain, served by a second ioreqd; both
        # daemons exit cleanly and leave nothing behind.
        doms=$(tail -n +$((l0 + 1)) /var/log/ioreqd.log |
            sed -n 's/.*started .* for domain \([0-9]*\) .*/\1/p' | tr '\n' ' ')
        log "iq-reboot: domains served: $doms"
        set -- $doms
        [ $# = 2 ] || r="${r:-FAIL expected 2 domains, got '$doms'}"
        for d in $doms; do
            left=$(leftovers "$d")
            [ -z "$left" ] || r="${r:-FAIL domain $d left:$left}"
            case "$(daemon_exit "$d")" in
            *"exited with status 0"*) ;;
            *) r="${r:-FAIL ioreqd of domain $d: $(daemon_exit "$d")}" ;;
            esac
        done
        if [ -z "$r" ] &&
            ! $IO verify /domu/reboot.img 100 $((2 * MiB)) $MiB; then
            r="FAIL dom0 sees a different pattern"
        fi
    fi
    r=${r:-PASS}
    result reboot "${r%% *}" "$(echo "$r" | cut -s -d' ' -f2-)"
    echo "E2E-TIME: reboot $(($(secs) - t0))"
    rm -f /domu/reboot.img
}

# -- scenario 6: read-only disk -------------------------------------------------

s_ro() {
    t0=$(secs)
    mkimg /domu/ro.img 16
    $IO write /domu/ro.img 55 $MiB $MiB
    sum0=$(md5sum < /domu/ro.img)
    mkcfg iq-ro ro 55 1 destroy "$(vdisk xvda /domu/ro.img ro)"
    r=""
    if ! create iq-ro; then
        r="FAIL xl create failed"
    else
        dom=$(xl domid iq-ro)
        log "backend mode: $(xenstore-read "$BE/$dom/51712/mode" 2>&1)"
        if wait_console iq-ro "IQ-GUEST-DONE" "$BOOT_TIMEOUT"; then
            r=$(guest_result iq-ro ro)
            r=${r:-FAIL no guest result}
        else
            r="FAIL guest did not finish"
        fi
        show_console iq-ro
        wait_gone iq-ro 60 || xl destroy iq-ro
        leftovers "$dom" >/dev/null
        case "$r" in
        PASS*)
            [ "$(md5sum < /domu/ro.img)" = "$sum0" ] ||
                r="FAIL the image changed"
            ;;
        esac
    fi
    result ro "${r%% *}" "$(echo "$r" | cut -s -d' ' -f2-)"
    echo "E2E-TIME: ro $(($(secs) - t0))"
    rm -f /domu/ro.img
}

# -- scenario 7: a disk served by qemu-storage-daemon over vhost-user ----------

QSD_SOCK=/run/qsd/qsd.sock
QSD_PTR=/run/qsd/xvda.vhost-user

s_vhost_qsd() {
    local qpid end name cmd dom="" g r=""
    t0=$(secs)
    mkimg /domu/qsd.img 16
    mkdir -p /run/qsd
    rm -f "$QSD_SOCK"
    qemu-storage-daemon \
        --blockdev driver=file,node-name=file0,filename=/domu/qsd.img \
        --blockdev driver=raw,node-name=disk0,file=file0 \
        --export "type=vhost-user-blk,id=exp0,node-name=disk0,$(
            )addr.type=unix,addr.path=$QSD_SOCK,writable=on" \
        > /tmp/qsd.log 2>&1 &
    qpid=$!
    end=$(($(secs) + 60))
    while [ ! -S "$QSD_SOCK" ] && kill -0 $qpid 2>/dev/null &&
        [ "$(secs)" -lt $end ]; do
        sleep 0.2
    done
    if [ ! -S "$QSD_SOCK" ]; then
        r="FAIL qemu-storage-daemon did not listen"
        cat /tmp/qsd.log
    fi
    # The xl target the brief asks for is the socket itself. libxl 4.17
    # stat()s a standalone disk's target and takes only a block device or
    # a regular file; ioreqd also accepts a regular file named *.vhost-user
    # that holds the socket path. Try the socket first, and say what libxl
    # did.
    name=iq-qsdsock
    if [ -z "$r" ]; then
        mkcfg iq-qsdsock pattern 4343 1 destroy "$(vdisk xvda "$QSD_SOCK")"
        rm -f "$CON/guest-iq-qsdsock.log"
        if xl create /etc/xen/iq-qsdsock.cfg >/tmp/xl-iq-qsdsock.log 2>&1
        then
            log "libxl accepted the socket as the disk target"
        else
            log "libxl refused the socket as the disk target: $(
                tr '\n' ' ' < /tmp/xl-iq-qsdsock.log)"
            xl destroy iq-qsdsock >/dev/null 2>&1
            name=iq-qsd
            echo "$QSD_SOCK" > "$QSD_PTR"
            mkcfg iq-qsd pattern 4343 1 destroy "$(vdisk xvda "$QSD_PTR")"
            create iq-qsd || r="FAIL xl create failed"
        fi
    fi
    if [ -z "$r" ]; then
        dom=$(xl domid $name)
        # The launcher passed its --vhost-mode on to the domain's ioreqd.
        cmd=$(tr '\0' ' ' < "/proc/$(ioreqd_pid "$dom")/cmdline" 2>/dev/null)
        log "ioreqd of domain $dom: $cmd"
        case "$cmd" in
        *"--vhost-mode shadow"*) ;;
        *) r="FAIL ioreqd runs without --vhost-mode shadow: '$cmd'" ;;
        esac
        if wait_console $name "IQ-GUEST-DONE" "$BOOT_TIMEOUT"; then
            g=$(guest_result $name pattern)
            case "$g" in
            PASS*) ;;
            *) r="${r:-FAIL guest: ${g:-no result}}" ;;
            esac
        else
            r="${r:-FAIL guest did not finish}"
        fi
        show_console $name
        wait_gone $name 60 || xl destroy $name
        left=$(leftovers "$dom")
        [ -z "$left" ] || r="${r:-FAIL left behind:$left}"
        log "ioreqd: $(grep "bridged to vhost-user" /var/log/ioreqd.log |
            tail -n 1)"
        grep -q "bridged to vhost-user socket $QSD_SOCK, mode=shadow" \
            /var/log/ioreqd.log || r="${r:-FAIL no bridged-disk log line}"
        case "$(daemon_exit "$dom")" in
        *"exited with status 0"*) ;;
        *) r="${r:-FAIL ioreqd: $(daemon_exit "$dom")}" ;;
        esac
    fi
    # The daemon wrote the guest's data to the raw file.
    kill $qpid 2>/dev/null
    wait $qpid 2>/dev/null
    if [ -z "$r" ]; then
        if ! $IO verify /domu/qsd.img 4343 $MiB $((4 * MiB)); then
            r="FAIL dom0 sees a different pattern in the image"
        elif [ "$(head -c ${#SIG} /domu/qsd.img)" != "$SIG" ]; then
            r="FAIL signature overwritten"
        fi
    fi
    r=${r:-PASS $name}
    result vhost-qsd "${r%% *}" "$(echo "$r" | cut -s -d' ' -f2-)"
    echo "E2E-TIME: vhost-qsd $(($(secs) - t0))"
    rm -f /domu/qsd.img "$QSD_PTR"
}

# -- scenario 8: vhost-user mmap mode with the privcmd offload (Linux 6.12) ---
#
# A virtio-rng whose device model is the vhost-user test peer iq-vu-rng
# (XEN_MMAP: it maps guest memory itself by foreign mapping). libxl 4.17
# makes device-tree nodes only for virtio disks, so the guest's node comes
# from a partial device tree (xl device_tree=, /opt/e2e/vurng.dtb: base
# 0x2000000, SPI 33); vuart="sbsa_uart" makes libxl give the domain SPIs
# (Xen rounds nr_spis up to 32). The domain is created paused, ioreqd is
# started for it with the device, then it runs. PASS needs: the guest read
# 4 KiB from /dev/hwrng, ioreqd assigned the kick and irq offload
# (IOCTL_PRIVCMD_IOEVENTFD/IRQFD of the rebuilt 6.12 privcmd), the daemon
# received kicks, and the kernel took the QueueNotify writes: ioreqd relayed
# at most one in ten of the daemon's kicks itself. Not none: ioreqd's port
# handler and the kernel's share the event; ioreqd leaves a READY
# QueueNotify of an offloaded queue to the kernel for a bounded moment and
# serves it itself if the kernel's handler has not run by then (ioreq
# stats "taker_timeouts"; "raced" counts writes both took). Seen: 0 of 66.

VURNG_SOCK=/run/vurng/rng.sock
VURNG_LOG=/var/log/iq-vu-rng.log
VURNG_ILOG=/var/log/ioreqd-rng.log
VURNG_PIDF=/run/vurng/ioreqd.pid

# The number after "key=" in the last line of $1 matching $2.
stat_of() { # file pattern key
    grep "$2" "$1" 2>/dev/null | tail -n 1 |
        sed -n "s/.*[ :]$3=\([0-9]*\).*/\1/p"
}

s_vhost_mmap_612() {
    local bpid ipid end dom="" g r="" n=iq-rng
    local uk ko io bk brq ioreqs raced irc
    t0=$(secs)
    log "dom0 kernel $(uname -r)"
    mkdir -p /run/vurng
    rm -f "$VURNG_SOCK" "$VURNG_PIDF"
    /opt/e2e/iq-vu-rng "$VURNG_SOCK" > "$VURNG_LOG" 2>&1 &
    bpid=$!
    end=$(($(secs) + 60))
    while [ ! -S "$VURNG_SOCK" ] && kill -0 $bpid 2>/dev/null &&
        [ "$(secs)" -lt $end ]; do
        sleep 0.2
    done
    if [ ! -S "$VURNG_SOCK" ]; then
        r="FAIL iq-vu-rng did not listen"
        cat "$VURNG_LOG"
    fi
    {
        echo "name = \"$n\""
        echo 'kernel = "/domu/Image"'
        echo 'ramdisk = "/domu/initrd.gz"'
        echo 'extra = "console=hvc0 rdinit=/init loglevel=4 iqtest=rng"'
        echo 'memory = 192'
        echo 'vcpus = 1'
        echo 'vuart = "sbsa_uart"'
        echo 'device_tree = "/opt/e2e/vurng.dtb"'
        echo 'on_poweroff = "destroy"'
        echo 'on_reboot = "destroy"'
        echo 'on_crash = "destroy"'
    } > /etc/xen/$n.cfg
    rm -f "$CON/guest-$n.log"
    if [ -z "$r" ] && ! xl create -p /etc/xen/$n.cfg >/tmp/xl-$n.log 2>&1
    then
        cat /tmp/xl-$n.log
        r="FAIL xl create failed"
    fi
    if [ -z "$r" ]; then
        dom=$(xl domid $n)
        ioreqd --domid "$dom" --log-level info --pidfile "$VURNG_PIDF" \
            --device "vhost-user,base=0x2000000,irq=33,type=4,$(
                )socket=$VURNG_SOCK,mode=mmap" > "$VURNG_ILOG" 2>&1 &
        ipid=$!
        end=$(($(secs) + 60))
        while [ ! -s "$VURNG_PIDF" ] && kill -0 $ipid 2>/dev/null &&
            [ "$(secs)" -lt $end ]; do
            sleep 0.2
        done
        if [ ! -s "$VURNG_PIDF" ]; then
            r="FAIL ioreqd did not start"
            cat "$VURNG_ILOG"
            xl destroy $n
        fi
    fi
    if [ -z "$r" ]; then
        log "ioreqd pid $ipid serves domain $dom; unpausing"
        xl unpause $n
        if wait_console $n "IQ-GUEST-DONE" "$BOOT_TIMEOUT"; then
            g=$(guest_result $n rng)
            case "$g" in
            PASS*) ;;
            *) r="FAIL guest: ${g:-no result}" ;;
            esac
        else
            r="FAIL guest did not finish"
            kill -USR1 $ipid 2>/dev/null
            sleep 1
        fi
        show_console $n
        wait_gone $n 60 || xl destroy $n
        end=$(($(secs) + 20))
        while kill -0 $ipid 2>/dev/null && [ "$(secs)" -lt $end ]; do
            sleep 0.5
        done
        kill $ipid 2>/dev/null
        wait $ipid
        irc=$?
        log "ioreqd exit status $irc"
        [ $irc = 0 ] || r="${r:-FAIL ioreqd exit status $irc}"
        leftovers "$dom" >/dev/null
    fi
    kill $bpid 2>/dev/null
    wait $bpid
    echo "----- ioreqd (domain ${dom:-none}) -----"
    tail -n 40 "$VURNG_ILOG"
    echo "----- iq-vu-rng -----"
    tail -n 30 "$VURNG_LOG"
    echo "----- end -----"
    if [ -z "$r" ]; then
        uk=$(stat_of "$VURNG_ILOG" 'stats: vhost' kicks)
        ko=$(stat_of "$VURNG_ILOG" 'stats: vhost' kick_offloaded)
        io=$(stat_of "$VURNG_ILOG" 'stats: vhost' irq_offloaded)
        ioreqs=$(stat_of "$VURNG_ILOG" 'stats: ioreq' ioreqs)
        raced=$(stat_of "$VURNG_ILOG" 'stats: ioreq' raced)
        bk=$(stat_of "$VURNG_LOG" 'iq-vu-rng: kicks' kicks)
        brq=$(stat_of "$VURNG_LOG" 'iq-vu-rng: kicks' requests)
        log "ioreqd: ioreqs=${ioreqs:-?} raced=${raced:-?}" \
            "kicks relayed=${uk:-?}" \
            "kick_offloaded=${ko:-?} irq_offloaded=${io:-?};" \
            "iq-vu-rng: kicks=${bk:-?} requests=${brq:-?}"
        if [ -z "$uk" ] || [ -z "$bk" ]; then
            r="FAIL no statistics (ioreqd kicks '$uk', daemon kicks '$bk')"
        elif [ "${ko:-0}" -lt 1 ] || [ "${io:-0}" -lt 1 ]; then
            r="FAIL offload not assigned (kick $ko, irq $io)"
        elif [ "$bk" -lt 1 ] || [ "${brq:-0}" -lt 1 ]; then
            r="FAIL the daemon got no kicks or served nothing"
        elif [ $((uk * 10)) -gt "$bk" ]; then
            r="FAIL ioreqd relayed $uk of the daemon's $bk kicks itself"
        else
            r="PASS ${g#PASS }; daemon kicks=$bk requests=$brq,$(
                ) ioreqd ioreqs=$ioreqs relayed kicks=$uk raced=${raced:-?}"
        fi
    fi
    result vhost-mmap-612 "${r%% *}" "$(echo "$r" | cut -s -d' ' -f2-)"
    echo "E2E-TIME: vhost-mmap-612 $(($(secs) - t0))"
}

LIST=",$(echo "$1" | tr : ,),"
basic=""
for s in pattern ext2 smp; do
    case "$LIST" in *",$s,"*) basic="$basic,$s" ;; esac
done
[ -z "$basic" ] || s_basic "$basic"
case "$LIST" in *",destroy,"*) s_destroy ;; esac
case "$LIST" in *",reboot,"*) s_reboot ;; esac
case "$LIST" in *",ro,"*) s_ro ;; esac
case "$LIST" in *",vhost-qsd,"*) s_vhost_qsd ;; esac
case "$LIST" in *",vhost-mmap-612,"*) s_vhost_mmap_612 ;; esac
xl list
