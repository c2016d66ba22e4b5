#!/bin/sh
# mmdebstrap essential hook, run on the build host with $1 = the root file system,
# after the Essential packages and before the recipe's packages are installed.
#
# Defer update-initramfs: installing the kernel and initramfs-tools would each run
# mkinitramfs under qemu-user, about 6 minutes apiece. customize.sh restores it and
# builds the one initramfs the VM needs.
set -eu
root=$1
chroot "$root" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs
cat >"$root/usr/sbin/update-initramfs" <<'STUB'
#!/bin/sh
echo "update-initramfs: deferred to the end of the labsbx image build" >&2
STUB
chmod 0755 "$root/usr/sbin/update-initramfs"
