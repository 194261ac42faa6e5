#!/usr/bin/env bash
# The cluster's administration (issue 13, items 2 and 6; docs/admin.md, docs/cluster.md):
# three nodes of tests/cluster_node.sh (each its own qvd-hkd, qvd-l7r, bridge and LXC
# containers of the test DI with QVD's nxagent, one PostgreSQL in the hub).
# - with A and C blocked, three users' VMs start on B (placement skips blocked nodes);
# - `host block B` drains it: B's VMs run on, a new VM starts on A or C;
# - `host list` shows each node's state, heartbeat age, VM count, memory and its VMs;
# - a user connected to B sees their desktop (pixels); `host evacuate B` blocks B, ends
#   that session (by admin) and stops B's VMs: "3 VMs stopped", B has none left and shows
#   blocked;
# - each user's next login (qvd-client through the nodes' L7Rs) runs their VM on A or C,
#   and the first user sees their desktop again (pixels).
# Runs on PostgreSQL only (its own server in the hub; tests/run.sh runs it once).
. "$(dirname "$0")/../lib.sh"
t_init
. "$(dirname "$0")/../cluster_node.sh"

USERS=(u1 u2 u3)
cluster_init 3 || { t_fail "the cluster is set up"; exit 1; }
admin osf add --name desk --memory 300 >/dev/null &&
  admin di add --osf desk --path "$DI" >/dev/null || { t_fail "the OSF and its DI"; exit 1; }
for u in "${USERS[@]}" u4; do
  admin user add --login "$u" --password pw >/dev/null &&
    admin vm add --name "desk-$u" --user "$u" --osf desk >/dev/null ||
    { t_fail "user $u and their VM"; exit 1; }
done
for x in A B C; do
  start_node "$x" || { t_fail "node $x starts"; exit 1; }
done
t_ok "three nodes run"
vm_id() { sql "SELECT id FROM vms WHERE name = 'desk-$1'"; }
# hostview NAME FIELD: one field of the node's row in `host list --json`
hostview() {
  admin --json host list --name "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0][sys.argv[1]])' "$2"
}

# ---- the three users' VMs on B: A and C blocked meanwhile ----
admin host block --name A >/dev/null && admin host block --name C >/dev/null
for u in "${USERS[@]}"; do
  admin vm start --id "$(vm_id "$u")" >/dev/null || t_diag "vm start $u: $(admin vm start --id "$(vm_id "$u")" 2>&1)"
done
on_b() { local u; for u in "${USERS[@]}"; do [ "$(vm_node "$(vm_id "$u")")" = B ] || return 1; done; }
if t_wait 240 on_b; then t_ok "with A and C blocked, the three VMs start on B"
else t_fail "the three VMs on B"; for u in "${USERS[@]}"; do t_diag "$u: $(vm_node "$(vm_id "$u")")"; done; fi
admin host unblock --name A >/dev/null && admin host unblock --name C >/dev/null

# ---- drain: B blocked, its VMs run on, a new VM goes elsewhere ----
admin host block --name B >/dev/null
admin vm start --id "$(vm_id u4)" >/dev/null
elsewhere() { case "$(vm_node "$(vm_id "$1")")" in A | C) return 0 ;; *) return 1 ;; esac; }
t_check "B blocked: a new VM starts on A or C" t_wait 180 elsewhere u4
t_check "... and B's three VMs run on there" on_b
t_check "... with no command pending" \
  [ "$(sql "SELECT count(*) FROM vm_runtimes WHERE host_id = $(host_id B) AND vm_state = 'running' AND vm_cmd IS NULL")" = 3 ]
admin vm stop --id "$(vm_id u4)" >/dev/null
admin host unblock --name B >/dev/null

# ---- the views ----
admin --json host list >"$T_DIR/hosts.json"
why=$(python3 - "$T_DIR/hosts.json" "$(for u in "${USERS[@]}"; do vm_id "$u"; done | sort -n | tr '\n' ,)" 2>&1 <<'PY'
import json, sys
h = {x["name"]: x for x in json.load(open(sys.argv[1]))}
b = h["B"]
assert all(h[x]["state"] == "running" for x in "ABC"), [h[x]["state"] for x in "ABC"]
assert all(0 <= h[x]["heartbeat_age"] <= 60 for x in "ABC"), [h[x]["heartbeat_age"] for x in "ABC"]
assert b["vms"] == 3 and b["vm_ids"] + "," == sys.argv[2], (b["vms"], b["vm_ids"])
assert b["memory_committed"] == 900, b["memory_committed"]
assert b["usable_ram"] > 0 and b["usable_cpu"] > 0, b
assert [h[x]["address"] for x in "ABC"] == ["192.168.77.%d" % i for i in (1, 2, 3)], h
assert [h[x]["vm_subnet"] for x in "ABC"] == ["10.%d.0.0/16" % i for i in (1, 2, 3)], h
PY
) && t_ok "host list: each node's state, heartbeat age, address, subnet; B's 3 VMs and 900 MiB" ||
  { t_fail "host list views: $(tail -1 <<<"$why")"; t_diag "$(cat "$T_DIR/hosts.json")"; }
refused_del() { ! admin host del --name B >"$T_DIR/out" 2>&1 && grep -q "has VMs assigned" "$T_DIR/out"; }
t_check "B cannot be removed while it has VMs" refused_del

# ---- u1 on B sees their desktop ----
xvfb_hub XVFB DISP || { t_fail "an X screen in the hub"; exit 1; }
LOGIN=u1 CL_HOSTS=192.168.77.2 client C1 >>"$T_DIR/client.log" 2>&1
if desktop_shown 120; then t_ok "u1 sees their desktop from B (pixels)"
else t_fail "u1's desktop from B"; tail -5 "$T_DIR/node-B/l7r.log" | while read -r l; do t_diag "$l"; done; fi

# ---- evacuate B ----
admin host evacuate --name B >"$T_DIR/evac" 2>&1
t_check "host evacuate B: 3 VMs stopped" grep -q "evacuated: 3 VMs stopped" "$T_DIR/evac"
none_on_b() { [ -z "$(running B)" ] && [ "$(sql "SELECT count(*) FROM vm_runtimes WHERE host_id = $(host_id B)")" = 0 ]; }
if t_wait 120 none_on_b; then t_ok "B runs no VM after the evacuation, and none is assigned to it"
else t_fail "B's VMs after the evacuation"; t_diag "running on B: $(running B)"; fi
t_check "B shows blocked" [ "$(hostview B state)" = blocked ]
ended() { [ "$(sql "SELECT reason FROM session_ends e JOIN vms v ON v.id = e.vm_id WHERE v.name = 'desk-u1' ORDER BY started_ts DESC LIMIT 1")" != "" ]; }
t_wait 60 ended
reason=$(sql "SELECT reason FROM session_ends e JOIN vms v ON v.id = e.vm_id WHERE v.name = 'desk-u1' ORDER BY started_ts DESC LIMIT 1")
case "$reason" in admin_disconnect | admin_stop) t_ok "u1's session on B ended by the administrator ($reason)" ;;
*) t_fail "u1's session ending: '$reason'" ;; esac
kill "$C1" 2>/dev/null; wait "$C1" 2>/dev/null
t_check "the evacuation is in the audit log" \
  [ "$(sql "SELECT status || '|' || source FROM audit_log WHERE action = 'host.evacuate' AND arguments LIKE '%\"B\"%'")" = "200|cli" ]

# ---- each user's next login lands on A or C ----
for u in "${USERS[@]}"; do
  LOGIN=$u CL_HOSTS=192.168.77.1,192.168.77.3 client "CL_$u" >>"$T_DIR/client.log" 2>&1
  if [ "$u" = u1 ]; then
    if desktop_shown 180; then t_ok "u1 logs in again and sees their desktop (pixels)"
    else t_fail "u1's desktop after the evacuation"; fi
  fi
  if t_wait 180 elsewhere "$u"; then t_ok "$u's next login runs their VM on $(vm_node "$(vm_id "$u")")"
  else t_fail "$u's VM after the login: on '$(vm_node "$(vm_id "$u")")'"; fi
done
t_check "B runs none of them" eval '[ -z "$(running B)" ]'
t_check "host list: B blocked with no VM" eval '[ "$(hostview B state) $(hostview B vms)" = "blocked 0" ]'
t_check "no VM runs on two nodes" eval \
  '[ "$(for x in A B C; do running $x; done | tr -s " \t" "\n" | grep . | sort | uniq -d)" = "" ]'

echo "1..$T_N"
