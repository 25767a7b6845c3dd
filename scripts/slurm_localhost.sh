#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for the cluster test (tests/test_slurm.py).
#   scripts/slurm_localhost.sh start DIR   install Debian's slurm-wlm and munge (once), write DIR/slurm.conf,
#                                          start munged, slurmctld and slurmd; prints DIR/slurm.conf
#   scripts/slurm_localhost.sh stop DIR    stop the daemons started from DIR
# Needs root (apt and the daemons). No cgroups, no accounting database: finished jobs are written by
# jobcomp/filetxt to DIR/jobcomp.log, and squeue keeps them visible for MinJobAge seconds.
set -euo pipefail
action=${1:?usage: slurm_localhost.sh start|stop DIR}
dir=$(realpath -m "${2:?usage: slurm_localhost.sh start|stop DIR}")

stop() {
    for daemon in slurmd slurmctld; do
        [ -f "$dir/$daemon.pid" ] && kill "$(cat "$dir/$daemon.pid")" 2>/dev/null || true
    done
}

if [ "$action" = stop ]; then stop; exit 0; fi
[ "$action" = start ] || { echo "unknown action: $action" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "slurm_localhost.sh: needs root (apt-get and the slurm daemons)" >&2; exit 1; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

[ -s /etc/munge/munge.key ] || { mungekey --create --force; chown munge:munge /etc/munge/munge.key; }
mkdir -p /run/munge && chown munge:munge /run/munge
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged

host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
mkdir -p "$dir/state" "$dir/spool"
cat > "$dir/slurm.conf" <<EOF
ClusterName=realitygap
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.log
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MinJobAge=3600
ReturnToService=2
SchedulerType=sched/backfill
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
stop
export SLURM_CONF="$dir/slurm.conf"
/usr/sbin/slurmctld -f "$SLURM_CONF"
/usr/sbin/slurmd -f "$SLURM_CONF"
for _ in $(seq 60); do
    if sinfo -h -o %T 2>/dev/null | grep -qx idle; then echo "$SLURM_CONF"; exit 0; fi
    sleep 1
done
echo "slurm_localhost.sh: the node did not come up; see $dir/slurmctld.log and $dir/slurmd.log" >&2
exit 1
