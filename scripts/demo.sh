#!/usr/bin/env bash
# The product in one command: an all-in-one node on SQLite (qvd-hkd + qvd-l7r) with a demo
# user and desktop VM, and qvd-client showing the desktop on $DISPLAY (or on a virtual
# screen, saved as a screenshot).
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
  for f in client xvfb l7r api; do
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

cat >"$D/node.conf" <<CONF
# all-in-one demo node (see docs/config.md for every key)
nodename = demo
database.path = $D/qvd.db
path.run = $D/run
path.log = $D/log
path.storage.root = $D/storage
path.vma.binary = $B/src/vma/qvd-vma
path.l7r.ssl.cert = $D/certs/l7r-cert.pem
path.l7r.ssl.key = $D/certs/l7r-key.pem
l7r.port = 8443
l7r.user = nobody
path.api.ssl.cert = $D/certs/l7r-cert.pem
path.api.ssl.key = $D/certs/l7r-key.pem
api.address = 127.0.0.1
api.port = 3443
api.user = nobody
CONF
if [ ! -f "$D/certs/l7r-key.pem" ]; then
  say "creating the L7R's TLS certificate"
  mkdir -p "$D/certs"
  san="DNS:localhost,DNS:$(hostname),IP:127.0.0.1"
  for ip in $(hostname -I 2>/dev/null); do [[ $ip == *.* ]] && san="$san,IP:$ip"; done
  # the key is 0600 from its first byte (the daemons refuse one that others can read)
  (umask 077; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
    -subj "/CN=$(hostname)" -addext "subjectAltName=$san" \
    -keyout "$D/certs/l7r-key.pem" -out "$D/certs/l7r-cert.pem" 2>/dev/null)
  chmod 644 "$D/certs/l7r-cert.pem"
fi
# the folder is open (nobody, the daemons' user, crosses it); its secrets close themselves:
# the database is created 0600 and shared with nobody's group only (docs/security.md)
chmod 755 "$D"
# a database of an older demo may be open to others: the daemons would refuse it
for f in "$D"/qvd.db "$D"/qvd.db-wal "$D"/qvd.db-shm; do [ -e "$f" ] && chmod o-rwx "$f"; done

stop_demo
# qvd-hkd's engine runs as its own user (hkd.user), in the L7R's group (the SQLite file)
if ! id qvd >/dev/null 2>&1; then
  say "creating the system user qvd for qvd-hkd's engine"
  useradd --system -g nogroup -M -d /nonexistent -s /usr/sbin/nologin qvd
fi
say "starting qvd-hkd"
"$B/src/hkd/qvd-hkd" -c "$D/node.conf" 2>>"$D/hkd.log" & echo $! >"$D/hkd.pid"
# read-only, and only once the HKD made the file: a sqlite3 that came first would create it
# with the shell's umask (0644), which every daemon then refuses
for _ in $(seq 50); do
  [ -s "$D/qvd.db" ] &&
    [ "$(sqlite3 -readonly "$D/qvd.db" "SELECT state FROM host_runtimes" 2>/dev/null)" = running ] && break
  sleep 0.2
done

if ! $ADMIN user list --login demo 2>/dev/null | grep -qw demo; then
  say "creating the demo user (demo/demo), OSF, DI and VM"
  $ADMIN user add --login demo --password demo >/dev/null
  $ADMIN osf add --name desktop --memory 1024 --user-storage-size 1024 >/dev/null
  $ADMIN di add --osf desktop --path "$DI" >/dev/null
  $ADMIN vm add --name demo-desktop --user demo --osf desktop >/dev/null
fi
if ! $ADMIN osf list 2>/dev/null | grep -qw terminal; then
  # an application VM: one program (the property qvd.app.command), no desktop (docs/vma.md)
  say "creating the demo application (an xterm without a desktop)"
  $ADMIN osf add --name terminal --memory 512 --is-application 1 >/dev/null
  $ADMIN di add --osf terminal --path "$DI" >/dev/null
  osf=$($ADMIN osf list 2>/dev/null | awk '$2 == "terminal" { print $1 }')
  $ADMIN osf propset --id "$osf" --key qvd.app.command \
    --value "/usr/bin/xterm -geometry 100x30+0+0 -title demo-terminal" >/dev/null
  $ADMIN vm add --name demo-terminal --user demo --osf terminal >/dev/null
fi
if ! $ADMIN admin list 2>/dev/null | grep -qw admin; then
  say "creating the demo superadministrator (admin/admin) of qvd-api"
  echo admin | $ADMIN admin add --name admin --tenant '*' --role master --password-stdin >/dev/null
fi
say "starting qvd-api on 127.0.0.1:3443 and $D/run/api.sock"
"$B/src/api/qvd-api" -c "$D/node.conf" 2>>"$D/api.log" & echo $! >"$D/api.pid"
say "starting qvd-l7r on port 8443"
"$B/src/l7r/qvd-l7r" -c "$D/node.conf" 2>>"$D/l7r.log" & echo $! >"$D/l7r.pid"
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/8443) 2>/dev/null && break; sleep 0.2; done

CLIENT=("$B/src/client/qvd-client" --host 127.0.0.1 --user demo --accept-cert once)
export QVDPASSWORD=demo
if [ -z "${DISPLAY:-}" ]; then
  export DISPLAY=:77
  Xvfb :77 -screen 0 1280x1024x24 -nolisten tcp >"$D/xvfb.log" 2>&1 & echo $! >"$D/xvfb.pid"
  sleep 0.5
  headless=1
fi
say "connecting qvd-client as demo (the VM starts on the first login)"
"${CLIENT[@]}" & echo $! >"$D/client.pid"
if [ -n "${headless:-}" ]; then
  for _ in $(seq 120); do
    xwininfo -name QVD >/dev/null 2>&1 && break
    kill -0 "$(cat "$D/client.pid")" 2>/dev/null || die "qvd-client ended (see above); logs: $D/hkd.log $D/l7r.log $D/log/vm/"
    sleep 0.5
  done
  sleep 5 # let the desktop draw
  xwd -root -silent | convert xwd:- "$D/desktop.png"
  say "no \$DISPLAY: the desktop is on a virtual screen; screenshot saved to $D/desktop.png"
else
  say "the desktop opens on $DISPLAY"
fi
fp=$(openssl x509 -in "$D/certs/l7r-cert.pem" -noout -fingerprint -sha256 | cut -d= -f2)
cat <<TXT

From another machine (with nxproxy installed and this repository built):
  build/src/client/qvd-client --host $(hostname -I 2>/dev/null | awk '{print $1}') --port 8443 --user demo
  password: demo; the self-signed certificate's SHA-256 fingerprint is
  $fp
  (accept it when asked, or pass --fingerprint with it).
Sound, printers and the private channel (add to the qvd-client line, docs/client.md):
  --audio --microphone    the desktop's sound plays here; this computer's microphone there
  --printing              this computer's printers appear in the desktop as QVD-<name>
  --tunnel 8080:80        port 8080 in the desktop reaches port 80 of this computer
  --vm-folder /home/demo:DIR   the desktop user's home mounted at the folder DIR here (sshfs)
An application (one program, no desktop; the session ends when it exits):
  build/src/client/qvd-client --host 127.0.0.1 --user demo --list-apps
  build/src/client/qvd-client --host 127.0.0.1 --user demo --app demo-terminal
Administer:  $ADMIN vm list                      (local mode, on the database)
  or the REST API (docs/api.md), as admin/admin:
  curl -sk https://127.0.0.1:3443/api/v1/login -H 'Content-Type: application/json' \\
       -d '{"login":"admin","tenant":"*","password":"admin"}'
Stop:        bash scripts/demo.sh stop
TXT
