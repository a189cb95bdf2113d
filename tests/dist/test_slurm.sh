#!/usr/bin/env bash
# SLURM for real: a one-machine cluster (munged, slurmctld and slurmd from Debian's slurm-wlm, configured
# here on 127.0.0.1 with their own key, ports and state folders, stopped however the test ends), then
#  1. `srun -N1 -n2 repux train ...`: two ranks that find their place in SLURM's variables alone; the
#     ranks' weights identical and the model the same, bit for bit, as `repux launch -n 2`;
#  2. `sbatch --array=0-2` of `repux preprocess --shard auto` into one store: the index appears once all
#     three tasks are done and the store equals one made without shards;
#  3. `sbatch --array=0-1` of examples/slurm/predict-array.sbatch (`predict --shard auto`): every case
#     predicted once, by one of the two tasks, each the same as an unsharded prediction.
# Exits 77 (ctest: skipped) with a message where the daemons are missing or cannot start.
# Usage: test_slurm.sh REPUX_BINARY
set -euo pipefail
repux=$(readlink -f "$1")
here=$(cd "$(dirname "$0")" && pwd)
skip() { echo "SKIPPED: $*"; exit 77; }
for tool in munged slurmctld slurmd srun sbatch sinfo; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || skip "$tool is not installed (apt-get install slurmctld slurmd slurm-client munge)"
done
[ "$(id -u)" = 0 ] || skip "slurmd needs root"
export PATH=/usr/sbin:$PATH

tmp=$(mktemp -d /tmp/repux-slurm-XXXXXX)
chmod 755 "$tmp"
cleanup() {
  for pidfile in "$tmp"/slurmd.pid "$tmp"/slurmctld.pid "$tmp"/munge/pid; do
    [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  jobs -p | xargs -r kill -9 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
die() { echo "FAIL: $*" >&2; for f in "$tmp"/log/* "$tmp"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -15 "$f"; }; done >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mkdir -p "$tmp/munge" "$tmp/state" "$tmp/spool" "$tmp/log"
chmod 700 "$tmp/munge"
head -c 1024 /dev/urandom >"$tmp/munge/munge.key"
chmod 400 "$tmp/munge/munge.key"
munged --socket="$tmp/munge/sock" --key-file="$tmp/munge/munge.key" --log-file="$tmp/log/munged.log" --pid-file="$tmp/munge/pid" \
  --seed-file="$tmp/munge/seed" -f 2>"$tmp/log/munged.err" || skip "munged does not start: $(tail -1 "$tmp/log/munged.err")"
chmod 755 "$tmp/munge"  # the socket must be reachable; the key stays 400

node=$(hostname -s)
cat >"$tmp/slurm.conf" <<CONF
ClusterName=repuxtest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
AuthInfo=socket=$tmp/munge/sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
PlugStackConfig=$tmp/plugstack.conf
NodeName=$node NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=repux Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
: >"$tmp/plugstack.conf"
export SLURM_CONF=$tmp/slurm.conf
slurmctld -f "$SLURM_CONF" -i || skip "slurmctld does not start"
slurmd -f "$SLURM_CONF" || skip "slurmd does not start"
deadline=$((SECONDS + 60))
until [ "$(sinfo -h -N -o %T 2>/dev/null)" = idle ]; do
  [ $SECONDS -lt $deadline ] || skip "the one-machine cluster is not idle within 60 s: $(sinfo -h -N -o %T 2>&1 | head -1)"
  sleep 0.2
done
echo "cluster up: node $node idle"

# 1. srun -N1 -n2 repux train: SLURM's variables alone (no torchrun variables in the environment).
"$repux" synth -n 6 --seed 4 -o "$tmp/data" >/dev/null
train=(train -d "$tmp/data" --arch uxnet --classes 4 --dims 4 8 16 32 --hidden 16 --patch 32 --spacing 4 --val-every 3
       --iterations 6 --folds 5 --dist-timeout 60 --threads 1 --log-every 1)
"$repux" launch -n 2 -- "${train[@]}" -o "$tmp/launch" >"$tmp/launch.log" 2>&1 || die "launch -n 2 failed"
env -u RANK -u WORLD_SIZE -u MASTER_ADDR MASTER_PORT="$(free_port)" \
  timeout 600 srun -N1 -n2 --cpus-per-task=1 "$repux" "${train[@]}" -o "$tmp/srun" >"$tmp/srun.log" 2>&1 || die "srun -n2 repux train failed"
grep -q "data-parallel: 2 ranks" "$tmp/srun.log" || die "srun's two tasks did not train as two ranks"
grep -q "weights identical on all 2 ranks" "$tmp/srun.log" || die "srun: the ranks' weights were not checked"
for run in launch srun; do "$repux" export "$tmp/$run/last.repux" -o "$tmp/$run.pth" >/dev/null; done
cmp -s "$tmp/launch.pth" "$tmp/srun.pth" || die "srun -n2 trained another model than launch -n 2"
echo "srun -N1 -n2: the model of launch -n 2, bit for bit"

# 2. A job array preprocesses one store, a share per task; nothing trainable until all are in.
"$repux" preprocess -i "$tmp/data" -o "$tmp/whole" --spacing 4 >/dev/null
cat >"$tmp/preprocess.sbatch" <<JOB
#!/bin/bash
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
exec "$repux" preprocess -i "$tmp/data" -o "$tmp/store" --spacing 4 --shard auto -j 1
JOB
timeout 600 sbatch --wait --array=0-2 -o "$tmp/preprocess-%a.log" "$tmp/preprocess.sbatch" >/dev/null || die "the preprocess job array failed"
for a in 0 1 2; do grep -q "shard $((a + 1))/3: 2 cases" "$tmp/preprocess-$a.log" || die "array task $a did not preprocess its share 2 of 6"; done
[ "$(grep -l "index written" "$tmp"/preprocess-*.log | wc -l)" -ge 1 ] || die "no array task wrote the index"
[ -f "$tmp/store/index.json" ] || die "the store has no index after all tasks"
diff -r "$tmp/whole" "$tmp/store" >/dev/null || die "the sharded store differs from the unsharded one: $(diff -rq "$tmp/whole" "$tmp/store" | head -3)"
echo "preprocess --shard auto over 3 array tasks: the unsharded store, byte for byte"

# 3. The example's prediction job array, each task its share of the folder.
mkdir -p "$tmp/cts"
cp "$tmp"/data/imagesTr/*.nii.gz "$tmp/cts/"
"$repux" predict -m "$tmp/launch/last.repux" -i "$tmp/cts" -o "$tmp/segs-whole" --threads 1 >/dev/null
PATH=$(dirname "$repux"):$PATH timeout 600 sbatch --wait --array=0-1 --cpus-per-task=1 --export=ALL -o "$tmp/predict-%a.log" \
  "$here/../../examples/slurm/predict-array.sbatch" "$tmp/launch/last.repux" "$tmp/cts" "$tmp/segs" >/dev/null || die "the predict job array failed"
[ "$(ls "$tmp/segs" | wc -l)" = "$(ls "$tmp/cts" | wc -l)" ] || die "the job array predicted $(ls "$tmp/segs" | wc -l) of $(ls "$tmp/cts" | wc -l) cases"
for f in "$tmp"/segs-whole/*; do
  cmp -s "$f" "$tmp/segs/$(basename "$f")" || die "$(basename "$f") differs from the unsharded prediction"
done
grep -h "case" "$tmp"/predict-*.log | head -4
echo "PASS: srun train, preprocess and predict job arrays on a one-machine SLURM cluster"
