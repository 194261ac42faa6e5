# images/di-common.sh: helpers shared by the DI build scripts (sourced, not run).
# Output naming, atomic publication of a tarball or a directory, and the /etc files that
# every QVD DI carries; how the Debian mirror is read from this machine's apt sources.

di_log() { printf '%s: %s\n' "${DI_PROG:-di}" "$*" >&2; }
di_die() { di_log "error: $*"; exit 1; }

# di_tar_compress_flag OUT: the tar option that compresses for OUT's extension, or
# nothing for a plain .tar. Fails for a name that is not a tarball the node can unpack.
di_tar_compress_flag() {
  case "$1" in
    *.tar) echo "" ;;
    *.tar.gz | *.tgz) echo "--gzip" ;;
    *.tar.xz | *.txz) echo "--xz" ;;
    *.tar.zst | *.tzst) echo "--zstd" ;;
    *) return 1 ;;
  esac
}

# di_publish_tar ROOT OUT: packs ROOT (basic layout: its contents at the top of the
# archive, numeric owners) into a temporary file next to OUT and renames it over OUT, so
# OUT is either the old image or the complete new one, never a partial file.
di_publish_tar() {
  local root=$1 out=$2 flag tmp
  flag=$(di_tar_compress_flag "$out") || di_die "$out: name must end in .tar, .tar.gz, .tgz, .tar.xz or .tar.zst"
  tmp=$(mktemp "$(dirname "$out")/.$(basename "$out").tmp.XXXXXX") || return 1
  # XZ_OPT/ZSTD_CLEVEL keep compression multi-threaded and reasonably quick.
  if ! XZ_OPT=${XZ_OPT:--T0 -6} tar -C "$root" --numeric-owner --sort=name \
      ${flag:+"$flag"} -cf "$tmp" .; then
    rm -f "$tmp"; return 1
  fi
  chmod 0644 "$tmp"
  mv -f "$tmp" "$out"
}

# di_publish_dir ROOT OUT: moves ROOT (which must be on OUT's file system) to OUT. An old
# OUT is first renamed aside and removed afterwards; readers see either the old tree or
# the new one (OUT is briefly absent between the two renames).
di_publish_dir() {
  local root=$1 out=$2 old=""
  if [ -e "$out" ] || [ -L "$out" ]; then
    old=$(mktemp -d "$(dirname "$out")/.$(basename "$out").old.XXXXXX") || return 1
    mv -T "$out" "$old/tree" || { rmdir "$old"; return 1; }
  fi
  if ! mv -T "$root" "$out"; then
    [ -n "$old" ] && mv -T "$old/tree" "$out"
    return 1
  fi
  [ -n "$old" ] && rm -rf --one-file-system "$old"
  return 0
}

# di_write_identity ROOT: the per-VM identity files a DI must not fix: a placeholder
# hostname (LXC sets the real one), loopback in /etc/hosts, an empty machine-id so each
# container generates its own.
di_write_identity() {
  local root=$1
  mkdir -p "$root/etc"
  echo "qvd-vm" >"$root/etc/hostname"
  chmod 0644 "$root/etc/hostname"
  cat >"$root/etc/hosts" <<'EOF'
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
EOF
  : >"$root/etc/machine-id"
  rm -f "$root/var/lib/dbus/machine-id"
}

# di_check_elves ROOT [EXTRA...]: every ELF file in ROOT (and each EXTRA file, copied in for
# the check) must find all its shared libraries inside ROOT. Prints the missing ones.
# Files under DI_ELF_CHECK_SKIP (globs relative to ROOT, space-separated) are not checked:
# plugins that their program loads only if the optional library is there.
di_check_elves() {
  local root=$1 f missing skip=() globs=() g; shift
  local extra_dir=$root/tmp/.qvd-elf-check
  if [ $# -gt 0 ]; then
    mkdir -p "$extra_dir"
    for f in "$@"; do
      [ -f "$f" ] || { di_log "error: --check-elf $f: no such file"; return 1; }
      cp "$f" "$extra_dir/"
    done
  fi
  read -ra globs <<<"${DI_ELF_CHECK_SKIP:-}"
  for g in "${globs[@]}"; do skip+=(! -path "./$g"); done
  # ldd prints "FILE:" headers only for two or more files, hence the extra /usr/bin/true.
  missing=$(
    cd "$root" && find . -xdev -type f \( -perm /111 -o -name '*.so' -o -name '*.so.*' \) \
      "${skip[@]}" -print0 | xargs -0 -r grep -alZ -m1 $'^\x7fELF' 2>/dev/null | sed -z 's|^\.||' |
      chroot "$root" /usr/bin/xargs -0 -r -n 200 /usr/bin/ldd /usr/bin/true 2>/dev/null |
      awk '/^[^\t].*:$/ { file = substr($0, 1, length($0) - 1); next }
           /not found/ { print file ": " $1 }' || true
  )
  rm -rf "$extra_dir"
  if [ -n "$missing" ]; then
    di_log "error: shared libraries missing in the image:"
    printf '%s\n' "$missing" | sed 's/^/  /' >&2
    return 1
  fi
}

# di_validate ROOT EXTRA...: the tools the VMA runs work inside the image and every ELF
# file finds its libraries (see di_check_elves).
di_validate() {
  local root=$1; shift
  chroot "$root" /usr/bin/nxagent -version >/dev/null 2>&1 || { di_log "error: nxagent -version fails in the image"; return 1; }
  chroot "$root" /usr/sbin/useradd --help >/dev/null 2>&1 || { di_log "error: useradd --help fails in the image"; return 1; }
  di_check_elves "$root" "$@"
}

# di_human_size FILE|DIR: its size on disk, human readable.
# di_write_pulse_conf ROOT: no PulseAudio started by a program that finds none (libpulse's
# autospawn): the VMA starts the user's own, with the session's tunnels (docs/vma.md).
di_write_pulse_conf() {
  mkdir -p "$1/etc/pulse/client.conf.d"
  echo "autospawn = no" >"$1/etc/pulse/client.conf.d/00-qvd.conf"
  chmod 0644 "$1/etc/pulse/client.conf.d/00-qvd.conf"
}
di_human_size() { du -sh --apparent-size "$1" 2>/dev/null | cut -f1; }

# --- the Debian mirror, from this machine's apt sources ---------------------------------

# The apt configuration the mirror is read from (overridable for tests).
APT_SOURCES_LIST=${APT_SOURCES_LIST:-/etc/apt/sources.list}
APT_SOURCES_DIR=${APT_SOURCES_DIR:-/etc/apt/sources.list.d}

# apt_source_files: the apt source files of this machine, in the order apt reads them.
apt_source_files() {
  [ -f "$APT_SOURCES_LIST" ] && echo "$APT_SOURCES_LIST"
  local f
  for f in "$APT_SOURCES_DIR"/*.list "$APT_SOURCES_DIR"/*.sources; do
    [ -f "$f" ] && echo "$f"
  done
  return 0
}

# apt_source_entries FILE...: one line "TYPE URI SUITE [COMPONENT...]" per source and
# suite, from one-line files (*.list: "deb [opts] URI SUITE COMP...") and deb822 files
# (*.sources: Types/URIs/Suites/Components paragraphs; "Enabled: no" ones skipped).
# Comments, options and blank lines are dropped.
apt_source_entries() {
  [ $# -gt 0 ] || return 0
  awk '
    function flush(   nt, nu, ns, i, j, k, t, u, s) {
      if (have && tolower(f["enabled"]) !~ /^[ \t]*no[ \t]*$/) {
        nt = split(f["types"], t); nu = split(f["uris"], u); ns = split(f["suites"], s)
        for (i = 1; i <= nt; i++) for (j = 1; j <= nu; j++) for (k = 1; k <= ns; k++)
          print t[i], u[j], s[k], f["components"]
      }
      for (i in f) delete f[i]
      have = 0; key = ""
    }
    FNR == 1 { flush(); d822 = (FILENAME ~ /\.sources$/) }
    d822 {
      if ($0 ~ /^[ \t]*#/) next
      line = $0
      if (line ~ /^[ \t]*$/) { flush(); next }
      if (line ~ /^[ \t]/) { if (key != "") f[key] = f[key] " " line; next }
      c = index(line, ":"); if (c == 0) next
      key = tolower(substr(line, 1, c - 1)); f[key] = substr(line, c + 1); have = 1
      next
    }
    {
      line = $0; sub(/#.*/, "", line)
      o = index(line, "[")
      if (o) { c = index(line, "]"); if (c > o) line = substr(line, 1, o - 1) " " substr(line, c + 1) }
      n = split(line, w); if (n < 3) next
      comps = ""; for (i = 4; i <= n; i++) comps = comps " " w[i]
      print w[1], w[2], w[3] comps
    }
    END { flush() }
  ' "$@"
}

# debian_mirror SUITE [FILE...]: the URI of the first "deb" source carrying SUITE's main
# component, read from FILE... (default: this machine's apt sources). Failing an exact
# suite, a source of one of SUITE's non-security companions (SUITE-updates, ...) is
# taken. Only http, https, ftp and file URIs (what debootstrap can fetch). Prints nothing
# and fails if there is none.
debian_mirror() {
  local suite=$1; shift
  local -a files=("$@")
  [ $# -gt 0 ] || mapfile -t files < <(apt_source_files)
  [ ${#files[@]} -gt 0 ] || return 1
  local uri
  uri=$(apt_source_entries "${files[@]}" | awk -v s="$suite" '
    $1 != "deb" || $2 !~ /^(https?|ftp|file):/ || (" " $0 " ") !~ / main / { next }
    $3 == s { print $2; found = 1; exit }
    !alt && index($3, s "-") == 1 && $3 !~ /-security$/ && $2 !~ /security/ { alt = $2 }
    END { if (!found && alt != "") print alt }')
  [ -n "$uri" ] || return 1
  echo "${uri%/}"
}

# has_source SUITE URI [FILE...]: true if the apt sources list URI for SUITE.
has_source() {
  local suite=$1 uri=$2; shift 2
  local -a files=("$@")
  [ $# -gt 0 ] || mapfile -t files < <(apt_source_files)
  apt_source_entries "${files[@]}" |
    awk -v s="$suite" -v u="$uri" '$1 == "deb" && $3 == s { x = $2; sub(/\/$/, "", x); if (x == u) f = 1 } END { exit !f }'
}
