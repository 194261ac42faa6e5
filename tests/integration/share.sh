#!/usr/bin/env bash
# Client folders shared into the VM (qvd-client --share DIR, client.share.folders) and files
# of them opened on the client (qvd-vma open FILE in the VM -> POST /open/<name>/<path> on
# the client's slave server -> client.open.command), end to end through the L7R, nxagent and
# a real nxproxy: QVD's PUT /shares/<name> reaches the VM, which refuses it at once while
# it has no FUSE (the mount in the VM is not there yet: docs/security.md);
# a file of a share is opened with the client's command (a script that records its
# argument); a path outside the shares (.., a symlink out, another folder, an unknown share)
# and a request without the key are refused and open nothing.
. "$(dirname "$0")/../lib.sh"
t_init
. "$QVD_TOP/tests/session_node.sh"
for tool in sshfs fusermount; do
  command -v $tool >/dev/null || { t_skip "shared folders" "missing $tool (scripts/install-deps.sh)"; exit 0; }
done
[ -x /usr/lib/openssh/sftp-server ] ||
  { t_skip "shared folders" "missing /usr/lib/openssh/sftp-server (scripts/install-deps.sh)"; exit 0; }
session_node_init shr1 || { t_fail "the test node starts"; exit 1; }
C1=
t_cleanup_add 'kill $C1'
xvfb XPID DISP || { t_fail "Xvfb starts"; exit 1; }

# the client's folders: docs (--share), more (client.share.folders), and one not shared
TOP=$(realpath "$T_DIR")
mkdir -p "$TOP/docs/sub" "$TOP/more" "$TOP/private"
echo on-the-client >"$TOP/docs/note.txt"
echo deeper >"$TOP/docs/sub/deep.txt"
echo more >"$TOP/more/m.txt"
echo secret >"$TOP/private/secret.txt"
ln -s "$TOP/private/secret.txt" "$TOP/docs/link-out"
ln -s note.txt "$TOP/docs/link-in"
# the open command: records its argument
cat >"$TOP/opener.sh" <<EOF
#!/bin/sh
printf '%s\n' "\$1" >>"$TOP/opened.log"
EOF
chmod 755 "$TOP/opener.sh"
: >"$TOP/opened.log"
cat >"$TOP/share.conf" <<EOF
client.open.command = $TOP/opener.sh
client.share.folders = $TOP/more
EOF

client C1 --vm-id 1 --share "$TOP/docs" --config "$TOP/share.conf" 2>>"$T_DIR/client.log"
t_check "the session with shared folders shows its desktop" desktop_shown 90

# QVD's PUT /shares/<name> reaches the VM's slave server (with the key: a 401 would say so).
# The LXC sandbox has no FUSE (docs/security.md): the VM refuses at once (501) and the client
# says so in one sentence per folder, the session going on; no ~/Redirected/<name> is made.
said() { [ "$(grep -c 'could not be shared: the virtual machine answered 501' "$T_DIR/client.log")" = 2 ]; }
t_check "the VM answers QVD's PUT /shares for both folders: no FUSE here, one sentence each" t_wait 60 said
t_check "naming the folders" \
  eval 'grep -q "folder $TOP/docs could not" "$T_DIR/client.log" && grep -q "folder $TOP/more could not" "$T_DIR/client.log"'
t_check "and nothing was made in the VM" in_vm 1 test ! -e /home/alice/Redirected/docs
t_diag "FUSE in the VM: $(in_vm 1 sh -c 'ls -l /dev/fuse; command -v sshfs fusermount3; grep -c fuse /proc/filesystems' 2>&1 | tr '\n' ';')"

# --- qvd-vma open FILE, as the user in the VM ---
VMA=/usr/lib/qvd/bin/qvd-vma
vm_open() { in_vm 1 runuser -u alice -- env HOME=/home/alice "$VMA" open "$1"; }
opened() { grep -qxF "$1" "$TOP/opened.log"; }
t_check "qvd-vma open of a file of a share succeeds" vm_open /home/alice/Redirected/docs/note.txt
t_check "and runs the client's open command with the file's path here" \
  t_wait 20 opened "$TOP/docs/note.txt"
t_check "a file in a sub-folder of a share (relative path, from the share) is opened" \
  in_vm 1 runuser -u alice -- env HOME=/home/alice sh -c \
  "mkdir -p /home/alice/Redirected/docs/sub 2>/dev/null; cd /home/alice/Redirected/docs && $VMA open sub/../sub/deep.txt"
t_check "with its path here" t_wait 20 opened "$TOP/docs/sub/deep.txt"
t_check "a share from client.share.folders works the same (from the desktop: its DISPLAY)" \
  in_vm_x 1 "$VMA" open /home/alice/Redirected/more/m.txt
t_check "with its path here" t_wait 20 opened "$TOP/more/m.txt"
t_check "a symlink inside the share is opened as its target in the share" \
  vm_open /home/alice/Redirected/docs/link-in
t_check "with the target's path" t_wait 20 eval '[ "$(grep -c "^$TOP/docs/note.txt\$" "$TOP/opened.log")" = 2 ]'
refused_here() { local out; out=$(vm_open /etc/passwd 2>&1); [ $? = 2 ] && grep -q "not in a shared folder" <<<"$out"; }
t_check "qvd-vma open refuses a file outside ~/Redirected (status 2, its sentence)" refused_here

# --- the client's slave server, asked directly from the VM (hostile requests) ---
KEY=$(in_vm 1 cat "$(in_vm 1 sh -c 'ls /var/run/qvd/slave-*.key' | head -1)")
ask_client() { # ask_client HEADERS TARGET: POST TARGET to the client's slave server, its status line
  in_vm 1 runuser -u alice -- timeout 10 bash -c \
    "exec 3<>/dev/tcp/127.0.0.1/11100 && printf 'POST $2 HTTP/1.1\r\n$1\r\n' >&3 && head -n 1 <&3" | tr -d '\r'
}
K="X-QVD-Slave-Key: $KEY\r\n"
before=$(wc -l <"$TOP/opened.log")
t_check "POST /open with the key: 200" [ "$(ask_client "$K" /open/docs/note.txt)" = "HTTP/1.1 200 OK" ]
t_check "without the key: 401" [ "$(ask_client "" /open/docs/note.txt)" = "HTTP/1.1 401 Unauthorized" ]
t_check "with a wrong key: 401" \
  [ "$(ask_client "X-QVD-Slave-Key: ${KEY//?/x}\r\n" /open/docs/note.txt)" = "HTTP/1.1 401 Unauthorized" ]
t_check "../ out of the share: 403" \
  [ "$(ask_client "$K" /open/docs/../private/secret.txt)" = "HTTP/1.1 403 Forbidden" ]
t_check "%2e%2e%2f (URL-encoded ../) out of the share: 403" \
  [ "$(ask_client "$K" /open/docs/%%2e%%2e%%2fprivate%%2fsecret.txt)" = "HTTP/1.1 403 Forbidden" ]
t_check "a symlink in the share that leads out of it: 403" \
  [ "$(ask_client "$K" /open/docs/link-out)" = "HTTP/1.1 403 Forbidden" ]
t_check "a folder that is not shared: 403" \
  [ "$(ask_client "$K" /open/private/secret.txt)" = "HTTP/1.1 403 Forbidden" ]
t_check "a share name with a dot first: 403" \
  [ "$(ask_client "$K" /open/../private/secret.txt)" = "HTTP/1.1 403 Forbidden" ]
t_check "an absolute path: 403" [ "$(ask_client "$K" /open//etc/passwd)" = "HTTP/1.1 403 Forbidden" ]
t_check "a missing file of a share: 404" \
  [ "$(ask_client "$K" /open/docs/nothing-here)" = "HTTP/1.1 404 Not Found" ]
t_wait 20 eval '[ "$(wc -l <"$TOP/opened.log")" -ge $((before + 1)) ]'
t_check "only the allowed request ran the open command ($(wc -l <"$TOP/opened.log") lines)" \
  eval '[ "$(wc -l <"$TOP/opened.log")" = $((before + 1)) ] && ! grep -q -e private -e /etc/ "$TOP/opened.log"'
t_check "the client said it refused a file outside the shares" \
  grep -q "outside the shared folders: refused" "$T_DIR/client.log"
t_check "the key is in no command line on either side" \
  eval '! t_in_node pgrep -af "$KEY" >/dev/null && ! in_vm 1 pgrep -af "$KEY" >/dev/null'
exit 0
