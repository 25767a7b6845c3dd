#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for the cluster test (tests/test_slurm.py).
#   scripts/slurm_localhost.sh start DIR   install Debian's slurm-wlm and munge (once), write the config
#                                          (/etc/slurm/slurm.conf, state and logs in DIR), start munged,
#                                          slurmctld and slurmd; prints the config's path
#   scripts/slurm_localhost.sh stop DIR    stop the daemons started from DIR and remove the test cluster's config
# Needs root (apt and the daemons). No cgroups, no accounting database: finished jobs are written by
# jobcomp/filetxt to DIR/jobcomp.log, and squeue keeps them visible for MinJobAge seconds.
set -euo pipefail
action=${1:?usage: slurm_localhost.sh start|stop DIR}
dir=$(realpath -m "${2:?usage: slurm_localhost.sh start|stop DIR}")

conf=/etc/slurm/slurm.conf
marker="realitygap localhost test cluster"

stop_daemons() {
    for daemon in slurmd slurmctld; do
        [ -f "$dir/$daemon.pid" ] && kill "$(cat "$dir/$daemon.pid")" 2>/dev/null || true
    done
}

# Stopping also takes this cluster's config away: left in place with no controller, every SLURM client
# waits about 9 s for it, and Snakemake's SLURM executor plugin runs `scontrol show config` at each start.
stop() {
    stop_daemons
    if [ -f "$conf" ] && grep -q "$marker" "$conf"; then rm -f "$conf"; fi
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
# Four job slots per core: the test's jobs mostly start Python and wait, and a group job of four
# one-thread jobs must fit on the one node (config_overrides lets slurmd believe the count).
cpus=$(( 4 * $(nproc) ))
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
mkdir -p "$dir/state" "$dir/spool"
cat > "$dir/slurm.conf" <<EOF
# realitygap localhost test cluster (scripts/slurm_localhost.sh)
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
SlurmdParameters=config_overrides
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
# srun inside a batch job reads the default location, not SLURM_CONF: the config goes there, unless
# a real cluster's is already in place.
if [ -e "$conf" ] && ! grep -q "$marker" "$conf"; then
    echo "slurm_localhost.sh: $conf belongs to another cluster; not replacing it" >&2
    exit 1
fi
mkdir -p /etc/slurm
cp "$dir/slurm.conf" "$conf"
stop_daemons
/usr/sbin/slurmctld -f "$conf"
/usr/sbin/slurmd -f "$conf"
for _ in $(seq 60); do
    if sinfo -h -o %T 2>/dev/null | grep -qx idle; then echo "$conf"; exit 0; fi
    sleep 1
done
echo "slurm_localhost.sh: the node did not come up; see $dir/slurmctld.log and $dir/slurmd.log" >&2
exit 1
