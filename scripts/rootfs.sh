# Shared helpers for the sid root filesystem (sourced, not executed).
# rootfs_mount mounts proc, sys, dev and dev/pts into $PYAG_ROOT unless they
# are mounted already, and remembers what it mounted; rootfs_umount unmounts
# exactly that, so nested users never unmount each other's mounts.

PYAG_ROOT=${PYAG_ROOT:-/var/cache/py-async-graph/sid-root}
export PYAG_ROOT
_pyag_mounted=""

rootfs_mount() {
    local m
    for m in proc sys dev dev/pts; do
        mkdir -p "$PYAG_ROOT/$m"
        if mountpoint -q "$PYAG_ROOT/$m"; then
            continue
        fi
        case $m in
            proc) mount -t proc proc "$PYAG_ROOT/proc" ;;
            sys) mount --rbind /sys "$PYAG_ROOT/sys" && mount --make-rslave "$PYAG_ROOT/sys" ;;
            dev) mount --bind /dev "$PYAG_ROOT/dev" ;;
            dev/pts) mount --bind /dev/pts "$PYAG_ROOT/dev/pts" ;;
        esac || { echo "rootfs: cannot mount $m in $PYAG_ROOT" >&2; return 1; }
        _pyag_mounted="$m $_pyag_mounted"
    done
}

rootfs_umount() {
    local m
    for m in $_pyag_mounted; do
        umount -R "$PYAG_ROOT/$m" 2>/dev/null || umount -lR "$PYAG_ROOT/$m" 2>/dev/null || true
    done
    _pyag_mounted=""
}

rootfs_run() {
    chroot "$PYAG_ROOT" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
        HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}
