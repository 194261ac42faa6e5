#!/usr/bin/env bash
# openapi.sh: docs/openapi.yaml stays true to the sources, read without starting anything:
# it parses as OpenAPI 3.0.3 with every $ref resolved; every resource of the objects'
# description (src/lib/resource.c, as tests/helpers/describe prints it) has its list path
# (and its get path when its rows have ids) whose row schema has exactly the resource's
# listed fields, JSON types and ACL object; every create/update/delete the description
# allows is there with the same body members (names, types, required, limits, no others);
# every action of the actions[] table of src/api/h_actions.c has its path with
# its ACL; every member of an api_member table is in some request body; and the error code
# enum holds exactly the codes src/api/*.c answers.
. "$(dirname "$0")/../lib.sh"
t_init
DOC=$QVD_TOP/docs/openapi.yaml
DESCRIBE=$QVD_BUILD/tests/helpers/describe
[ -x "$DESCRIBE" ] || { t_fail "tests/helpers/describe is built"; exit 1; }
"$DESCRIBE" >"$T_DIR/description.json" || { t_fail "describe prints the description"; exit 1; }

[ -f "$DOC" ] || { t_fail "docs/openapi.yaml exists"; exit 1; }
if ! python3 -c 'import yaml' 2>/dev/null; then
  t_fail "python3 can import yaml (python3-yaml, scripts/install-deps.sh)"
  exit 1
fi

# The checks print one line each: "ok<TAB>NAME" or "fail<TAB>NAME<TAB>DETAIL".
python3 - "$QVD_TOP" "$T_DIR/description.json" >"$T_DIR/out" 2>"$T_DIR/err" <<'PY'
import glob, json, os, re, sys
import yaml

top = sys.argv[1]
def src(path):
    with open(os.path.join(top, path)) as f:
        return f.read()
def report(name, problems):
    if problems:
        print("fail\t%s\t%s" % (name, "; ".join(problems)))
    else:
        print("ok\t%s" % name)

# ---- (a) the document parses; every $ref resolves ----
try:
    with open(os.path.join(top, "docs/openapi.yaml")) as f:
        doc = yaml.safe_load(f)
except yaml.YAMLError as e:
    report("docs/openapi.yaml parses as YAML", [str(e).replace("\n", " ")])
    sys.exit(0)
report("docs/openapi.yaml parses as YAML", [])
problems = []
if not isinstance(doc, dict) or doc.get("openapi") != "3.0.3":
    problems.append("openapi is not 3.0.3")
for key in ("info", "servers", "paths", "components"):
    if not isinstance(doc, dict) or key not in doc:
        problems.append("no " + key)
report("it is an OpenAPI 3.0.3 document with info, servers, paths and components", problems)
if problems:
    sys.exit(0)
paths, comps = doc["paths"], doc["components"]

def lookup(ref):
    if not ref.startswith("#/"):
        raise KeyError(ref)
    node = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node
def deref(node):
    while isinstance(node, dict) and "$ref" in node:
        node = lookup(node["$ref"])
    return node
bad_refs = []
def walk(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            try:
                lookup(node["$ref"])
            except (KeyError, TypeError, IndexError):
                bad_refs.append(node["$ref"])
        for v in node.values():
            walk(v)
    elif isinstance(node, list):
        for v in node:
            walk(v)
walk(doc)
report("every $ref resolves", ["unresolved " + r for r in sorted(set(bad_refs))])
if bad_refs:
    sys.exit(0)

problems = []
for p, item in paths.items():
    for m, op in item.items():
        if m in ("parameters", "summary", "description"):
            continue
        if not isinstance(op, dict) or not op.get("responses"):
            problems.append("%s %s has no responses" % (m.upper(), p))
        elif op.get("security", doc.get("security")) and "401" not in op["responses"]:
            problems.append("%s %s needs a session but answers no 401" % (m.upper(), p))
report("every operation has responses (401 where a session is needed)", problems)

def op_of(path, method):
    return (paths.get(path) or {}).get(method)
def body_schema(op):
    rb = deref(op.get("requestBody") or {})
    schema = ((rb.get("content") or {}).get("application/json") or {}).get("schema")
    return deref(schema) if schema else None
def json_type(prop):
    """integer, string, boolean (the Flag schema: true/false/0/1) or None"""
    if "$ref" in prop:
        return "boolean" if prop["$ref"].endswith("/Flag") else json_type(deref(prop))
    if "allOf" in prop and len(prop["allOf"]) == 1:
        return json_type(prop["allOf"][0])
    return prop.get("type")

# ---- (b) the resources of the description ----
with open(sys.argv[2]) as f:
    described = json.load(f)
TYPE_NAME = {"integer": "INT", "string": "TEXT", "boolean": "BOOL"}
resources = [(r["name"], r["object"],
              [(f["name"], TYPE_NAME[f["type"]], f["basic"]) for f in r["fields"] if f["listed"]],
              r["id"]) for r in described]
problems = []
if len(resources) < 10:
    problems.append("the description has only %d resources" % len(resources))
for name, obj, fields, has_id in resources:
    if fields is None:
        problems.append("cannot read the fields of resource " + name)
    if not op_of("/" + name, "get"):
        problems.append("no GET /%s" % name)
    elif has_id and not op_of("/%s/{id}" % name, "get"):
        problems.append("no GET /%s/{id}" % name)
report("every resource of src/lib/resource.c (%s) has its list path"
       % " ".join(r[0] for r in resources), problems)

problems = []
TYPES = {"INT": "integer", "TEXT": "string", "BOOL": "boolean"}
for name, obj, fields, has_id in resources:
    op = op_of("/" + name, "get")
    if not op or fields is None:
        continue
    try:
        env = deref(op["responses"]["200"])["content"]["application/json"]["schema"]
        env = deref(env)
        rows = None
        for part in env.get("allOf", [env]):
            part = deref(part)
            if "rows" in part.get("properties", {}):
                rows = part["properties"]["rows"].get("items")
        row = deref(rows)
        props = row["properties"]
    except (KeyError, TypeError):
        problems.append("/%s: no row schema in its 200 answer" % name)
        continue
    if row.get("x-acl-object") != obj:
        problems.append("/%s rows: x-acl-object %r, resource.c says %r"
                        % (name, row.get("x-acl-object"), obj))
    want = {f: t for f, t, _ in fields}
    for f in sorted(set(want) - set(props)):
        problems.append("/%s rows lack the field %s" % (name, f))
    for f in sorted(set(props) - set(want)):
        problems.append("/%s rows have %s, which resource.c does not" % (name, f))
    for f in sorted(set(want) & set(props)):
        if json_type(props[f]) != TYPES[want[f]]:
            problems.append("/%s rows: %s is %s, resource.c says %s"
                            % (name, f, json_type(props[f]), TYPES[want[f]]))
    basic = sorted(f for f, _, b in fields if b)
    if sorted(row.get("x-basic-fields") or []) != basic:
        problems.append("/%s rows: x-basic-fields %s, resource.c says %s"
                        % (name, row.get("x-basic-fields"), basic))
report("each resource's row schema has its fields, JSON types, basic fields and ACL object",
       problems)

# ---- create, update and delete bodies: the description's members ----
def limits_of(prop):
    """(min, max) the schema gives a member: minimum/maximum, minLength/maxLength"""
    prop = deref(prop)
    for part in prop.get("allOf", []):
        lo, hi = limits_of(part)
        if lo is not None or hi is not None:
            return lo, hi
    if "minimum" in prop or "maximum" in prop:
        return prop.get("minimum"), prop.get("maximum")
    return prop.get("minLength"), prop.get("maxLength")
problems = []
seen = 0
for r in described:
    for verb, path_fmt, method in (("create", "/%s", "post"), ("update", "/%s/{id}", "patch")):
        if not r["verbs"][verb]:
            continue
        seen += 1
        members = [f for f in r["fields"] if f[verb]]
        path = path_fmt % r["name"]
        op = op_of(path, method)
        if not op:
            problems.append("no %s %s" % (method.upper(), path))
            continue
        schema = body_schema(op)
        if not schema:
            problems.append("%s %s has no JSON body" % (method.upper(), path))
            continue
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is not False:
            problems.append("%s %s: additionalProperties is not false" % (method.upper(), path))
        names = {f["name"] for f in members}
        if set(props) != names:
            problems.append("%s %s: members %s, the description has %s"
                            % (method.upper(), path, sorted(props), sorted(names)))
        for f in members:
            if f["name"] not in props:
                continue
            if json_type(props[f["name"]]) != f["type"]:
                problems.append("%s %s: %s is %s, the description says %s"
                                % (method.upper(), path, f["name"], json_type(props[f["name"]]),
                                   f["type"]))
            if f["type"] != "boolean" and limits_of(props[f["name"]]) != (f["min"], f["max"]):
                problems.append("%s %s: %s has limits %s, the description %s"
                                % (method.upper(), path, f["name"], limits_of(props[f["name"]]),
                                   (f["min"], f["max"])))
        req = sorted(f["name"] for f in members if verb == "create" and f["required"])
        if sorted(schema.get("required", [])) != req:
            problems.append("%s %s: required %s, the description says %s"
                            % (method.upper(), path, sorted(schema.get("required", [])), req))
deleted = [r["name"] for r in described if r["verbs"]["delete"]]
for res in deleted:
    if not op_of("/%s/{id}" % res, "delete"):
        problems.append("no DELETE /%s/{id}" % res)
for p, item in paths.items():
    m = re.fullmatch(r"/(\w+)/\{id\}", p)
    if m and "delete" in item and m.group(1) not in deleted:
        problems.append("DELETE %s is documented but the description deletes no %s"
                        % (p, m.group(1)))
if seen < 10:
    problems.append("the description has only %d create/update verbs" % seen)
report("create, update and delete of the description: paths and bodies (members, types,"
       " required, limits, additionalProperties false)", problems)

# ---- (c) the actions of src/api/h_actions.c ----
act_c = src("src/api/h_actions.c")
m = re.search(r"static const struct action actions\[\] = \{(.*?)\n\};", act_c, re.S)
actions = re.findall(r'\{\s*"(\w+)"\s*,\s*"(\w+)"\s*,\s*"([\w.]+)"\s*(?:,\s*\w+\s*)?\}',
                     m.group(1) if m else "")
problems = [] if actions else ["cannot read the actions[] table of src/api/h_actions.c"]
for res, name, acl in actions:
    path = "/%s/{id}/%s" % (res, name)
    op = op_of(path, "post")
    if not op:
        problems.append("no POST " + path)
    elif op.get("x-acl") != acl:
        problems.append("POST %s: x-acl %r, h_actions.c says %r" % (path, op.get("x-acl"), acl))
report("every action of h_actions.c (%d) has its POST path with its ACL" % len(actions), problems)

# ---- every api_member of src/api is in some request body ----
MEMBER_RE = re.compile(r'\{\s*"(\w+)"\s*,\s*API_(STR|INT|BOOL)\s*,\s*(true|false)\s*\}')
API_TYPES = {"STR": "string", "INT": "integer", "BOOL": "boolean"}
documented = {}
for name, s in comps.get("schemas", {}).items():
    if s.get("additionalProperties") is False:
        for k, v in (s.get("properties") or {}).items():
            documented.setdefault(k, set()).add(json_type(v))
problems = []
n = 0
for f in sorted(glob.glob(os.path.join(top, "src/api/*.c"))):
    for table in re.findall(r"struct api_member \w+\[\] = \{(.*?)\{0\}\s*\};", src(f), re.S):
        for name, t, _ in MEMBER_RE.findall(table):
            n += 1
            if API_TYPES[t] not in documented.get(name, set()):
                problems.append("%s (%s, %s) is in no request body schema"
                                % (name, API_TYPES[t], os.path.basename(f)))
if n == 0:
    problems.append("found no api_member tables in src/api")
report("every request member of src/api/*.c (%d) is in a request body schema" % n, problems)

# ---- (d) the error codes ----
def call_args(text, start):
    """the top-level arguments of the call whose '(' is at text[start]"""
    depth, args, cur, i, q = 0, [], "", start, None
    while i < len(text):
        c = text[i]
        if q:
            cur += c
            if c == "\\":
                cur += text[i + 1]; i += 1
            elif c == q:
                q = None
        elif c in "\"'":
            q = c; cur += c
        elif c == "(":
            depth += 1
            if depth > 1: cur += c
        elif c == ")":
            depth -= 1
            if depth == 0:
                args.append(cur); return args
            cur += c
        elif c == "," and depth == 1:
            args.append(cur); cur = ""
        else:
            cur += c
        i += 1
    return args
used = {}
for f in sorted(glob.glob(os.path.join(top, "src/api/*.c"))):
    text = src(f)
    for m in re.finditer(r"\b(api_error|loop_error)\s*\(", text):
        args = call_args(text, m.end() - 1)
        if len(args) < 3 or args[0].strip() in ("struct api_ctx *x", "struct api_conn *c"):
            continue  # the definition
        for code in re.findall(r'"(\w+)"', args[2]):
            used.setdefault(code, set()).add("%s:%d" % (os.path.basename(f),
                                                        text.count("\n", 0, m.start()) + 1))
enum = (comps.get("schemas", {}).get("ErrorCode") or {}).get("enum") or []
problems = ["%s (%s) is not in ErrorCode" % (c, ", ".join(sorted(w)))
            for c, w in sorted(used.items()) if c not in enum]
if len(used) < 10:
    problems.append("found only %d error codes in src/api/*.c" % len(used))
report("every error code of src/api/*.c (%s) is in the ErrorCode enum" % " ".join(sorted(used)),
       problems)
report("the ErrorCode enum has no code that src/api/*.c never answers",
       ["%s is never answered" % c for c in enum if c not in used])

PY
rc=$?
while IFS=$'\t' read -r status name detail; do
  case $status in
    ok) t_ok "$name" ;;
    skip) t_skip "$name" "$detail" ;;
    *) t_fail "$name"; t_diag "$detail" ;;
  esac
done <"$T_DIR/out"
# the OpenAPI document itself, against the OpenAPI 3.0 schema (an npm package that
# scripts/install-deps.sh installs)
NPM_MODULES=/var/cache/qvd/npm/node_modules
if [ -d "$NPM_MODULES/@apidevtools/swagger-parser" ] && command -v node >/dev/null; then
  why=$(NODE_PATH=$NPM_MODULES node "$QVD_TOP/tests/helpers/openapi-validate.js" "$QVD_TOP/docs/openapi.yaml" 2>&1)
  if [ "$why" = valid ]; then t_ok "docs/openapi.yaml is valid OpenAPI 3.0 (swagger-parser)"
  else t_fail "docs/openapi.yaml is valid OpenAPI 3.0 (swagger-parser): $why"; fi
else
  t_skip "docs/openapi.yaml is valid OpenAPI 3.0" "no $NPM_MODULES/@apidevtools/swagger-parser (scripts/install-deps.sh installs it)"
fi
if [ $rc -ne 0 ] || [ ! -s "$T_DIR/out" ]; then
  t_fail "the checks ran (python3 exited with $rc)"
  sed 's/^/# /' "$T_DIR/err"
fi
