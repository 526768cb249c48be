#!/bin/sh
# /init of the pyvirt demo guest (busybox ash, PID 1).
#
# It loads the NIC and power-button modules, configures the net_failover master
# (10.0.2.15/24, default route via the QEMU user-mode gateway 10.0.2.2), pings that
# gateway ten times a second and reports on the console, on a line of its own, at once
# when the failover state changes and otherwise once a second (printed as ONE line):
#
#   PYVIRT-GUEST uptime=<s> master=<if|-> mac=<mac|-> standby=<if|-> primary=<if|->
#                primary_driver=<drv|-> probe_sent=<n> probe_ok=<n>
#
# Kernel arguments understood:
#   pyvirt.skip=mod1,mod2   do not insmod these modules (virtio_net: no failover at all)
#   pyvirt.nounplug=1       never release a hot-unplugged PCI device (the primary)
#
# From /init on this script is the only writer on the console: the kernel's console log
# level (loglevel=7 during boot) drops to 2 and kernel messages are relayed with
# `dmesg -c` by the status loop, so a kernel message can never split a PYVIRT-GUEST line.

PATH=/bin
export PATH

GATEWAY=10.0.2.2
ADDRESS=10.0.2.15/24
RUN=/run/pyvirt

# Applets are found through /proc/self/exe, so the first mounts name busybox explicitly.
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
mkdir -p "$RUN" /etc/acpi/PWRF
mkfifo "$RUN/tick"

skip=
nounplug=0
read -r cmdline </proc/cmdline
for arg in $cmdline; do
    case $arg in
        pyvirt.skip=*) skip=${arg#pyvirt.skip=} ;;
        pyvirt.nounplug=*) nounplug=${arg#pyvirt.nounplug=} ;;
    esac
done

# Everything the kernel logged so far is already on the console; from now on it is relayed.
dmesg -c >/dev/null
echo 2 >/proc/sys/kernel/printk

while read -r mod; do
    case ",$skip," in
        *",$mod,"*) echo "pyvirt-init: skipping module $mod"; continue ;;
    esac
    insmod "/lib/modules/$mod.ko" || echo "pyvirt-init: insmod $mod failed"
done </lib/modules/insmod.order

# ACPI power button (QMP system_powerdown): busybox acpid maps KEY_POWER from the
# "Power Button" input device to /etc/acpi/PWRF/00000080.
cat >/etc/acpi/PWRF/00000080 <<'EOF'
#!/bin/sh
echo 'pyvirt-init: power button pressed, powering off' >/dev/console
poweroff -f
EOF
chmod 755 /etc/acpi/PWRF/00000080
acpid -c /etc/acpi -l "$RUN/acpid.log" -p "$RUN/acpid.pid" </dev/null

ip link set lo up

# pace: sleep for $1 seconds without forking (a read that times out on an idle FIFO).
pace() {
    read -r -t "$1" _unused <>"$RUN/tick"
}

# probe_loop: ping the gateway every 100 ms in one-second batches (`ping -w 1`) and keep
# "<sent> <ok>" in $RUN/probe. A reply counts at once; a probe that got no reply counts as
# sent when its batch ends (ping's own "packets transmitted"), so the pair is exact after
# at most a second. A batch that fails at once (no route yet) is padded to a second.
probe_loop() {
    while :; do
        read -r start _rest </proc/uptime
        ping -i 0.1 -w 1 "$GATEWAY" 2>&1
        read -r end _rest </proc/uptime
        [ $(($(centis "$end") - $(centis "$start"))) -lt 90 ] && pace 1
    done | {
        sent=0 ok=0 current=0
        while read -r line; do
            case $line in
                *" bytes from "*seq=*)
                    seq=${line#*seq=}
                    current=$((${seq%% *} + 1))
                    ok=$((ok + 1)) ;;
                *" packets transmitted"*)
                    sent=$((sent + ${line%% *}))
                    current=0 ;;
                *) continue ;;
            esac
            echo "$((sent + current)) $ok" >"$RUN/probe"
        done
    }
}

# centis <seconds with two decimals, as in /proc/uptime>: the value in hundredths.
centis() {
    echo $((${1%.*} * 100 + 1${1#*.} - 100))
}

# driver_of <netdev>: set drv to the name of the driver bound to the netdev's parent
# device, or "-" (a builtin `cd -P` resolves the sysfs link without forking).
driver_of() {
    drv=-
    cd -P "/sys/class/net/$1/device/driver" 2>/dev/null || return 0
    drv=${PWD##*/}
    cd /
}

# scan: bring every NIC up and find the net_failover master and its lowers.
scan() {
    master=- mac=- standby=- primary=- primary_driver=-
    for dev in /sys/class/net/*; do
        name=${dev##*/}
        [ "$name" = lo ] && continue
        read -r flags <"$dev/flags" || continue
        [ $((flags & 1)) -eq 0 ] && ip link set "$name" up
        for lower in "$dev"/lower_*; do
            [ -e "$lower" ] || continue
            driver_of "$name"
            [ "$drv" = virtio_net ] && master=$name
            break
        done
    done
    [ "$master" = - ] && return 0
    read -r mac <"/sys/class/net/$master/address"
    for lower in "/sys/class/net/$master"/lower_*; do
        [ -e "$lower" ] || continue
        name=${lower##*/lower_}
        driver_of "$name"
        if [ "$drv" = virtio_net ]; then
            standby=$name
        else
            primary=$name
            primary_driver=$drv
        fi
    done
}

# configure: give the master its static address and the default route (once per master).
configured=-
configure() {
    [ "$master" = - ] || [ "$master" = "$configured" ] && return 0
    ip addr add "$ADDRESS" dev "$master"
    ip route add default via "$GATEWAY" dev "$master"
    configured=$master
    echo "pyvirt-init: $master configured as $ADDRESS via $GATEWAY"
}

# nounplug: once the primary is there, disable every GPE that has fired so far: on q35
# that is GPE 1, which carries QEMU's ACPI PCI hotplug notifications (the power button is
# a fixed event, unaffected). The guest then never sees QEMU's unplug request and never
# ejects the primary, so a migration stays in wait-unplug. Later hot-adds go unseen too.
unplug_blocked=0
block_unplug() {
    [ "$nounplug" = 1 ] && [ "$unplug_blocked" = 0 ] && [ "$primary" != - ] || return 0
    for gpe in /sys/firmware/acpi/interrupts/gpe[0-9A-F][0-9A-F]; do
        read -r count _rest <"$gpe"
        [ "$count" -gt 0 ] || continue
        echo disable >"$gpe" && echo "pyvirt-init: nounplug: ${gpe##*/} disabled"
    done
    unplug_blocked=1
}

echo "0 0" >"$RUN/probe"
probe_loop </dev/null >/dev/null 2>&1 &

# status_loop: every 100 ms relay kernel messages, rescan, and print a PYVIRT-GUEST line
# when the failover state changed or a second has passed since the last one.
status_loop() {
    sent=0 ok=0 last_state= last_print=-100
    while :; do
        dmesg -c
        scan
        configure
        block_unplug
        read -r value_sent value_ok _rest <"$RUN/probe" && [ -n "$value_ok" ] &&
            sent=$value_sent ok=$value_ok
        read -r uptime _rest </proc/uptime
        now=$((${uptime%.*} * 100 + 1${uptime#*.} - 100))
        state="master=$master mac=$mac standby=$standby primary=$primary"
        state="$state primary_driver=$primary_driver"
        if [ "$state" != "$last_state" ] || [ $((now - last_print)) -ge 100 ]; then
            echo "PYVIRT-GUEST uptime=$uptime $state probe_sent=$sent probe_ok=$ok"
            last_state=$state
            last_print=$now
        fi
        pace 0.1
    done
}

# PID 1 must never exit (the kernel would panic), so a failing loop is restarted.
while :; do
    (status_loop)
    echo "pyvirt-init: status loop exited with status $?, restarting"
    pace 1
done
