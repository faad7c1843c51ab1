#!/usr/bin/env bash
# One run of the same build with strata and with buildah (bud --layers;
# chroot isolation, so no runtime or cgroup setup; overlay storage, its
# default): a first build into empty storage, then a rebuild with nothing
# changed (every step from the cache). Prints a markdown table for
# docs/benchmarks.md. Usage: tests/build/bench.sh ./strata (as root).
set -euo pipefail
strata=$(realpath "${1:?usage: bench.sh STRATA_BINARY}")
# Lower case: buildah names its container after the FROM oci: path.
work=/tmp/strata-build-bench-$$
mkdir "$work"
trap 'buildah --root "$work/bh" --runroot "$work/bhrun" --storage-driver overlay rmi -a -f >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# The base: the host's static busybox with its applet links, made by umoci.
umoci init --layout "$work/images" && umoci new --image "$work/images:base"
mkdir -p "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$work/rootfs/bin/$a"; done
umoci insert --image "$work/images:base" "$work/rootfs/bin" /bin >/dev/null
umoci config --image "$work/images:base" --config.env PATH=/bin --config.cmd sh >/dev/null

ctx=$work/context
mkdir -p "$ctx/conf"
head -c 8M /dev/urandom > "$ctx/data.bin"
for i in $(seq 100); do echo "line $i" > "$ctx/conf/f$i"; done
cat > "$ctx/Containerfile" <<CF
FROM oci:$work/images:base
ENV APP=/app
WORKDIR /app
COPY data.bin conf ./
RUN cp data.bin copy.bin && rm data.bin && mkdir -p /var/log/app
RUN for i in \$(seq 200); do echo \$i > /var/log/app/\$i; done
USER 1000
CMD ["ls", "/app"]
CF

ms() { local s=$(date +%s%N); "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }; echo $(( ($(date +%s%N) - s) / 1000000 )); }
s1=$(ms "$strata" build --store "$work/store" -t "oci:$work/out:1" "$ctx")
s2=$(ms "$strata" build --store "$work/store" -t "oci:$work/out:2" "$ctx")
bh=(buildah --root "$work/bh" --runroot "$work/bhrun" --storage-driver overlay)
b1=$(ms "${bh[@]}" bud --layers --isolation chroot -q -t localhost/bench:1 "$ctx")
b2=$(ms "${bh[@]}" bud --layers --isolation chroot -q -t localhost/bench:2 "$ctx")
same=$(jq -r '.manifests | map(.digest) | unique | length' "$work/out/index.json")
echo "| build | strata | buildah | strata/buildah |"
echo "|---|---|---|---|"
awk -v s="$s1" -v b="$b1" 'BEGIN { printf "| first build, empty storage | %d ms | %d ms | %.2f |\n", s, b, s/b }'
awk -v s="$s2" -v b="$b2" 'BEGIN { printf "| rebuild, nothing changed | %d ms | %d ms | %.2f |\n", s, b, s/b }'
echo "strata's two builds gave $same distinct manifest digest(s)" >&2
