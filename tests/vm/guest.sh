#!/bin/bash
# Runs inside a guest VM as root, started by the strata-vm-job unit that
# tests/vm/image.sh installs, from the payload disk mounted on /payload (see
# tests/vm/run.sh for its layout). Every suite runs for strata and for runc
# (from the guest's apt); for each one this writes
#   out/results/SUITE.RUNTIME   one "PASS|FAIL|SKIP name" line per test
#   out/logs/SUITE.RUNTIME.log  the suite's whole output
# and one line to out/summary: suite runtime passed failed skipped seconds
# flaky.
# run.sh compares the two runtimes on the host. Nothing here decides a verdict.
set -u
P=/payload
. "$P/env"   # REPO (the repository's path on the host), SOAK_FLAGS, SUITES, RUN, CHECKPOINT_KERNELS
out=$P/out
mkdir -p "$out/results" "$out/logs"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root

# The test binaries find their sources (the busybox rootfs cache, seccomp
# profiles) at the paths they were compiled at: show the repository there.
mkdir -p "$REPO"
mount --bind "$P/repo" "$REPO"
bin=$P/bin
# RUN narrows the go suites to the tests it matches (-test.run).
run=
[ -n "${RUN:-}" ] && run="-test.run '$RUN'"

{
	echo "kernel: $(uname -r)"
	echo "systemd: $(systemctl --version | head -1)"
	echo "cgroup: $(stat -fc %T /sys/fs/cgroup) controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
	echo "runc: $(runc --version | head -1)"
	echo "podman: $(podman --version)"
	echo "strata check:"
	"$REPO/strata" check 2>&1 | sed 's/^/  /'
} > "$out/host.txt" 2>&1
# The rootless suite's --systemd-cgroup cases need strata-test's systemd
# manager (user@1000.service) and its session bus (/run/user/1000/bus, from
# dbus-user-session): linger starts them with no login, as on a host where
# the user is logged in. Started before the cgroups are listed and stopped
# before they are listed again: the manager's own cgroups are not a leak,
# the scopes containers leave in its user.slice are (see the end).
user_mgr=
if [[ " $SUITES " == *" rootless "* ]]; then
	user_mgr=/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service
	loginctl enable-linger strata-test
	for _ in $(seq 120); do [ -S /run/user/1000/bus ] && break; sleep 0.5; done
	echo "user manager: $(systemctl is-active user@1000.service), bus: $(ls /run/user/1000/bus 2>&1), delegated: $(cat $user_mgr/cgroup.controllers 2>&1)" >> "$out/host.txt"
fi
find /sys/fs/cgroup -type d | sort > "$out/cgroups.before"

# go test -v: top-level tests only (subtests are indented).
go_results() {
	sed -n 's/^--- \(PASS\|FAIL\|SKIP\): \([^ ]*\) .*/\1 \2/p' "$1"
}
# The validation runner's table: name, counts, then "pass" or "FAIL: why".
validation_results() {
	awk '$1 ~ /^[a-z_]+$/ && NF >= 7 && $2 ~ /^[0-9]+$/ { v = ($7 == "pass") ? "PASS" : "FAIL"; print v, $1 }' "$1"
}

record() { # suite runtime kind seconds
	local r=$out/results/$1.$2
	[ -f "$r" ] || "$3_results" "$out/logs/$1.$2.log" > "$r"
	printf '%s %s %d %d %d %d %d\n' "$1" "$2" "$(grep -c '^PASS' "$r")" "$(grep -c '^FAIL' "$r")" \
		"$(grep -c '^SKIP' "$r")" "$4" "$(grep -c '^FLAKY' "$r")" >> "$out/summary"
}

# rerun_failed suite runtime command...: strata's failed go tests run once
# more, alone; one that passes then is marked FLAKY (run.sh reports it and
# does not fail the run for it; docs/hosts.md says what is known of each).
# More than five failures are no flake: nothing is rerun.
rerun_failed() {
	local name=$1 rt=$2
	shift 2
	local r=$out/results/$name.$rt
	go_results "$out/logs/$name.$rt.log" > "$r"
	local failed
	failed=$(sed -n 's/^FAIL //p' "$r")
	[ -n "$failed" ] && [ "$(echo "$failed" | wc -l)" -le 5 ] || return 0
	local pattern="^($(echo "$failed" | paste -sd'|'))\$"
	echo "=== $name ($rt): rerun $pattern" > /dev/console
	(cd "$REPO" && ONLY="-test.run $pattern" timeout -k 30 15m "$@") > "$out/logs/$name.$rt.rerun.log" 2>&1
	for t in $(go_results "$out/logs/$name.$rt.rerun.log" | sed -n 's/^PASS //p'); do
		sed -i "s/^FAIL $t\$/FLAKY $t/" "$r"
	done
}

# suite runtime kind timeout command...: runs it with the runtime under test
# in the environment, from the repository directory of the suite.
suite() {
	local name=$1 rt=$2 kind=$3 limit=$4
	shift 4
	case " $SUITES " in *" $name "*) ;; *) return 0 ;; esac
	local env=(STRATA_BINARY="$REPO/strata")
	[ "$rt" = runc ] && env=(RUNTIME=/usr/sbin/runc)
	echo "=== $name ($rt) $(date +%T)" > /dev/console
	local start=$SECONDS
	# Failures are shown on the console as they happen, for a run that
	# never finishes.
	(cd "$REPO" && env "${env[@]}" timeout -k 30 "$limit" "$@"; echo "exit status $?") 2>&1 |
		tee "$out/logs/$name.$rt.log" | grep --line-buffered -E '^--- FAIL|^panic:|REGRESSION|FAIL:' > /dev/console
	if [ "$kind" = go ] && [ "$rt" = strata ]; then
		rerun_failed "$name" "$rt" env "${env[@]}" "$@"
	fi
	record "$name" "$rt" "$kind" $((SECONDS - start))
	echo "=== $name ($rt): $(tail -1 "$out/summary")" > /dev/console
}

# Debian's CRIU dumps only on the kernels run.sh names (docs/hosts.md).
checkpoint=
for k in ${CHECKPOINT_KERNELS:-}; do
	case "$(uname -r)" in "$k".*) checkpoint=yes ;; esac
done

for rt in strata runc; do
	runtime=$REPO/strata
	[ "$rt" = runc ] && runtime=/usr/sbin/runc
	suite integration "$rt" go 40m sh -c "cd tests/integration && $bin/integration.test -test.v -test.timeout 39m $run \$ONLY"
	suite security "$rt" go 15m sh -c "cd tests/security && $bin/security.test -test.v -test.timeout 14m $run \$ONLY"
	suite validation "$rt" validation 30m tests/validation/bin/runner -suite tests/validation/bin \
		-runtime "$runtime" -timeout 120s -logs "$out/logs/validation-$rt"
	# The soak's leak check is strata's own: strata's column only (and
	# the run fits CI's time).
	[ "$rt" = strata ] && suite soak "$rt" go 15m sh -c "cd tests/soak && $bin/soak.test -test.v -test.timeout 14m $SOAK_FLAGS $run \$ONLY"
	suite podman "$rt" go 15m sh -c "cd tests/e2e && $bin/e2e.test -test.v -test.timeout 14m -test.run Podman -test.skip '^TestRootless'"
	# The runtime and rootless podman as the image's user strata-test
	# (uidmap, subordinate ranges, /run/user/1000: image.sh).
	suite rootless "$rt" go 10m sh -c "cd tests/e2e && E2E_ROOTLESS_USER=strata-test $bin/e2e.test -test.v -test.timeout 9m -test.run '^TestRootless' \$ONLY"
	# checkpoint/restore with CRIU, then podman's checkpoint and restore.
	[ -n "$checkpoint" ] && suite checkpoint "$rt" go 25m sh -c "cd tests/checkpoint && $bin/checkpoint.test -test.v -test.timeout 14m $run \$ONLY
		cd ../e2e && $bin/e2e-checkpoint.test -test.v -test.timeout 9m -test.run TestPodmanCheckpoint $run \$ONLY"
done
# containerd's CRI with crictl as the kubelet and the systemd cgroup driver
# (SystemdCgroup = true for the strata and the runc handler, both in one
# run: strata's column alone): cri with the guest's containerd 1.6, cri2
# with containerd 2. crictl, the CNI plugins, containerd 2 and the pod
# images' programs were built on the host (run.sh).
cri="CRI_CGROUP_DRIVER=systemd CRI_TOOLS=$bin/cri CRI_PROGRAMS=$bin/cri/programs $bin/cri.test -test.v -test.timeout 9m -test.run '^TestPod\$'"
suite cri strata go 10m sh -c "cd tests/cri && $cri \$ONLY"
suite cri2 strata go 10m sh -c "cd tests/cri && CRI_CONTAINERD=$bin/cri/containerd2 $cri \$ONLY"
# The bundle builder's own tests (overlay composition on this kernel): no
# runtime is involved, so strata's column only.
suite bundle strata go 15m sh -c "cd bundle && $bin/bundle.test -test.v -test.timeout 14m $run \$ONLY"

if [ -n "$user_mgr" ]; then
	find "$user_mgr" -mindepth 1 -type d -name '*.scope' -path "$user_mgr/user.slice/*" | sort > "$out/cgroups.user-scopes"
	loginctl disable-linger strata-test
	systemctl stop user-1000.slice
fi
find /sys/fs/cgroup -type d | sort > "$out/cgroups.after"
# Cgroups the suites left behind: present after, absent before.
# The runtime-tools validation tests assume cgroup v1: on v2 they make
# /sys/fs/cgroup/<controller>/cgrouptest and leave it, and their relative
# cgroups stay below the runner's /strata-validation. Those are listed
# apart (docs/hosts.md) and removed; anything else is a leak.
comm -13 "$out/cgroups.before" "$out/cgroups.after" > "$out/cgroups.new"
grep -E '^/sys/fs/cgroup/(strata-validation|[a-z_]+/cgrouptest)(/|$)|^/sys/fs/cgroup/[a-z_]+$' "$out/cgroups.new" > "$out/cgroups.validation" || true
grep -vxF -f "$out/cgroups.validation" "$out/cgroups.new" > "$out/cgroups.leaked" || true
[ -n "$user_mgr" ] && cat "$out/cgroups.user-scopes" >> "$out/cgroups.leaked"
sort -r "$out/cgroups.validation" | while read -r d; do rmdir "$d" 2>/dev/null; done
umount "$REPO"
echo "=== guest done $(date +%T)" > /dev/console
