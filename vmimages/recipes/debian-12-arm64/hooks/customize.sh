#!/bin/sh
# mmdebstrap customize hook, run on the build host once every package is installed.
#   $1  the root file system
#   $2  this recipe's directory (overlay/ is copied over the root file system)
#   $3  the initramfs modules, space-separated (recipe.yaml initramfs.modules)
#   $4  the initramfs compressor: none or gzip (recipe.yaml initramfs.compress)
#   $5  the login user (recipe.yaml user)
#
# Most of what follows is boot time under TCG (x86 hosts emulating arm64), where each
# process start costs tens of milliseconds and each unit about half a second: the
# figures are from `systemd-analyze blame` on this image before the change.
set -eu
root=$1 recipe=$2 modules=$3 compress=$4 user=$5

# The files of the image: the identity and network units, sshd's settings.
cp -R "$recipe/overlay/." "$root/"
chmod 0755 "$root/usr/local/sbin/labsbx-identity"
chroot "$root" systemctl enable --quiet labsbx-identity.service labsbx-network.service

# What a lab VM never needs, masked (a link to /dev/null):
#  - udev: the initramfs loads the drivers of the devices QEMU gives the VM, devtmpfs
#    makes their nodes, and nothing waits for a device unit (udev's coldplug took
#    5.3 s, and dev-vda.device 6.5 s, from the fstab entry that is gone);
#  - DHCP and networkd (labsbx-network.service sets the fixed address instead);
#  - logins on consoles nobody types at (the user has no password; SSH is the way in);
#  - apt, e2scrub and fstrim timers, and e2scrub_reap (no LVM): their starts are
#    machine work a drill does not want at random moments;
#  - the kernel file systems and modules that only debugging, containers or FUSE use;
#  - users, random seed, utmp and static nodes: the image has its users, the kernel
#    seeds itself from virtio-rng, and nothing reads utmp.
for unit in \
	systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
	systemd-udev-trigger.service systemd-udev-settle.service \
	systemd-networkd.service systemd-networkd.socket systemd-networkd-wait-online.service \
	systemd-network-generator.service \
	getty-static.service getty@tty1.service serial-getty@ttyAMA0.service \
	apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
	fstrim.timer e2scrub_reap.service \
	dev-hugepages.mount dev-mqueue.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
	sys-kernel-config.mount sys-fs-fuse-connections.mount \
	proc-sys-fs-binfmt_misc.automount systemd-binfmt.service systemd-pstore.service \
	kmod-static-nodes.service systemd-modules-load.service systemd-tmpfiles-setup-dev.service \
	modprobe@configfs.service modprobe@dm_mod.service modprobe@drm.service \
	modprobe@efi_pstore.service modprobe@fuse.service modprobe@loop.service \
	systemd-sysusers.service systemd-random-seed.service \
	systemd-update-utmp.service systemd-update-utmp-runlevel.service; do
	ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
rm -f "$root"/etc/systemd/system/timers.target.wants/*
# No generators either (3.2 s at each start of systemd): fstab is empty, there are
# no encrypted, GPT-discovered or hibernated volumes, no SysV scripts and no gettys.
mkdir -p "$root/etc/systemd/system-generators"
for g in "$root"/lib/systemd/system-generators/*; do
	ln -sf /dev/null "$root/etc/systemd/system-generators/${g##*/}"
done
# The journal stays on disk (`journalctl -b -1` after a power cut), but moving it
# there no longer holds up the rest of the boot.
sed '/^Before=systemd-tmpfiles-setup.service$/d' "$root/lib/systemd/system/systemd-journal-flush.service" \
	>"$root/etc/systemd/system/systemd-journal-flush.service"

# The login user exists in the image, so that the first boot does not run useradd;
# labsbx-identity still creates another user that fw_cfg names.
chroot "$root" useradd --create-home --shell /bin/bash --groups sudo "$user"
chroot "$root" install -d -m 0700 -o "$user" -g "$user" "/home/$user/.ssh"

# Every VM gets its own identity: no SSH host key or machine-id is baked in.
rm -f "$root"/etc/ssh/ssh_host_*
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"

# The initramfs: busybox, the modules that mount a virtio root (with what they
# depend on, in order) and initramfs/init, as an uncompressed cpio that the kernel
# unpacks at once (gzip took about a second to unpack under TCG). update-initramfs is
# put back for the guest's own use, but the boot does not use it.
rm -f "$root/usr/sbin/update-initramfs"
chroot "$root" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs
kver=$(ls "$root/lib/modules")
[ "$(printf '%s\n' "$kver" | wc -l)" = 1 ] || {
	echo "customize: expected one kernel in /lib/modules, found: $kver" >&2
	exit 1
}
ird=$root/tmp/labsbx-initramfs
rm -rf "$ird"
mkdir -p "$ird/bin" "$ird/dev" "$ird/proc" "$ird/root" "$ird/lib/modules"
cp "$root/bin/busybox" "$ird/bin/busybox"
cp "$recipe/initramfs/init" "$ird/init"
chmod 0755 "$ird/init"
: >"$ird/modules"
for m in $modules; do
	chroot "$root" modprobe --set-version "$kver" --show-depends "$m" >"$ird/deps"
	while read -r kind path _; do
		[ "$kind" = insmod ] || continue # "builtin <name>": in the kernel already
		name=${path##*/}
		grep -qx "$name" "$ird/modules" && continue
		cp "$root$path" "$ird/lib/modules/$name"
		echo "$name" >>"$ird/modules"
	done <"$ird/deps"
done
rm "$ird/deps"
echo "customize: initramfs modules: $(tr '\n' ' ' <"$ird/modules")"
out=/boot/initrd.img-$kver
chroot "$root" sh -c 'cd /tmp/labsbx-initramfs && find . | LC_ALL=C sort | cpio -o -H newc --quiet' >"$root$out"
case $compress in
none) ;;
gzip) gzip -9n <"$root$out" >"$root$out.gz" && mv "$root$out.gz" "$root$out" ;;
*)
	echo "customize: initramfs compressor $compress: none or gzip" >&2
	exit 1
	;;
esac
rm -rf "$ird"

rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
