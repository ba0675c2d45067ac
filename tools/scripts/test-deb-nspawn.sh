#!/bin/sh
# Run by `make test-deb`: the packages under a real systemd, in a throwaway
# container, without network and without changing this machine.
#
#   test-deb-nspawn.sh ROOST.deb LIBROOST0.deb LIBROOST-DEV.deb
#
# The container's root is an overlay of this machine's / (so it is the
# same Debian 12 with the same packages) whose writes land in a temporary
# directory; systemd-nspawn boots systemd in it with a private network
# (its own loopback, so port 2181 is free).  A one-shot unit in the
# container installs the packages with dpkg -i, starts roost.service,
# checks it serves on 127.0.0.1:2181 as user roost, writes through the
# installed shell, stops it (SIGTERM, clean exit), reads its lines from the
# journal, takes snapshots under the unit's hardening, runs a three-member
# ensemble with roost@.service, and powers the container off.  Needs root
# and systemd-nspawn (Debian: systemd-container).
set -eu

[ $# -eq 3 ] || { echo "usage: $0 ROOST.deb LIBROOST0.deb LIBROOST-DEV.deb" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "test-deb-nspawn: needs root" >&2; exit 1; }
command -v systemd-nspawn >/dev/null ||
  { echo "test-deb-nspawn: systemd-nspawn missing (apt-get install systemd-container)" >&2; exit 1; }

top=$(mktemp -d /tmp/roost-nspawn.XXXXXX)
root=$top/root
cleanup() {
  umount "$root" 2>/dev/null || true
  rm -rf "$top"
}
trap cleanup EXIT
mkdir -p "$top/upper" "$top/work" "$root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$top/upper,workdir=$top/work" "$root"

mkdir -p "$root/root/roost-debs"
cp "$1" "$2" "$3" "$root/root/roost-debs/"
# A machine id of its own: the journal of the container is its own.
od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$root/etc/machine-id"
echo >> "$root/etc/machine-id"

cat > "$root/root/roost-selftest.sh" <<'EOF'
#!/bin/sh
# Runs inside the container as a one-shot unit; prints PASS/FAIL lines.
exec > /root/roost-selftest.log 2>&1
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; }
d=/root/roost-debs
dpkg -i $d/roost_*.deb $d/libroost0_*.deb $d/libroost-dev_*.deb && pass "dpkg -i" || fail "dpkg -i"
[ "$(systemctl is-enabled roost)" = enabled ] && pass "roost.service enabled" || fail "not enabled"
# Debian images for containers ship a policy-rc.d that forbids starting
# services from maintainer scripts; the postinst obeyed it then.
if [ -x /usr/sbin/policy-rc.d ] && ! /usr/sbin/policy-rc.d roost start >/dev/null 2>&1; then
  [ "$(systemctl is-active roost)" != active ] && pass "policy-rc.d obeyed: not started" ||
    fail "started despite policy-rc.d"
  systemctl start roost
fi
ok=""
for i in $(seq 1 100); do
  [ "$(printf ruok | nc -q 1 127.0.0.1 2181 2>/dev/null)" = imok ] && { ok=1; break; }
  sleep 0.1
done
[ -n "$ok" ] && pass "ruok -> imok on 127.0.0.1:2181" || fail "no imok"
[ "$(roost -s 127.0.0.1:2181 create /nspawn hello)" = "Created /nspawn" ] &&
  [ "$(roost -s 127.0.0.1:2181 get /nspawn)" = hello ] && pass "roost create/get" ||
  fail "roost create/get"
pid=$(systemctl show -p MainPID --value roost)
[ "$(ps -o user= -p "$pid")" = roost ] && pass "runs as user roost (pid $pid)" || fail "user of $pid"
[ "$(stat -c %U /var/lib/roost/session.secret)" = roost ] && pass "data in /var/lib/roost" ||
  fail "no /var/lib/roost/session.secret"
t0=$(date +%s%N)
systemctl stop roost
t1=$(date +%s%N)
res=$(systemctl show -p Result --value roost) st=$(systemctl show -p ExecMainStatus --value roost)
[ "$res" = success ] && { [ "$st" = 0 ] || [ "$st" = 15 ]; } &&
  pass "stopped by SIGTERM in $(( (t1 - t0) / 1000000 )) ms (Result=$res, status $st)" ||
  fail "stop: Result=$res status=$st"
journalctl -u roost --no-pager -o cat | grep -q 'roost-server .* on 127.0.0.1:2181' &&
  pass "log lines in the journal" || fail "nothing in the journal"
# Snapshots fork a child: under the unit's system call filter too.  A
# drop-in (as `systemctl edit` makes) lowers snapCount to 2.
mkdir -p /etc/systemd/system/roost.service.d
printf '[Service]\nExecStart=\nExecStart=/usr/sbin/roost-server --snapCount=2 /etc/roost/roost.cfg\n' \
  > /etc/systemd/system/roost.service.d/snap.conf
systemctl daemon-reload
systemctl start roost
for i in $(seq 1 100); do
  [ "$(printf ruok | nc -q 1 127.0.0.1 2181 2>/dev/null)" = imok ] && break
  sleep 0.1
done
for i in 1 2 3 4 5 6; do roost -s 127.0.0.1:2181 create /snap$i x >/dev/null; done
sleep 2
ls /var/lib/roost
ls /var/lib/roost | grep -q '^snapshot\.' && pass "snapshot written under the unit's hardening" ||
  fail "no snapshot in /var/lib/roost"
systemctl stop roost
roost-dump verify /var/lib/roost && pass "roost-dump verify /var/lib/roost" || fail "verify"
journalctl -u roost --no-pager -o cat | grep -i -e 'error\|denied\|snapshot' | tail -5
journalctl -u roost --no-pager -o cat | tail -3
# Three members on this container's loopback with roost@.service, set up
# as README.md's "Deploying" says (myid, one session secret).
secret=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
n=0
for i in a b c; do
  n=$((n + 1))
  { echo "tickTime=500"; echo "initLimit=10"; echo "syncLimit=5"
    echo "clientPort=$((2190 + n))"; echo "clientPortAddress=127.0.0.1"
    echo "4lw.commands.whitelist=srvr,ruok"; echo "roost.sessionSecret=$secret"
    for m in 1 2 3; do echo "server.$m=127.0.0.1:$((2880 + m)):$((3880 + m))"; done
  } > /etc/roost/$i.cfg
  install -d -o roost -g roost -m 0750 /var/lib/roost/$i
  echo $n > /var/lib/roost/$i/myid
done
systemctl start roost@a roost@b roost@c
modes=""
for t in $(seq 1 150); do
  modes=$(for p in 2191 2192 2193; do printf srvr | nc -q 1 127.0.0.1 $p 2>/dev/null | sed -n 's/^Mode: //p'; done | sort | tr '\n' ' ')
  [ "$modes" = "follower follower leader " ] && break
  sleep 0.2
done
[ "$modes" = "follower follower leader " ] && pass "roost@a/b/c: an ensemble ($modes)" ||
  fail "roost@ ensemble modes: '$modes'"
roost -s 127.0.0.1:2191 create /ens hi >/dev/null &&
  [ "$(roost -s 127.0.0.1:2193 get /ens)" = hi ] && pass "write on a, read on c" ||
  fail "ensemble write/read"
systemctl stop roost@a roost@b roost@c
bad=""
for i in a b c; do
  [ "$(systemctl show -p Result --value roost@$i)" = success ] || bad="$bad $i"
done
[ -z "$bad" ] && pass "roost@a/b/c stopped cleanly" || fail "roost@ stop:$bad"
systemd-analyze security roost 2>/dev/null | tail -1
echo SELFTEST-END
systemctl poweroff
EOF
chmod 755 "$root/root/roost-selftest.sh"
cat > "$root/etc/systemd/system/roost-selftest.service" <<'EOF'
[Unit]
Description=Roost package self-test (test-deb-nspawn.sh)
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/root/roost-selftest.sh
[Install]
WantedBy=multi-user.target
EOF
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -sf /etc/systemd/system/roost-selftest.service \
  "$root/etc/systemd/system/multi-user.target.wants/roost-selftest.service"

echo "test-deb-nspawn: booting the container (up to 180 s)"
rc=0
(cd "$top" && timeout 180 systemd-nspawn -q -D "$root" --keep-unit --register=no \
  --link-journal=no --private-network --console=pipe -b </dev/null \
  >"$top/nspawn.log" 2>&1) || rc=$?
log=$top/upper/root/roost-selftest.log
if [ ! -f "$log" ]; then
  cat "$top/nspawn.log" >&2
  echo "test-deb-nspawn: FAIL: the self-test did not run (nspawn status $rc)" >&2
  exit 1
fi
cat "$log" | grep -v -e '^Selecting\|^Preparing\|^Unpacking\|^(Reading'
grep -q '^SELFTEST-END' "$log" || { echo "test-deb-nspawn: FAIL: self-test cut short" >&2; exit 1; }
if grep -q '^FAIL' "$log"; then echo "test-deb-nspawn: FAIL" >&2; exit 1; fi
echo "test-deb-nspawn: ok"
