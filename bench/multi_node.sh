#!/usr/bin/env bash
# Two "nodes" on this machine (two network namespaces joined by a veth pair shaped by tc's token bucket
# to 10 Gbit/s, then 1 Gbit/s, in both directions), one rank in each (`repux launch --nnodes 2`, Gloo on
# the veth): the step time of the full-size RepUX-Net (dims 48 96 192 384, 21^3 kernels) on 64^3 crops,
# with the gradient buckets all-reduced during backward (overlapped) and after it, and the share of the
# step spent waiting on the all-reduce after backward ("gradient wait" in the training log).
# Root only (ip netns, tc). Each rank gets --threads T of this machine's cores (default: half of them).
# Usage: sudo bash bench/multi_node.sh [build] [iterations] [threads per rank]
set -euo pipefail
B=$(readlink -f "${1:-build}")
N=${2:-5}
T=${3:-$(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 ))}
tmp=$(mktemp -d /tmp/repux-multinode-XXXXXX)
ns=(repux-bench-a-$$ repux-bench-b-$$)
veth=(vb-a-$$ vb-b-$$)
net=10.232.$(($$ % 250 + 1))
cleanup() {
  jobs -p | xargs -r kill -9 2>/dev/null || true
  for n in "${ns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "${ns[0]}" || { echo "multi_node.sh: cannot make network namespaces (run as root)"; exit 1; }
ip netns add "${ns[1]}"
ip link add "${veth[0]}" type veth peer name "${veth[1]}"
for i in 0 1; do
  ip link set "${veth[$i]}" netns "${ns[$i]}"
  ip -n "${ns[$i]}" addr add "$net.$((i + 1))/24" dev "${veth[$i]}"
  ip -n "${ns[$i]}" link set lo up
  ip -n "${ns[$i]}" link set "${veth[$i]}" up
done

"$B"/repux synth -n 4 --seed 1 -o "$tmp/data" >/dev/null
train=(train -d "$tmp/data" --arch repuxnet --classes 4 --patch 64 --crops 1 --spacing 2 --folds 2 --iterations "$N"
       --val-every 100000 --log-every 1 --threads "$T" --no-final-validation --dist-timeout 600)
# One preprocessed store for every run (the nodes share this machine's file system).
"$B"/repux preprocess -i "$tmp/data" -o "$tmp/store" --spacing 2 >/dev/null
train[2]=$tmp/store

shape() {  # rate burst: a token bucket on both ends of the veth
  for i in 0 1; do
    ip netns exec "${ns[$i]}" tc qdisc replace dev "${veth[$i]}" root tbf rate "$1" burst "$2" latency 100ms
  done
}
run() {  # sync run_name -> "seconds_per_step gradient_wait_percent" from node 0's log, over steps 1..N-1
  local sync=$1 out=$tmp/$2 port=$((29600 + RANDOM % 1000))
  for r in 1 0; do
    ip netns exec "${ns[$r]}" env GLOO_SOCKET_IFNAME="${veth[$r]}" "$B"/repux launch --nnodes 2 --node-rank "$r" --master-addr "$net.1" \
      --master-port "$port" -n 1 -- "${train[@]}" --grad-sync "$sync" -o "$out-$r" >"$out-$r.log" 2>&1 &
  done
  wait
  sed -n "s|^it  *$((N - 1))/$N .* (\([0-9.]*\) s/it) .*gradient wait \([0-9]*\)%.*|\1 \2|p" "$out-0.log"
}

echo "full-size RepUX-Net, 64^3 crops, 1 crop per rank, 2 ranks in 2 namespaces, $T thread(s) each; steps 1-$((N - 1)) of $N"
printf '%-10s %-15s %10s %15s\n' link gradients s/step "gradient wait"
for link in "10gbit 6mb" "1gbit 1mb"; do
  set -- $link
  shape "$1" "$2"
  for sync in overlapped after-backward; do
    read -r step wait < <(run "$sync" "$1-$sync") || { echo "the $1 $sync run failed:"; tail -5 "$tmp/$1-$sync"-*.log; exit 1; }
    printf '%-10s %-15s %10s %14s%%\n' "$1" "$sync" "$step" "$wait"
  done
done
echo "gradient bytes per step: $(stat -c %s "$tmp/1gbit-overlapped-0/last.repux") (the model file, float32 weights)"
