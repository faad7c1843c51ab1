#!/usr/bin/env bash
# Builds the Debian 12 guest image the VM suites boot, from Debian's packages
# alone, into $1 (a cache directory, gitignored). One root filesystem holds both
# kernels: 6.1 (bookworm's default) and 6.12 (bookworm-security); run.sh picks
# one with -kernel/-initrd. The image is rebuilt only when this recipe changes:
# its sha256 is stored beside it.
#
# $1 should be a dot-directory (make vm-test uses tests/vm/.cache): go's tools and
# recursive greps skip it, and one walking the root's /proc while mmdebstrap
# unmounts it makes the unmount fail.
#
# Outputs in $1: root.img (ext4, booted read-write under qemu -snapshot, so it
# is never changed), vmlinuz-<ver>, initrd.img-<ver>, recipe.sha256.
set -euo pipefail
cache=$1
recipe_sha=$(sha256sum "$0" | cut -d' ' -f1)
if [ -f "$cache/recipe.sha256" ] && [ "$(cat "$cache/recipe.sha256")" = "$recipe_sha" ] && [ -f "$cache/root.img" ]; then
	echo "vm image: cached ($cache)"
	exit 0
fi
rm -rf "$cache"
mkdir -p "$cache"
root=$(mktemp -d "$cache/root.XXXXXX")
# Nothing may stay mounted below the root when it is removed or copied: a
# failed unmount in mmdebstrap would make rm walk the host's /proc.
unmount_all() {
	local m
	for m in $(grep -o " $root/[^ ]*" /proc/mounts | sort -r); do umount -l "$m"; done
}
trap 'unmount_all; rm -rf --one-file-system "$root"' EXIT

# What the guest runs: systemd as PID 1 and a batch unit (below); both
# kernels; the reference runtimes (runc, crun) and one engine (podman with its
# network stack) from the guest's own apt; busybox-static for the test rootfs;
# iproute2 for the netDevices tests; umoci and skopeo for the bundle tests;
# e2fsprogs and mount for the payload disk; criu for the checkpoint suite,
# with iptables, which it runs to lock a container's network during a dump
# (a Recommends of Debian's criu, which mmdebstrap leaves out); containerd
# (with its runc shim) and docker-registry for the cri suite, which starts
# its own of each; uidmap (newuidmap, newgidmap) and passwd (useradd) for the
# rootless suite's user, and dbus-user-session for the session bus its
# systemd manager answers on (rootless --systemd-cgroup; guest.sh starts the
# manager).
pkgs=(
	systemd systemd-sysv udev dbus kmod procps iproute2 mount e2fsprogs
	initramfs-tools linux-image-cloud-amd64 linux-image-6.12-cloud-amd64
	runc crun podman conmon netavark aardvark-dns golang-github-containers-common
	busybox-static jq ca-certificates umoci skopeo criu iptables
	containerd docker-registry uidmap passwd dbus-user-session
)
mirror=http://deb.debian.org/debian
mmdebstrap --variant=minbase --include="$(IFS=,; echo "${pkgs[*]}")" \
	--customize-hook='echo strata-vm > "$1/etc/hostname"' \
	--customize-hook='echo "/dev/vda / ext4 rw,noatime 0 1" > "$1/etc/fstab"' \
	--customize-hook='chroot "$1" systemctl mask serial-getty@ttyS0.service getty@tty1.service systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer 2>/dev/null || true' \
	--customize-hook='chroot "$1" passwd -d root' \
	--customize-hook='chroot "$1" systemctl mask docker-registry.service containerd.service 2>/dev/null || true' \
	bookworm "$root" \
	"deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
	"deb http://deb.debian.org/debian-security bookworm-security main"

# The rootless suite's user: no root, subordinate ids for newuidmap and
# newgidmap (/etc/subuid, /etc/subgid: useradd writes a 65536-id range), and
# /run/user/<uid>, the XDG_RUNTIME_DIR rootless strata and podman keep their
# state in, made at boot by systemd-tmpfiles as logind makes it for a login
# (the batch job logs nobody in; a lingering user's manager would cost boot
# time under TCG). tests/e2e/rootless_test.go names it: E2E_ROOTLESS_USER.
chroot "$root" useradd --create-home --shell /bin/sh --uid 1000 --user-group strata-test
grep -q '^strata-test:' "$root/etc/subuid" && grep -q '^strata-test:' "$root/etc/subgid"
echo 'd /run/user/1000 0700 strata-test strata-test -' > "$root/etc/tmpfiles.d/strata-test.conf"

# The batch job: mount the payload disk (/dev/vdb) and run its guest.sh, which
# writes its results back to that disk; then power off whatever happened. The
# console shows the job's output live (StandardOutput=journal+console).
install -m 0755 /dev/stdin "$root/usr/local/sbin/strata-vm-job" <<'JOB'
#!/bin/sh
mkdir -p /payload
if mount /dev/vdb /payload && [ -x /payload/guest.sh ]; then
	/payload/guest.sh > /payload/out/guest.log 2>&1
	echo $? > /payload/out/exit-status
	sync
	umount /payload
else
	echo "strata-vm-job: no payload disk with guest.sh" > /dev/console
fi
systemctl poweroff -f
JOB
cat > "$root/etc/systemd/system/strata-vm-job.service" <<'UNIT'
[Unit]
Description=strata VM test payload
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/strata-vm-job
StandardOutput=journal+console
StandardError=journal+console
[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/strata-vm-job.service "$root/etc/systemd/system/multi-user.target.wants/strata-vm-job.service"

unmount_all
for k in "$root"/boot/vmlinuz-*; do
	v=${k#"$root"/boot/vmlinuz-}
	cp "$k" "$cache/vmlinuz-$v"
	cp "$root/boot/initrd.img-$v" "$cache/initrd.img-$v"
	chmod 644 "$cache/vmlinuz-$v" "$cache/initrd.img-$v"
done
rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
truncate -s 6G "$cache/root.img.tmp"
mkfs.ext4 -q -F -L strata-vm -d "$root" "$cache/root.img.tmp"
mv "$cache/root.img.tmp" "$cache/root.img"
echo "$recipe_sha" > "$cache/recipe.sha256"
ls -l "$cache"
