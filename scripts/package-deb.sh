#!/usr/bin/env bash
# Build the Debian package for each architecture given (arm64, armhf, amd64):
#   scripts/package-deb.sh arm64 armhf        -> target/deb/dockside_<version>_<arch>.deb
# Options: --no-build (package the release binary already built),
#          DEB_VERSION=0.1.0-2 (default: Cargo's version, revision 1).
#
# Why dpkg-deb and not cargo-deb: dpkg-deb is on every Debian machine, while
# cargo-deb is one more tool to compile and pin in CI; the package is small
# (a binary, two units, examples, three maintainer scripts) and the
# maintainer scripts are ours either way (packaging/deb/).
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
arches=()
for a in "$@"; do
  case "$a" in
    --no-build) build=0 ;;
    arm64|armhf|amd64) arches+=("$a") ;;
    *) echo "usage: $0 [--no-build] arm64|armhf|amd64 ..." >&2; exit 2 ;;
  esac
done
[ ${#arches[@]} -gt 0 ] || { echo "usage: $0 [--no-build] arm64|armhf|amd64 ..." >&2; exit 2; }

cargo_version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
version="${DEB_VERSION:-${cargo_version}-1}"
out=target/deb
mkdir -p "$out"

for arch in "${arches[@]}"; do
  case "$arch" in
    arm64) target=aarch64-unknown-linux-gnu ;;
    armhf) target=armv7-unknown-linux-gnueabihf ;;
    amd64) target=x86_64-unknown-linux-gnu ;;
  esac
  if [ "$build" = 1 ]; then
    cargo build --locked --release --no-default-features --target "$target"
  fi
  bin="target/$target/release/dockside"
  [ -x "$bin" ] || { echo "no release binary at $bin (build it, or drop --no-build)" >&2; exit 1; }
  # The writer's fault hook exists in debug builds only; a package never has it.
  if grep -q DOCKSIDE_FAULT "$bin"; then
    echo "$bin contains the test-only fault hook: not a release build" >&2
    exit 1
  fi

  stage=$(mktemp -d)
  chmod 0755 "$stage"
  trap 'rm -rf "$stage"' EXIT
  install -D -m 0755 "$bin" "$stage/usr/bin/dockside"
  install -D -m 0644 systemd/dockside.service "$stage/lib/systemd/system/dockside.service"
  install -D -m 0644 systemd/dockside-central.service "$stage/lib/systemd/system/dockside-central.service"
  install -D -m 0644 config/dockside.toml "$stage/usr/share/doc/dockside/examples/dockside.toml"
  install -D -m 0644 config/central.toml "$stage/usr/share/doc/dockside/examples/central.toml"
  install -D -m 0644 README.md "$stage/usr/share/doc/dockside/README.md"
  cat > "$stage/usr/share/doc/dockside/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: dockside

Files: *
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
COPYRIGHT
  install -d "$stage/DEBIAN"
  install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$stage/DEBIAN/"

  # The oldest glibc the binary runs on: the highest GLIBC_ symbol version it needs.
  glibc=$(readelf -W --dyn-syms "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
  size_kb=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
  cat > "$stage/DEBIAN/control" <<CONTROL
Package: dockside
Version: $version
Architecture: $arch
Maintainer: dockside maintainers <dockside@localhost>
Installed-Size: $size_kb
Depends: libc6 (>= $glibc), passwd
Recommends: mosquitto
Section: net
Priority: optional
Homepage: https://localhost/dockside
Description: edge agent for distribution-centre gateways
 dockside reads a site's scanners, WMS messages and dock-door sensors, keeps
 every event in a local SQLite log, acknowledges each message only once it is
 durable, and syncs the log to a central allocator. Runs as the systemd
 service dockside.service (and dockside-central.service for the allocator).
CONTROL
  (cd "$stage" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum > DEBIAN/md5sums)

  deb="$out/dockside_${version}_${arch}.deb"
  dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
  rm -rf "$stage"
  trap - EXIT
  echo "$deb ($(stat -c %s "$deb") bytes; binary $(stat -c %s "$bin") bytes; needs glibc >= $glibc)"
done
