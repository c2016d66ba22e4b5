#!/bin/sh
# mmdebstrap customize hook, run on the build host once every package is installed.
#   $1  the root file system
#   $2  this recipe's directory (overlay/ is copied over the root file system)
#   $3  the initramfs modules, space-separated (recipe.yaml initramfs.modules)
#   $4  the initramfs compressor (recipe.yaml initramfs.compress)
set -eu
root=$1 recipe=$2 modules=$3 compress=$4

# The files of the image, and the first-boot unit that reads the VM's identity.
cp -R "$recipe/overlay/." "$root/"
chmod 0755 "$root/usr/local/sbin/labsbx-identity"
chroot "$root" systemctl enable --quiet labsbx-identity.service systemd-networkd.service
# e2scrub_reap checks LVM snapshots, which a VM disk never has: 6 s of boot under TCG.
chroot "$root" systemctl mask --quiet e2scrub_reap.service

# Every VM gets its own identity: no SSH host key or machine-id is baked in.
rm -f "$root"/etc/ssh/ssh_host_*
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"

# One initramfs, small and quick to build: only the modules that mount a virtio root.
rm -f "$root/usr/sbin/update-initramfs"
chroot "$root" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs
printf 'MODULES=list\nCOMPRESS=%s\n' "$compress" >"$root/etc/initramfs-tools/conf.d/labsbx.conf"
printf '%s\n' $modules >"$root/etc/initramfs-tools/modules"
chroot "$root" update-initramfs -c -k all

rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
