#!/bin/sh
# make test-deb: checks the packages `make deb` built.
#
#   test-deb.sh roost_V_ARCH.deb libroost0_V_ARCH.deb libroost-dev_V_ARCH.deb
#
# 1. dpkg-deb -c / -I: every file the issue names is in the package, and
#    /etc/roost/roost.cfg is a conffile.
# 2. lintian: errors fail; warnings and infos are printed (README.md,
#    "Installing", explains the remaining ones).
# 3. With ROOST_DEB_INSTALL=1 (as root, on a machine where that is
#    acceptable): dpkg -i of the three packages, then: the postinst started
#    nothing (no systemd runs here, as in a chroot), the roost user and
#    /var/lib/roost exist, `man roost-server` and roost-server --help work,
#    the installed unit's command line run as user roost serves on a free
#    loopback port (the installed roost.cfg uses 2181, so --clientPort
#    overrides it) and answers ruok, SIGTERM stops it with status 0; then
#    dpkg --purge and nothing of the package is left but the roost user
#    (Debian keeps system users).  Without it, step 3 is skipped and says so.
set -eu

[ $# -eq 3 ] || { echo "usage: $0 ROOST.deb LIBROOST0.deb LIBROOST-DEV.deb" >&2; exit 2; }
ROOST_DEB=$1 LIB_DEB=$2 DEV_DEB=$3
fail() { echo "test-deb: FAIL: $*" >&2; exit 1; }

# -- 1. contents ------------------------------------------------------------
list=$(dpkg-deb -c "$ROOST_DEB" | awk '{print $6}')
for f in ./etc/roost/roost.cfg ./lib/systemd/system/roost.service \
         ./lib/systemd/system/roost@.service ./usr/lib/sysusers.d/roost.conf \
         ./usr/sbin/roost-server ./usr/bin/roost ./usr/bin/roost-dump \
         ./usr/bin/roost-bench ./usr/share/man/man8/roost-server.8.gz \
         ./usr/share/man/man1/roost.1.gz ./usr/share/man/man1/roost-dump.1.gz \
         ./usr/share/man/man1/roost-bench.1.gz; do
  echo "$list" | grep -qx "$f" || fail "$ROOST_DEB lacks $f"
done
dpkg-deb -c "$LIB_DEB" | awk '{print $6}' | grep -qx './usr/lib/libroost.so.0' ||
  fail "$LIB_DEB lacks usr/lib/libroost.so.0"
for f in ./usr/include/roost.h ./usr/lib/libroost.so ./usr/lib/libroost.a \
         ./usr/lib/pkgconfig/roost.pc; do
  dpkg-deb -c "$DEV_DEB" | awk '{print $6}' | grep -qx "$f" || fail "$DEV_DEB lacks $f"
done
ctl=$(mktemp -d)
trap 'rm -rf "$ctl"' EXIT
dpkg-deb -e "$ROOST_DEB" "$ctl/DEBIAN"
grep -qx /etc/roost/roost.cfg "$ctl/DEBIAN/conffiles" || fail "roost.cfg is not a conffile"
# The postinst starts the service only through deb-systemd-invoke, and only
# when systemd runs (debhelper's guard): nothing starts in a chroot.
grep -q 'if \[ -d /run/systemd/system \]; then' "$ctl/DEBIAN/postinst" ||
  fail "postinst does not guard the start on a running systemd"
! grep -E '^[^#]*(systemctl start|roost-server)' "$ctl/DEBIAN/postinst" ||
  fail "postinst starts something by itself"
echo "test-deb: contents ok"

# -- 2. lintian -------------------------------------------------------------
changes=${ROOST_DEB%.deb}.changes
lintian --fail-on error --pedantic -I "$changes" 2>&1 |
  grep -v '^running with root privileges' || true
lintian --fail-on error "$changes" >/dev/null 2>&1 || fail "lintian reports errors"
echo "test-deb: lintian: no errors"

# -- 3. install on this machine (opt-in) ------------------------------------
if [ "${ROOST_DEB_INSTALL:-0}" != 1 ]; then
  echo "test-deb: dpkg -i skipped (ROOST_DEB_INSTALL=1 to install, run and purge here)"
  exit 0
fi
[ "$(id -u)" = 0 ] || fail "ROOST_DEB_INSTALL=1 needs root"
if dpkg-query -W -f='${Status}' roost 2>/dev/null | grep -q installed; then
  fail "a roost package is already installed here; not touching it"
fi
[ ! -d /run/systemd/system ] ||
  echo "test-deb: note: systemd runs here; the package will start roost.service"

dpkg_retry() {  # apt/dpkg of another session may hold the lock
  i=0
  until dpkg "$@"; do
    i=$((i + 1)); [ $i -lt 30 ] || return 1
    echo "test-deb: dpkg busy, retrying"; sleep 10
  done
}
pid=""
cleanup() {
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  dpkg_retry --purge roost libroost-dev libroost0 >/dev/null || true
  rm -rf "$ctl"
}
trap cleanup EXIT
dpkg_retry -i "$ROOST_DEB" "$LIB_DEB" "$DEV_DEB"

getent passwd roost >/dev/null || fail "no roost user after install"
[ "$(stat -c %U:%a /var/lib/roost)" = roost:750 ] || fail "/var/lib/roost: $(stat -c %U:%a /var/lib/roost)"
if [ ! -d /run/systemd/system ] && pgrep -u roost >/dev/null; then
  fail "the postinst started a process without systemd"
fi
man -w roost-server | grep -q '/usr/share/man/man8/roost-server.8.gz' || fail "man -w roost-server"
MANWIDTH=80 man roost-server 2>/dev/null | grep -q 'roost-server - coordination service' ||
  fail "man roost-server does not render"
/usr/sbin/roost-server --help | grep -q usage || fail "roost-server --help"
pkg-config --exists roost || fail "pkg-config roost"

# The unit's ExecStart, as user roost, with a free port instead of 2181.
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/roost.service)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
bin=${exec_start%% *} cfg=${exec_start##* }
log=$ctl/server.log
# setpriv execs the server itself, so $! is the server's pid.
setpriv --reuid=roost --regid=roost --init-groups -- \
  "$bin" "--clientPort=$port" "$cfg" >"$log" 2>&1 &
pid=$!
ok=""
for _ in $(seq 1 100); do
  if [ "$(printf ruok | nc -q 1 127.0.0.1 "$port" 2>/dev/null)" = imok ]; then ok=1; break; fi
  sleep 0.1
done
[ -n "$ok" ] || { cat "$log" >&2; fail "installed server did not answer ruok on $port"; }
echo "test-deb: installed server answers ruok on 127.0.0.1:$port as user roost"
# A write through the installed shell lands in the packaged data directory.
[ "$(/usr/bin/roost -s "127.0.0.1:$port" create /from-deb hello)" = "Created /from-deb" ] ||
  fail "roost create through the installed shell"
[ "$(/usr/bin/roost -s "127.0.0.1:$port" get /from-deb)" = hello ] || fail "roost get"
ls /var/lib/roost | grep -q '^log\.' || fail "no transaction log in /var/lib/roost"
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
pid=""
[ "$rc" = 0 ] || { cat "$log" >&2; fail "server exit status $rc after SIGTERM"; }

dpkg_retry --purge roost libroost-dev libroost0
for f in /usr/sbin/roost-server /usr/bin/roost /etc/roost /var/lib/roost \
         /lib/systemd/system/roost.service /usr/lib/libroost.so.0 \
         /etc/systemd/system/multi-user.target.wants/roost.service; do
  { [ ! -e "$f" ] && [ ! -L "$f" ]; } || fail "$f left after purge"
done
trap 'rm -rf "$ctl"' EXIT
echo "test-deb: install, serve, purge ok"
