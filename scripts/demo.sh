#!/usr/bin/env bash
# The product in one command: an all-in-one node on SQLite with a demo user and desktop VM,
# and the desktop shown on $DISPLAY (or on a virtual screen, saved as a screenshot).
#   scripts/demo.sh          set up (first run builds the Debian demo DI: ~2 min) and show
#   scripts/demo.sh stop     stop the demo's daemons and VM
# Everything lives under .demo/ in the source tree; nothing is installed system-wide except
# Debian packages. The node's VM network is the bridge qvdnet0 (10.0.0.1/16, no NAT).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
D=$top/.demo
B=$top/build
ADMIN="$B/src/admin/qvd-admin -c $D/node.conf"
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (the node starts containers)"

stop_demo() {
  for f in nxproxy tunnel xvfb; do
    [ -f "$D/$f.pid" ] && kill "$(cat "$D/$f.pid")" 2>/dev/null || true; rm -f "$D/$f.pid"
  done
  if [ -f "$D/hkd.pid" ] && kill -0 "$(cat "$D/hkd.pid")" 2>/dev/null; then
    say "stopping qvd-hkd (it stops its VMs)"
    kill "$(cat "$D/hkd.pid")"
    for _ in $(seq 100); do kill -0 "$(cat "$D/hkd.pid")" 2>/dev/null || break; sleep 0.2; done
  fi
  rm -f "$D/hkd.pid"
}
if [ "${1:-}" = stop ]; then stop_demo; exit 0; fi

say "installing Debian packages and building"
bash scripts/install-deps.sh
[ -f "$B/build.ninja" ] || meson setup "$B" >/dev/null
ninja -C "$B" >/dev/null

mkdir -p "$D"
DI=$D/qvd-debian-bookworm.tar.gz
if [ ! -f "$DI" ]; then
  say "building the demo desktop image with debootstrap (once; about 2 minutes)"
  bash images/build-debian-di.sh "$DI"
fi

if [ ! -f "$D/node.conf" ]; then
  cat >"$D/node.conf" <<CONF
# all-in-one demo node (see docs/config.md for every key)
nodename = demo
database.path = $D/qvd.db
path.run = $D/run
path.log = $D/log
path.storage.root = $D/storage
path.vma.binary = $B/src/vma/qvd-vma
log.filename = $D/hkd.log
CONF
fi

stop_demo
say "starting qvd-hkd"
"$B/src/hkd/qvd-hkd" -c "$D/node.conf" & echo $! >"$D/hkd.pid"
for _ in $(seq 50); do
  [ "$(sqlite3 "$D/qvd.db" "SELECT state FROM host_runtimes" 2>/dev/null)" = running ] && break; sleep 0.2
done

if ! $ADMIN user list --login demo 2>/dev/null | grep -qw demo; then
  say "creating the demo user (demo/demo), OSF, DI and VM"
  $ADMIN user add --login demo --password demo >/dev/null
  $ADMIN osf add --name desktop --memory 1024 --user-storage-size 1024 >/dev/null
  $ADMIN di add --osf desktop --path "$DI" >/dev/null
  $ADMIN vm add --name demo-desktop --user demo --osf desktop >/dev/null
fi
VM=$($ADMIN --json vm list --name demo-desktop | sed -n 's/.*"id": *\([0-9]*\).*/\1/p' | head -1)
state() { sqlite3 "$D/qvd.db" "SELECT vm_state FROM vm_runtimes WHERE vm_id = $VM"; }
[ "$(state)" = running ] || { say "starting VM $VM"; $ADMIN vm start --id "$VM" >/dev/null; }
for _ in $(seq 300); do [ "$(state)" = running ] && break; sleep 0.2; done
[ "$(state)" = running ] || die "the VM did not start: see $D/hkd.log"

IP=$(sqlite3 "$D/qvd.db" "SELECT vm_address FROM vm_runtimes WHERE vm_id = $VM")
SECRET=$(sqlite3 "$D/qvd.db" "SELECT vma_secret FROM vm_runtimes WHERE vm_id = $VM")
printf '%s' "$SECRET" >"$D/vma.secret"; chmod 600 "$D/vma.secret"
say "starting the desktop session in VM $VM ($IP)"
curl -sf -H "Authorization: Bearer $SECRET" \
  "http://$IP:3030/vma/x_start?qvd.vm.user.name=demo&qvd.client.geometry=1024x768&qvd.client.link=lan" >/dev/null ||
  die "the VMA refused x_start: see $D/run/vm/$VM/log/vma.log"
for _ in $(seq 100); do
  curl -sf -H "Authorization: Bearer $SECRET" "http://$IP:3030/vma/x_state" | grep -q listening && break; sleep 0.2
done

# Until qvd-l7r and qvd-client arrive (issue 3) the desktop is reached through the VMA's
# authenticated upgrade, the same path the L7R will relay.
"$B/tests/helpers/vma-tunnel" --listen 127.0.0.1:4041 --vma "$IP:3030" --secret-file "$D/vma.secret" \
  >"$D/tunnel.log" 2>&1 & echo $! >"$D/tunnel.pid"
sleep 0.3
if [ -n "${DISPLAY:-}" ]; then
  say "showing the desktop on $DISPLAY"
  nxproxy -S localhost:41 >"$D/nxproxy.log" 2>&1 & echo $! >"$D/nxproxy.pid"
  echo "Stop with: bash scripts/demo.sh stop"
else
  export DISPLAY=:77
  Xvfb :77 -screen 0 1280x1024x24 -nolisten tcp >"$D/xvfb.log" 2>&1 & echo $! >"$D/xvfb.pid"
  sleep 0.5
  nxproxy -S localhost:41 >"$D/nxproxy.log" 2>&1 & echo $! >"$D/nxproxy.pid"
  sleep 6
  xwd -root -silent | convert xwd:- "$D/desktop.png"
  say "no \$DISPLAY: the desktop is on a virtual screen; screenshot saved to $D/desktop.png"
  echo "Stop with: bash scripts/demo.sh stop"
fi
echo "Administer with: $ADMIN vm list"
