#!/bin/sh
# redis-linux-guest.sh PORT DATA_DIR ROOT
#
# The Linux guest of tests/redis.rs (`redis_on_the_linux_guest`): Debian's
# generic kernel (the cloud kernel of `isola bench` has no 9p) in the same
# QEMU machine as `isola run` (microvm, TCG -cpu max, one CPU, 512 MiB),
# ROOT as its / over virtio-9p (read-only), DATA_DIR as redis's dir over
# virtio-9p (mounted at /home, the root has no /data), 127.0.0.1:PORT
# forwarded to the guest's 6379, and redis-server started with the same
# settings as the Isola guest's config. The kernel, its modules (virtio,
# virtio-net, 9p) and the initramfs are made once under
# target/third-party/linux-generic (apt-get download, needs network once).
# The script ends by exec'ing QEMU: its pid is QEMU's.
set -eu
port=$1 data=$2 root=$3
repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=$repo/target/third-party/linux-generic
if [ ! -e "$cache/.complete" ]; then
    rm -rf "$cache" && mkdir -p "$cache/deb"
    pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9][^ ]*\).*/\1/p' | head -n1)
    [ -n "$pkg" ] || { echo "redis-linux-guest: no versioned kernel behind linux-image-amd64" >&2; exit 1; }
    (cd "$cache/deb" && apt-get download "$pkg" >&2)
    dpkg -x "$cache"/deb/*.deb "$cache/x"
    cp "$cache"/x/boot/vmlinuz-* "$cache/vmlinuz"
    [ -x "$repo/target/third-party/busybox" ] || "$repo/scripts/fetch-busybox" >&2
    init=$cache/initrd
    mkdir -p "$init/bin" "$init/lib/modules" "$init/proc" "$init/sys" "$init/dev" "$init/newroot"
    cp "$repo/target/third-party/busybox" "$init/bin/busybox"
    kernel=$(echo "$cache"/x/lib/modules/*/kernel)
    # In dependency order (their .modinfo depends=).
    modules="drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_mmio net/core/failover
             drivers/net/net_failover drivers/net/virtio_net fs/netfs/netfs fs/fscache/fscache net/9p/9pnet
             net/9p/9pnet_virtio fs/9p/9p"
    names=
    for m in $modules; do
        if [ -e "$kernel/$m.ko.xz" ]; then xz -dc "$kernel/$m.ko.xz" > "$init/lib/modules/$(basename "$m").ko"
        else cp "$kernel/$m.ko" "$init/lib/modules/"; fi
        names="$names $(basename "$m")"
    done
    cat > "$init/init" <<EOF
#!/bin/busybox sh
B=/bin/busybox
\$B mount -t proc proc /proc; \$B mount -t sysfs sysfs /sys; \$B mount -t devtmpfs dev /dev
for m in$names; do \$B insmod /lib/modules/\$m.ko || echo "linux-guest: insmod \$m failed"; done
i=0; while [ ! -e /sys/class/net/eth0 ] && [ \$i -lt 100 ]; do \$B sleep 0.1; i=\$((i+1)); done
\$B ip link set lo up; \$B ip link set eth0 up
\$B ip addr add 10.0.2.15/24 dev eth0; \$B ip route add default via 10.0.2.2
\$B mount -t 9p -o trans=virtio,version=9p2000.L,ro root /newroot || echo "linux-guest: mounting the root failed"
\$B mount -t 9p -o trans=virtio,version=9p2000.L data /newroot/home || echo "linux-guest: mounting the data failed"
\$B mount -t proc proc /newroot/proc; \$B mount -t devtmpfs dev /newroot/dev
\$B mount -t tmpfs tmp /newroot/tmp; \$B mount -t tmpfs run /newroot/run
echo "linux-guest: starting redis"
\$B chroot /newroot /usr/bin/redis-server --bind 0.0.0.0 --port 6379 --protected-mode no --daemonize no \\
    --dir /home --dbfilename dump.rdb --appendonly no --save "3600 1 300 100 60 10000"
echo "linux-guest: redis exit \$?"
\$B poweroff -f
EOF
    chmod +x "$init/init"
    (cd "$init" && ./bin/busybox find . | ./bin/busybox cpio -o -H newc 2>/dev/null) | gzip > "$cache/initrd.gz"
    rm -rf "$cache/x" "$cache/deb"
    touch "$cache/.complete"
fi
# The TSC rate, as `isola bench` gives it (a stock kernel's calibration may hang under TCG).
khz=$(awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
esc() { printf '%s' "$1" | sed 's/,/,,/g'; }
exec qemu-system-x86_64 -M microvm -m 512M -smp 1 -nodefaults -no-reboot -display none -serial stdio \
    -netdev "user,id=net0,hostfwd=tcp:127.0.0.1:$port-:6379" -device virtio-net-device,netdev=net0 \
    -fsdev "local,id=root,path=$(esc "$root"),security_model=none,readonly=on,multidevs=remap" \
    -device virtio-9p-device,fsdev=root,mount_tag=root \
    -fsdev "local,id=data,path=$(esc "$data"),security_model=none,multidevs=remap" \
    -device virtio-9p-device,fsdev=data,mount_tag=data \
    -accel tcg -cpu max -kernel "$cache/vmlinuz" -initrd "$cache/initrd.gz" \
    -append "console=ttyS0 tsc_early_khz=$khz quiet panic=-1 rdinit=/init"
