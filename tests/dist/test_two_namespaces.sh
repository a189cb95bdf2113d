#!/usr/bin/env bash
# Two "nodes" on one machine: two network namespaces made here (a veth pair whose addresses exist only
# inside them), one rank in each, the rendezvous and Gloo's traffic across the veth. Once with torchrun's
# variables set by hand, once with `repux launch --nnodes 2` in each namespace. Both must finish with the
# ranks' weights identical ("weights identical on all 2 ranks") and the same model, bit for bit, as
# `repux launch -n 2` on this host. Then node 1 is killed mid-run: node 0 stops in time, naming the
# lost peer. The namespaces are deleted however the test ends. Exits 77 (ctest:
# skipped) with a message where namespaces cannot be made (not root, or a container without
# CAP_NET_ADMIN). Usage: test_two_namespaces.sh REPUX_BINARY
set -euo pipefail
repux=$1
tmp=$(mktemp -d /tmp/repux-netns-XXXXXX)
ns=(repux-a-$$ repux-b-$$)
net=10.231.$(($$ % 250 + 1))
cleanup() {
  jobs -p | xargs -r kill -9 2>/dev/null || true
  for n in "${ns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
die() { echo "FAIL: $*" >&2; for f in "$tmp"/*.log; do echo "--- $f"; tail -15 "$f"; done >&2; exit 1; }

if ! ip netns add "${ns[0]}" 2>"$tmp/netns.err"; then
  echo "SKIPPED: cannot make a network namespace here ($(head -1 "$tmp/netns.err"))"
  exit 77
fi
ip netns add "${ns[1]}"
ip link add "veth-a-$$" type veth peer name "veth-b-$$"
ip link set "veth-a-$$" netns "${ns[0]}"
ip link set "veth-b-$$" netns "${ns[1]}"
ip -n "${ns[0]}" addr add "$net.1/24" dev "veth-a-$$"
ip -n "${ns[1]}" addr add "$net.2/24" dev "veth-b-$$"
for i in 0 1; do
  ip -n "${ns[$i]}" link set lo up
done
ip -n "${ns[0]}" link set "veth-a-$$" up
ip -n "${ns[1]}" link set "veth-b-$$" up

"$repux" synth -n 5 --seed 3 -o "$tmp/data" >/dev/null
train=(train -d "$tmp/data" --arch uxnet --classes 4 --dims 4 8 16 32 --hidden 16 --patch 32 --spacing 4 --val-every 3
       --folds 5 --dist-timeout 60 --threads 1 --log-every 1)

iterations=6
"$repux" launch -n 2 -- "${train[@]}" --iterations "$iterations" -o "$tmp/one-host" >"$tmp/one-host.log" 2>&1 || die "launch -n 2 on this host failed"

# rank R's environment in its namespace: torchrun's variables, Gloo on the veth.
rank() {
  local r=$1 port=$2 out=$3
  ip netns exec "${ns[$r]}" env RANK="$r" WORLD_SIZE=2 LOCAL_RANK=0 LOCAL_WORLD_SIZE=1 GROUP_RANK="$r" MASTER_ADDR="$net.1" \
    MASTER_PORT="$port" GLOO_SOCKET_IFNAME="veth-$([ "$r" = 0 ] && echo a || echo b)-$$" "$repux" "${train[@]}" --iterations "$iterations" -o "$tmp/$out"
}
rank 1 29411 torchrun-vars >"$tmp/vars1.log" 2>&1 &
rank 0 29411 torchrun-vars >"$tmp/vars0.log" 2>&1 || die "rank 0 (torchrun's variables) failed"
wait $! || die "rank 1 (torchrun's variables) failed"
grep -q "weights identical on all 2 ranks" "$tmp/vars0.log" || die "rank 0 did not check the ranks' weights"

node() {
  local r=$1
  ip netns exec "${ns[$r]}" env GLOO_SOCKET_IFNAME="veth-$([ "$r" = 0 ] && echo a || echo b)-$$" "$repux" launch --nnodes 2 --node-rank "$r" \
    --master-addr "$net.1" --master-port "${2:-29412}" -n 1 -- "${train[@]}" --iterations "$iterations" -o "$tmp/${3:-launch-nodes}"
}
node 1 >"$tmp/node1.log" 2>&1 &
node 0 >"$tmp/node0.log" 2>&1 || die "launch --nnodes 2 --node-rank 0 failed"
wait $! || die "launch --nnodes 2 --node-rank 1 failed"
grep -q "weights identical on all 2 ranks" "$tmp/node0.log" || die "launch --nnodes: the ranks' weights were not checked"

# A node that dies mid-run (every process of namespace B killed once training runs): node 0 stops
# within --dist-timeout with one line naming itself, the lost peer's address and the group's ranks and
# hosts, and its launch exits non-zero.
iterations=100000
node 1 29413 dying >"$tmp/dying1.log" 2>&1 &
(
  status=0
  node 0 29413 dying >"$tmp/dying0.log" 2>&1 || status=$?
  echo "$status" >"$tmp/dying0.rc"
) &
deadline=$((SECONDS + 120))
until grep -q '^it  *5/' "$tmp/dying0.log" 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || die "the two-node run did not reach iteration 5 within 120 s"
  sleep 0.2
done
ip netns pids "${ns[1]}" | xargs -r kill -9
killed_at=$SECONDS
until [ -s "$tmp/dying0.rc" ]; do
  [ $((SECONDS - killed_at)) -lt 90 ] || die "node 0 still runs 90 s after node 1 died (--dist-timeout 60)"
  sleep 0.2
done
[ "$(cat "$tmp/dying0.rc")" != 0 ] || die "node 0's launch exited 0 after node 1 died"
grep -q "across ranks failed.*$net.2" "$tmp/dying0.log" || die "node 0's error does not name the lost peer $net.2"
grep -q "rank 0 of 2 on .*(the group: rank 0 on .*, rank 1 on .*)" "$tmp/dying0.log" || die "node 0's error does not name the ranks and hosts"
echo "node 1 killed: node 0 stopped after $((SECONDS - killed_at)) s: $(grep -m1 'across ranks failed' "$tmp/dying0.log")"

for run in one-host torchrun-vars launch-nodes; do
  "$repux" export "$tmp/$run/last.repux" -o "$tmp/$run.pth" >/dev/null
done
cmp -s "$tmp/one-host.pth" "$tmp/torchrun-vars.pth" || die "torchrun's variables across namespaces trained another model"
cmp -s "$tmp/one-host.pth" "$tmp/launch-nodes.pth" || die "launch --nnodes across namespaces trained another model"
echo "PASS: two namespaces ($net.1, $net.2), torchrun's variables and launch --nnodes: the model of launch -n 2, bit for bit"
