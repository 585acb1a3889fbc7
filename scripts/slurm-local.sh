#!/usr/bin/env bash
# A one-node Slurm cluster on 127.0.0.1, for testing `sps run --launcher slurm` on one machine.
#
#   scripts/slurm-local.sh start DIR   install slurm-wlm and munge if missing (needs root), write
#                                      DIR/slurm.conf, start munged, slurmctld and slurmd in DIR
#   scripts/slurm-local.sh stop DIR    cancel the cluster's jobs and stop its daemons
#
# Everything the cluster writes (config, key, sockets, state, logs) stays in DIR, and its ports are
# picked free at start, so several clusters can run side by side (one per test). Client commands
# find the cluster through SLURM_CONF: after `start`, run `export SLURM_CONF=DIR/slurm.conf`.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)
conf="$dir/slurm.conf"

die() { echo "slurm-local: $*" >&2; exit 1; }

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && command -v sbatch >/dev/null; then
    return
  fi
  [ "$(id -u)" -eq 0 ] || die "slurm-wlm and munge are missing and installing them needs root: sudo apt-get install -y slurm-wlm munge"
  echo "slurm-local: installing slurm-wlm and munge with apt-get" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >&2
}

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 30000))
    if ! ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then echo "$p"; return; fi
  done
  die "no free TCP port found"
}

# The cluster's slurmd and the step daemons it forks carry SPS_SLURM_LOCAL=DIR; job processes are
# their descendants. Matching on that (never on a process name) leaves other clusters alone.
cluster_pids() {
  local f pid roots="" all
  for f in /proc/[0-9]*/environ; do
    pid=${f#/proc/}; pid=${pid%/environ}
    if tr '\0' '\n' 2>/dev/null <"$f" | grep -qxF "SPS_SLURM_LOCAL=$dir"; then roots="$roots $pid"; fi
  done
  all=$roots
  # Descendants: repeat a parent scan until nothing new turns up.
  local grew=1
  while [ $grew -eq 1 ]; do
    grew=0
    for f in /proc/[0-9]*/stat; do
      pid=${f#/proc/}; pid=${pid%/stat}
      local ppid
      ppid=$(awk '{sub(/.*\) /, ""); print $2}' "$f" 2>/dev/null) || continue
      case " $all " in *" $pid "*) continue ;; esac
      case " $all " in *" $ppid "*) all="$all $pid"; grew=1 ;; esac
    done
  done
  echo "$all"
}

start() {
  install_packages
  [ "$(id -u)" -eq 0 ] || die "the daemons run as root here (SlurmUser=root); run as root"
  if [ -f "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; then
    die "a cluster is already running in $dir (stop it first: $0 stop $dir)"
  fi
  mkdir -p "$dir/state" "$dir/spool" "$dir/log"
  chmod 700 "$dir"

  # munge: a private key and socket, so this cluster needs nothing from /etc or /run.
  dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge.key"
  munged --force --key-file="$dir/munge.key" --socket="$dir/munge.sock" \
    --pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge.seed"

  local cpus mem ctl_port d_port node
  cpus=$(nproc)
  # Leave some memory to the OS, as slurmd refuses a node that claims more than it has.
  mem=$(( $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) * 9 / 10 ))
  ctl_port=$(free_port)
  d_port=$(free_port)
  node=spsnode$ctl_port
  cat >"$conf" <<EOF
ClusterName=sps$ctl_port
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctl_port
SlurmdPort=$d_port
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge.sock
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MinJobAge=3600
MaxArraySize=10001
SchedulerParameters=sched_interval=1
NodeName=$node NodeAddr=127.0.0.1 NodeHostname=$(hostname) CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF="$conf"
  slurmctld -i
  SPS_SLURM_LOCAL="$dir" slurmd -N "$node"
  # Ready when the node takes jobs.
  for _ in $(seq 1 60); do
    if sinfo -h -N -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
      echo "slurm-local: cluster up in $dir (export SLURM_CONF=$conf)"
      return
    fi
    sleep 0.5
  done
  echo "--- $dir/log/slurmctld.log" >&2; tail -20 "$dir/log/slurmctld.log" >&2 || true
  echo "--- $dir/log/slurmd.log" >&2; tail -20 "$dir/log/slurmd.log" >&2 || true
  stop
  die "the node did not become idle within 30 s (logs above)"
}

stop() {
  [ -f "$conf" ] || die "$conf not found: no cluster was started in $dir"
  SLURM_CONF="$conf" scancel --quiet --full --user="$(id -un)" 2>/dev/null || true
  local pids=""
  for f in slurmd.pid slurmctld.pid munged.pid; do
    [ -f "$dir/$f" ] && pids="$pids $(cat "$dir/$f")"
  done
  pids="$pids $(cluster_pids)"
  # shellcheck disable=SC2086
  [ -n "${pids// }" ] && kill $pids 2>/dev/null || true
  for _ in $(seq 1 20); do
    local left=""
    for p in $pids; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
    [ -z "$left" ] && break
    sleep 0.25
  done
  for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
  rm -f "$dir"/slurmd.pid "$dir"/slurmctld.pid "$dir"/munged.pid
  echo "slurm-local: cluster in $dir stopped"
}

case $cmd in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
