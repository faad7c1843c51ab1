#!/usr/bin/env bash
# make vm-test: boots the Debian 12 guest (tests/vm/image.sh) once per kernel
# under qemu with TCG, runs tests/vm/guest.sh inside with strata and runc, and
# prints per kernel the pass counts of every suite for both runtimes. Fails
# if a guest does not boot or finish, if strata fails (or skips) a test that
# runc does not fail and tests/vm/expected-failures does not name, or if a
# suite leaves a cgroup behind. docs/hosts.md explains the matrix.
#
# A strata go test that fails and then passes when guest.sh reruns it alone
# is reported as FLAKY and does not fail the run.
#
# Environment: KERNELS (default "6.1 6.12"), SUITES (default all), RUN (a
# -test.run pattern for the go suites, to chase one failure), VM_TIMEOUT
# (per guest, default 60m), VM_CPUS, VM_MEM, SOAK_FLAGS, CHECKPOINT_KERNELS
# (the kernels the checkpoint suite runs on, default "6.1 6.12": Debian's
# CRIU 3.17 dumps there, not on every kernel; see docs/hosts.md). Results and the
# guests' consoles are kept in tests/vm/.out/<kernel>/ (or $VM_OUT/<kernel>/).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=$here/.cache
outroot=${VM_OUT:-$here/.out}
KERNELS=${KERNELS:-"6.1 6.12"}
SUITES=${SUITES:-"integration security validation soak podman rootless cri cri2 bundle checkpoint"}
CHECKPOINT_KERNELS=${CHECKPOINT_KERNELS:-"6.1 6.12"}
VM_TIMEOUT=${VM_TIMEOUT:-65m}
VM_CPUS=${VM_CPUS:-2}
VM_MEM=${VM_MEM:-3072}
SOAK_FLAGS=${SOAK_FLAGS:-"-soak.sequential=40 -soak.parallel=8 -soak.killed=10 -soak.maxdelay=300ms"}
GO=${GO:-go}

step() { echo "vm-test: $* ($(date +%T))"; }

step "guest image"
"$here/image.sh" "$cache"

work=$(mktemp -d /tmp/strata-vm.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

step "build strata and the test binaries"
cd "$repo"
make --no-print-directory strata validation-suite >/dev/null
payload=$work/payload
mkdir -p "$payload/bin" "$payload/out" "$payload/repo"
# The repository as it is now (tracked and new files, not ignored ones), the
# binary, the built validation suite.
git ls-files -co --exclude-standard -z | xargs -0 cp -a --parents -t "$payload/repo" 2>/dev/null || true
cp -a strata strata-image "$payload/repo/"
cp -a --parents tests/validation/bin "$payload/repo/"
rm -rf "$payload/repo/tests/validation/bin/logs"
for t in integration security soak; do
	CGO_ENABLED=1 $GO test -c -o "$payload/bin/$t.test" "./tests/$t"
done
CGO_ENABLED=1 $GO test -c -o "$payload/bin/bundle.test" ./bundle
CGO_ENABLED=1 $GO test -c -tags e2e -o "$payload/bin/e2e.test" ./tests/e2e
# The cri suite's: the test binary, crictl, the CNI plugins and containerd 2
# (make cri-tools), and the static programs of its pod images (the guest has
# no Go).
case " $SUITES " in *" cri "*|*" cri2 "*)
	make --no-print-directory cri-tools CRI_TOOLS="$payload/bin/cri" >/dev/null
	CGO_ENABLED=1 $GO test -c -tags cri -o "$payload/bin/cri.test" ./tests/cri
	for p in pause webserver nnp; do
		CGO_ENABLED=0 $GO build -o "$payload/bin/cri/programs/$p" "./tests/cri/$p"
	done ;;
esac
# The checkpoint suite's binaries: behind the tag checkpoint (CRIU cannot
# dump on the development host), the podman test also behind e2e.
case " $SUITES " in *" checkpoint "*)
	CGO_ENABLED=1 $GO test -c -tags checkpoint -o "$payload/bin/checkpoint.test" ./tests/checkpoint
	CGO_ENABLED=1 $GO test -c -tags "e2e checkpoint" -o "$payload/bin/e2e-checkpoint.test" ./tests/e2e ;;
esac
cp "$here/guest.sh" "$payload/"
cat > "$payload/env" <<ENV
REPO=$(printf %q "$repo")
SUITES=$(printf %q "$SUITES")
SOAK_FLAGS=$(printf %q "$SOAK_FLAGS")
RUN=$(printf %q "${RUN:-}")
CHECKPOINT_KERNELS=$(printf %q "$CHECKPOINT_KERNELS")
ENV

boot() { # kernel-version dir
	local v=$1 dir=$2
	local size=$(( $(du -sm "$payload" | cut -f1) + 2048 ))
	truncate -s "${size}M" "$dir/payload.img"
	mkfs.ext4 -q -F -d "$payload" "$dir/payload.img"
	timeout "$VM_TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -smp "$VM_CPUS" -m "$VM_MEM" \
		-display none -monitor none -serial "file:$dir/console.log" -no-reboot -nic none \
		-device virtio-rng-pci \
		-kernel "$cache/vmlinuz-$v" -initrd "$cache/initrd.img-$v" \
		-append "console=ttyS0 root=/dev/vda rw quiet panic=-1 systemd.show_status=0" \
		-drive "file=$cache/root.img,format=raw,if=virtio,snapshot=on" \
		-drive "file=$dir/payload.img,format=raw,if=virtio" > "$dir/qemu.log" 2>&1
	echo $? > "$dir/qemu-status"
}

declare -A vdir
for k in $KERNELS; do
	img=$(cd "$cache" && ls vmlinuz-"$k".* 2>/dev/null | head -1)
	[ -n "$img" ] || { echo "vm-test: no $k kernel in $cache" >&2; exit 1; }
	v=${img#vmlinuz-}
	vdir[$k]=$outroot/$v
	rm -rf "${vdir[$k]}"
	mkdir -p "${vdir[$k]}"
	step "boot $v (console: ${vdir[$k]}/console.log)"
	boot "$v" "${vdir[$k]}" &
	pids+=($!)
done
wait "${pids[@]}" || true
pids=()

fail=0
expected=$here/expected-failures
for k in $KERNELS; do
	d=${vdir[$k]}
	debugfs -R "rdump /out $d" "$d/payload.img" >/dev/null 2>&1 || true
	rm -f "$d/payload.img"
	echo
	echo "== kernel $(basename "$d") (qemu exit $(cat "$d/qemu-status"))"
	if [ ! -f "$d/out/summary" ] || ! grep -q "guest done" "$d/console.log"; then
		echo "vm-test: FAIL: the $k guest did not boot or did not finish; its console ends:"
		tail -40 "$d/console.log" | sed 's/^/  /'
		fail=1
		continue
	fi
	# awk, not head: under pipefail a closed pipe would end the script.
	awk 'NR <= 5 { print "  " $0 }' "$d/out/host.txt"
	grep -E '^\s+\[(absent|FATAL)' "$d/out/host.txt" | sed 's/^ */  check: /' || true
	printf '  %-12s %-22s %-22s\n' suite "strata pass/fail/skip" "runc pass/fail/skip"
	for s in $SUITES; do
		if [ "$s" = checkpoint ] && ! [[ " $CHECKPOINT_KERNELS " == *" $k "* ]]; then
			printf '  %-12s %s\n' "$s" "not run on $k (CHECKPOINT_KERNELS; docs/hosts.md)"
			continue
		fi
		fmt() { awk -v s="$s" -v r="$1" '$1 == s && $2 == r { printf "%d/%d/%d (%ds)", $3, $4, $5, $6; if ($7 > 0) printf " +%d flaky", $7 }' "$d/out/summary"; }
		printf '  %-12s %-22s %-22s\n' "$s" "$(fmt strata)" "$(fmt runc)"
		rs=$d/out/results/$s.strata rr=$d/out/results/$s.runc
		[ -f "$rs" ] || { echo "  vm-test: FAIL: no $s results for strata"; fail=1; continue; }
		if [ ! -s "$rs" ]; then
			echo "  vm-test: FAIL: $s ran no test for strata; its log ends:"
			tail -15 "$d/out/logs/$s.strata.log" | sed 's/^/    /'
			fail=1
		fi
		# strata's failures and skips that runc does not share and that are
		# not expected (with their reason) on this kernel.
		while read -r verdict name; do
			[ "$verdict" = PASS ] && continue
			if [ "$verdict" = FLAKY ]; then
				echo "    FLAKY $name (failed, then passed when rerun alone: see docs/hosts.md)"
				continue
			fi
			grep -qx "FAIL $name" "$rr" 2>/dev/null && { echo "    $verdict $name (runc fails it too)"; continue; }
			if awk -v s="$s" -v n="$name" -v k="$k" '$1 == s && $2 == n && ($3 == k || $3 == "*") { f = 1 } END { exit !f }' "$expected" 2>/dev/null; then
				echo "    $verdict $name (expected on $k: tests/vm/expected-failures)"
				continue
			fi
			echo "  vm-test: FAIL: $s: strata $verdict $name (runc: $(grep " $name\$" "$rr" 2>/dev/null | cut -d' ' -f1 || echo none))"
			fail=1
		done < "$rs"
		# Tests runc passed that strata never reported (a crash or timeout).
		while read -r verdict name; do
			grep -q " $name\$" "$rs" || { echo "  vm-test: FAIL: $s: strata did not run $name (runc passes it)"; fail=1; }
		done < <(grep '^PASS' "$rr" 2>/dev/null)
	done
	if [ -s "$d/out/cgroups.leaked" ]; then
		echo "  vm-test: FAIL: cgroups left behind:"
		sed 's/^/    /' "$d/out/cgroups.leaked"
		fail=1
	fi
done
echo
if [ "$fail" = 0 ]; then
	echo "vm-test: PASS (logs in $outroot)"
else
	echo "vm-test: FAIL (logs in $outroot)"
fi
exit "$fail"
