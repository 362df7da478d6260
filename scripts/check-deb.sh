#!/usr/bin/env bash
# Check a built package: its control fields and contents, then (as root) a
# real install, upgrade and purge with dpkg into a throwaway root
# (`dpkg --root`, maintainer scripts run against $DPKG_ROOT), asserting that
# the user is created, an edited config survives the upgrade untouched, and
# the event log keeps its epoch.
#   scripts/check-deb.sh target/deb/dockside_0.1.0-1_arm64.deb
# Needs a host build of dockside (target/debug/dockside, from `cargo build`)
# to make and read a real log.
set -euo pipefail
cd "$(dirname "$0")/.."

deb="${1:?usage: $0 PACKAGE.deb}"
fail() { echo "check-deb: FAIL: $*" >&2; exit 1; }

# Control fields.
info=$(dpkg-deb -I "$deb")
for field in "Package: dockside" "Depends: libc6 (>= " "Architecture: "; do
  grep -qF "$field" <<<"$info" || fail "control has no '$field'"
done
for script in postinst prerm postrm; do
  grep -qE "^ +[0-9]+ bytes, +[0-9]+ lines +\* +$script " <<<"$info" || fail "no executable $script"
done

# Contents.
contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/dockside ./lib/systemd/system/dockside.service \
         ./lib/systemd/system/dockside-central.service \
         ./usr/share/doc/dockside/examples/dockside.toml \
         ./usr/share/doc/dockside/examples/central.toml; do
  grep -qE " $f\$" <<<"$contents" || fail "package lacks $f"
done
if grep -qE ' \./(etc|var)/' <<<"$contents"; then
  fail "package ships files under /etc or /var: config and log belong to the site"
fi
echo "check-deb: control fields and contents ok"

if [ "$(id -u)" -ne 0 ]; then
  echo "check-deb: SKIPPED install/upgrade/purge: needs root for dpkg --root (ownership of installed files); run as root to check them"
  exit 0
fi
host_bin=target/debug/dockside
[ -x "$host_bin" ] || cargo build --locked
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/etc" "$root/usr/sbin"
: > "$root/var/lib/dpkg/status"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\n' > "$root/etc/group"
printf 'root:*:19000:0:99999:7:::\n' > "$root/etc/shadow"
printf 'root:*::\n' > "$root/etc/gshadow"
cp /etc/login.defs "$root/etc/"
dpkg_root() {
  # The package's architecture may not be the host's; libc6 is not in the
  # throwaway root's database. Scripts run outside a chroot, under $DPKG_ROOT.
  # Its expected warnings about that go to a log, shown on failure.
  dpkg --root="$root" --force-script-chrootless --force-architecture --force-depends \
       --log=/dev/null "$@" >>"$root/dpkg.log" 2>&1 || fail "dpkg $*: $(cat "$root/dpkg.log")"
}

dpkg_root -i "$deb"
grep -q '^dockside:' "$root/etc/passwd" || fail "postinst did not create the dockside user"
[ "$(stat -c %a "$root/etc/dockside")" = 750 ] || fail "/etc/dockside is not 0750"
[ "$(stat -c %a "$root/etc/dockside/dockside.toml")" = 640 ] || fail "config is not 0640"
[ "$(stat -c %a "$root/etc/dockside/secrets")" = 700 ] || fail "secrets dir is not 0700"
gid=$(awk -F: '$1 == "dockside" { print $3 }' "$root/etc/group")
[ "$(stat -c %g "$root/etc/dockside/dockside.toml")" = "$gid" ] || fail "config is not group dockside"
echo "check-deb: install ok (user, /etc/dockside, example configs)"

# The site edits its config and the agent makes its log.
config="$root/etc/dockside/dockside.toml"
sed -i "s|^data_dir = .*|data_dir = \"$root/var/lib/dockside\"|; s|^port = 1883|port = 1|" "$config"
sed -i '/^\[uplink\]/,$d' "$config"
echo "# edited on site" >> "$config"
cp "$config" "$root/edited.toml"
"$host_bin" run --config "$config" > "$root/agent.log" 2>&1 &
agent=$!
for _ in $(seq 1 100); do grep -q "store open" "$root/agent.log" && break; sleep 0.1; done
kill -TERM "$agent"; wait "$agent" || true
epoch=$("$host_bin" status --json --config "$config" | sed -n 's/.*"epoch": "\(.*\)".*/\1/p')
[ -n "$epoch" ] || fail "no log was made: $(cat "$root/agent.log")"

# Upgrade to a newer version of the same package.
upgraded=$(mktemp -d)
dpkg-deb -R "$deb" "$upgraded"
sed -i 's/^Version: \(.*\)$/Version: \1+check1/' "$upgraded/DEBIAN/control"
dpkg-deb --root-owner-group --build "$upgraded" "$root/upgrade.deb" >/dev/null
rm -rf "$upgraded"
dpkg_root -i "$root/upgrade.deb"
dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Version}' dockside | grep -q '+check1$' \
  || fail "upgrade did not install"
cmp -s "$config" "$root/edited.toml" || fail "the upgrade changed the site's config"
after=$("$host_bin" status --json --config "$config" | sed -n 's/.*"epoch": "\(.*\)".*/\1/p')
[ "$after" = "$epoch" ] || fail "the log's epoch changed across the upgrade ($epoch -> $after)"
echo "check-deb: upgrade ok (config untouched, log and epoch $epoch kept)"

dpkg_root --purge dockside
[ ! -e "$root/usr/bin/dockside" ] || fail "purge left the binary"
[ -e "$root/var/lib/dockside/dockside.db" ] || fail "purge deleted the event log"
[ -e "$config" ] || fail "purge deleted the site's config"
echo "check-deb: purge ok (binary gone; config and event log kept)"
