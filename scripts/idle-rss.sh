#!/usr/bin/env bash
# Idle RSS of the aarch64 build under qemu-aarch64 with the example config:
# both links up (a local mosquitto as the site broker and another as the
# central broker, the uplink without TLS), planning on, no Modbus devices
# (the example's PLCs are not on this network). Prints the qemu process's
# VmRSS after IDLE_S seconds (default 60) and, as the floor to subtract,
# that of qemu running a program that only sleeps.
#   scripts/idle-rss.sh        after .ci/cross (or cargo build --release --target aarch64-unknown-linux-gnu)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/aarch64-unknown-linux-gnu/release/dockside
[ -x "$bin" ] || { echo "idle-rss: $bin is missing; fix: run .ci/cross first" >&2; exit 1; }
command -v qemu-aarch64 >/dev/null || { echo "idle-rss: qemu-aarch64 is missing; fix: apt-get install qemu-user" >&2; exit 1; }
idle=${IDLE_S:-60}
dir=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
broker() { # port name
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$1" >"$dir/$2.conf"
  mosquitto -c "$dir/$2.conf" >"$dir/$2.log" 2>&1 &
  pids+=($!)
}
site_port=$(free_port); broker "$site_port" site
central_port=$(free_port); broker "$central_port" central

# The example, with local paths and ports, the TLS section and [modbus] out.
awk -v data="$dir/data" -v sp="$site_port" -v cp="$central_port" '
  /^\[/ { section = $0; skip = (section ~ /^\[uplink\.broker\.tls\]/ || section ~ /^\[+modbus/) }
  /^# -----/ { skip = 0 }
  skip { next }
  /^data_dir =/ { print "data_dir = \"" data "\""; next }
  section == "[site_broker]" && /^port =/ { print "port = " sp; next }
  section == "[site_broker]" && /^host =/ { print "host = \"127.0.0.1\""; next }
  section == "[uplink.broker]" && /^port =/ { print "port = " cp; next }
  section == "[uplink.broker]" && /^host =/ { print "host = \"127.0.0.1\""; next }
  { print }
' config/dockside.toml >"$dir/dockside.toml"

qemu-aarch64 -L /usr/aarch64-linux-gnu "$bin" check-config "$dir/dockside.toml" >/dev/null
DOCKSIDE_LOG=warn qemu-aarch64 -L /usr/aarch64-linux-gnu "$bin" run --config "$dir/dockside.toml" 2>"$dir/agent.log" &
agent=$!
pids+=($agent)
# The floor: qemu itself, running a dynamically linked aarch64 C program that sleeps.
printf '#include <unistd.h>\nint main(void) { sleep(%s); return 0; }\n' "$((idle + 5))" >"$dir/sleep.c"
aarch64-linux-gnu-gcc -O2 -o "$dir/sleep" "$dir/sleep.c"
qemu-aarch64 -L /usr/aarch64-linux-gnu "$dir/sleep" &
floor=$!
pids+=($floor)
sleep "$idle"
kill -0 "$agent" 2>/dev/null || { echo "idle-rss: dockside exited:" >&2; cat "$dir/agent.log" >&2; exit 1; }
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
a=$(rss "$agent")
f=$(rss "$floor" 2>/dev/null || echo 0)
echo "idle RSS after ${idle} s: dockside under qemu ${a} kB; qemu running sleep ${f} kB; difference $((a - f)) kB"
