#!/usr/bin/env bash
# Printing: the client's printers appear in the VM's CUPS as QVD-<name>, and a page printed
# in the VM comes out on the client's printer, through qvd-client -> nxproxy's cups channel
# -> qvd-l7r -> VMA -> nxagent (docs/vma.md and docs/client.md, "Printing").
# The client's side is a private cupsd of the test (its own ServerRoot, spool and logs, on
# 127.0.0.1 of the test node) with a printer "office" whose device is a file: its driver
# passes the job through unchanged (CUPS's gziptoany), so the file holds what the VM
# printed. The VM's cupsd is started by the VMA (the test DI has cups-daemon).
# Checked: the printers are added at connect (the client's default one as the VM's
# default), a text page printed in the VM as the user arrives as a job of the client's
# CUPS with the text in its output; the printers go at suspend and come back at resume,
# where printing works again; a client that does not ask gets no cups channel; QVD's own
# client's request (reference 2.6) and nxproxy command line print as well; with
# vma.printing.enable = 0 a client that asks gets its one sentence at once, and the VM no
# channel.
. "$(dirname "$0")/../lib.sh"
t_init
. "$QVD_TOP/tests/session_node.sh"
session_node_init printing || { t_fail "the test node starts"; exit 1; }
xvfb XVFB_PID DISP || { t_fail "Xvfb starts"; exit 1; }
C= CUPSD=
t_cleanup_add 'kill $C; sleep 0.3'
t_cleanup_add 'kill $CUPSD'

# ---- the client's CUPS: private, on 127.0.0.1:$CPORT of the node
CPORT=8631 CUPS=$T_DIR/cups OUT=$T_DIR/cups/out
mkdir -p "$CUPS/root" "$CUPS/spool/tmp" "$CUPS/cache" "$CUPS/state" "$CUPS/log" "$OUT"
cat >"$CUPS/cups-files.conf" <<EOF
ServerRoot $CUPS/root
RequestRoot $CUPS/spool
TempDir $CUPS/spool/tmp
CacheDir $CUPS/cache
StateDir $CUPS/state
ErrorLog $CUPS/log/error_log
AccessLog $CUPS/log/access_log
PageLog $CUPS/log/page_log
Printcap $CUPS/printcap
FileDevice Yes
SystemGroup root
EOF
# reachable on the node's loopback only; no authentication (the test adds its printer)
cat >"$CUPS/cupsd.conf" <<EOF
Listen 127.0.0.1:$CPORT
LogLevel debug
Browsing Off
WebInterface No
DefaultAuthType None
<Location />
  Order allow,deny
  Allow all
</Location>
<Policy default>
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
EOF
# a printer whose driver passes every job through unchanged to its file
cat >"$CUPS/file.ppd" <<'EOF'
*PPD-Adobe: "4.3"
*FormatVersion: "4.3"
*FileVersion: "1.0"
*LanguageVersion: English
*LanguageEncoding: ISOLatin1
*PCFileName: "QVDFILE.PPD"
*Manufacturer: "QVD"
*Product: "(QVD test file printer)"
*ModelName: "QVD test file printer"
*ShortNickName: "QVD test file printer"
*NickName: "QVD test file printer"
*PSVersion: "(3010.000) 0"
*LanguageLevel: "3"
*ColorDevice: False
*DefaultColorSpace: Gray
*FileSystem: False
*Throughput: "1"
*LandscapeOrientation: Plus90
*TTRasterizer: Type42
*cupsFilter: "text/plain 0 gziptoany"
*cupsFilter: "application/octet-stream 0 gziptoany"
*cupsFilter: "application/pdf 0 gziptoany"
*cupsFilter: "application/postscript 0 gziptoany"
*OpenUI *PageSize: PickOne
*DefaultPageSize: A4
*PageSize A4/A4: "<</PageSize[595 842]>>setpagedevice"
*CloseUI: *PageSize
*DefaultPageRegion: A4
*PageRegion A4/A4: "<</PageSize[595 842]>>setpagedevice"
*DefaultImageableArea: A4
*ImageableArea A4/A4: "0 0 595 842"
*DefaultPaperDimension: A4
*PaperDimension A4/A4: "595 842"
EOF
t_node_spawn CUPSD /usr/sbin/cupsd -f -c "$CUPS/cupsd.conf" -s "$CUPS/cups-files.conf" \
  >>"$CUPS/log/stdout" 2>&1
# ccups CMD ARGS...: a CUPS command on the client's CUPS (-h first: lpstat acts on its
# options in their order)
ccups() { t_in_node "$1" -h "127.0.0.1:$CPORT" "${@:2}"; }
cups_up() { ccups lpstat -r 2>/dev/null | grep -q 'is running'; }
t_wait 30 cups_up || { t_fail "the client's cupsd starts"; cat "$CUPS/log/error_log" >&2; exit 1; }
ccups lpadmin -p office -E -v "file://$OUT/office.prn" -P "$CUPS/file.ppd" 2>/dev/null &&
  ccups lpadmin -p label -E -v "file://$OUT/label.prn" -P "$CUPS/file.ppd" 2>/dev/null &&
  ccups lpadmin -d office ||
  { t_fail "the client's printers are added"; exit 1; }

cat >"$T_DIR/client.conf" <<EOF
client.printing.cups.port = $CPORT
EOF
connect() { client C --vm-id 1 --geometry 800x600 --config "$T_DIR/client.conf" "$@" 2>>"$T_DIR/client.log"; }
disconnect() {
  kill "$C" 2>/dev/null; t_wait 10 dead "$C"; C=
  t_wait 20 slot_free 1 && t_wait 30 is_x suspended
}
is_x() { [ "$(x_state 1)" = "$1" ]; }
vm_printers() { in_vm 1 lpstat -e 2>/dev/null | grep '^QVD-' | sort | tr '\n' ' '; }
has_printers() { [ "$(vm_printers)" = "QVD-label QVD-office " ]; }
no_printers() { [ -z "$(vm_printers)" ]; }
agent_options() { in_vm 1 sh -c 'cat /var/run/qvd/nxagent-*.options'; }
# print_page MARK: a text page with MARK printed in the VM as alice on QVD-office
print_page() {
  in_vm 1 sh -c "printf 'QVD printing test page\n%s\n' '$1' >/tmp/page-$1.txt" &&
    in_vm 1 runuser -u alice -- lp -d QVD-office "/tmp/page-$1.txt" >/dev/null
}
printed() { grep -q "$1" "$OUT/office.prn" 2>/dev/null; }
job_of_alice() { ccups lpstat -W completed -o office 2>/dev/null | grep -q " alice "; }

# ---- a client that asks for printing
connect --printing
# nothing after this can pass without a session (and its waits would only add up)
if desktop_shown 90; then t_ok "the session starts with printing asked for"
else t_fail "the session starts with printing asked for"; tail -5 "$T_DIR/client.log"; exit 1; fi
t_check "nxagent got the cups channel (cups=2100)" eval 'agent_options | grep -q ",cups=2100,"'
t_check "the client's printers are in the VM as QVD-label and QVD-office" t_wait 60 has_printers
t_check "QVD-office prints to the channel's port" \
  eval 'in_vm 1 lpstat -v QVD-office | grep -q "ipp://127.0.0.1:2100/printers/office"'
t_check "the client's default printer is the VM's default" \
  eval 'in_vm 1 lpstat -d | grep -q "destination: QVD-office"'
MARK1=page-one-$RANDOM$RANDOM
print_page "$MARK1"
t_check "a page printed in the VM comes out on the client's printer with its text" \
  t_wait 60 printed "$MARK1"
t_check "it is a completed job of alice on the client's CUPS" t_wait 20 job_of_alice

# ---- suspend and resume
disconnect
t_check "the session is suspended" is_x suspended
t_check "the printers are removed from the VM at suspend" t_wait 30 no_printers
connect --printing
t_check "the session resumes" desktop_shown 90
t_check "the VMA sees the session resumed (connected)" t_wait 30 is_x connected
t_check "the printers are back after the resume" t_wait 60 has_printers
MARK2=page-two-$RANDOM$RANDOM
print_page "$MARK2"
t_check "printing works after the resume" t_wait 60 printed "$MARK2"
disconnect

# ---- a client that does not ask: no channel, no printers
connect
t_check "a session without printing resumes" desktop_shown 90
t_check "nxagent got no cups channel" eval '! agent_options | grep -q cups='
t_check "no printer of the client in the VM" no_printers
disconnect

# ---- QVD's own Perl client: its exact connect_to_vm (reference 2.6, printing on) and its
# nxproxy command line (-S ... cups=<port> localhost:N) get the same printers
QVD_QUERY='qvd.client.nxagent.extra_args=&qvd.client.fullscreen=&qvd.client.usb.implementation=USBIP&qvd.client.printing.enabled=1&qvd.client.os=linux&qvd.client.geometry=1024x768&qvd.client.audio.redirect.port=&qvd.client.audio.compression.enable=1&qvd.client.audio.redirect.server=&qvd.client.keyboard=pc105%2Fes&qvd.client.link=adsl&qvd.client.audio.redirect.enable=0&id=1&qvd.client.usb.enabled=0'
H= NXP=
t_cleanup_add 'kill $NXP $H'
t_node_spawn H "$QVD_BUILD/tests/helpers/l7r-connect" --l7r 127.0.0.1:$PORT --user alice \
  --password pw --vm 1 --listen 4077 --query "$QVD_QUERY" 2>"$T_DIR/qvd-client.log"
upgraded() { grep -q 'listening on' "$T_DIR/qvd-client.log"; }
t_wait 60 upgraded || t_diag "QVD's request got no 101: $(cat "$T_DIR/qvd-client.log")"
DISPLAY=$DISP HOME=$T_DIR t_node_spawn NXP nxproxy -S "cups=$CPORT" localhost:77 \
  >>"$T_DIR/nxproxy-qvd.log" 2>&1
t_check "QVD's request shape resumes the session" t_wait 60 is_x connected
t_check "nxagent got the cups channel for QVD's request" eval 'agent_options | grep -q ",cups=2100,"'
t_check "QVD's client gets the printers in the VM too" t_wait 60 has_printers
MARK3=page-three-$RANDOM$RANDOM
print_page "$MARK3"
t_check "a page printed in the VM comes out through QVD's client's nxproxy" t_wait 60 printed "$MARK3"
kill "$NXP" "$H" 2>/dev/null; t_wait 10 dead "$NXP"; t_wait 10 dead "$H"; NXP= H=
t_wait 20 slot_free 1 && t_wait 30 is_x suspended
t_check "its printers are removed at suspend" t_wait 30 no_printers

# ---- the server has printing off: the client says so at once, the VM opens no channel
# a global row: the L7R reads it at each connection, the HKD at its start (vma.conf of
# the VMs it starts next)
admin vm stop --id 1 >/dev/null
t_wait 60 is_vm 1 stopped || t_diag "VM 1 did not stop: $(vm_state 1)"
admin config set vma.printing.enable 0 >/dev/null
kill "$HKD_PID"; t_wait 20 dead "$HKD_PID"
start_hkd
t_wait 20 is_host running || t_diag "the HKD did not start again"
: >"$T_DIR/client.log"
connect --printing
t_check "with vma.printing.enable = 0 the session starts" desktop_shown 120
t_check "the client says in one sentence that printing is off on this server" \
  eval '[ "$(grep -c "Printing is turned off on this server (vma.printing.enable)" "$T_DIR/client.log")" = 1 ]'
t_check "nxagent got no cups channel" eval '! agent_options | grep -q cups='
t_check "no printer of the client in the VM" no_printers
disconnect
echo "1..$T_N"
