# slurm.bash: a one-node Slurm cluster on this machine, for the launcher's
# end-to-end test and benchmark (docs/slurm.md): Debian's slurm-wlm and munge,
# a generated slurm.conf (proctrack/linuxproc, no cgroups, accounting to a
# jobcomp text file), the controller and the node daemon on localhost, all
# files in one temporary directory. Needs root, as slurmd does.
#
#   slurm_start CPUS: start it with a node of CPUS CPUs (declared, as Slurm's
#       config_overrides allows, so that Ninja's -j jobs need not queue) and
#       all of the machine's memory; exports SLURM_CONF and sets SLURM_DIR and
#       SLURM_JOBCOMP (one line per finished job). On failure returns 1 with
#       SLURM_WHY saying why on one line.
#   slurm_stop: stop the daemons and remove the directory.

SLURM_DIR=""

# A TCP port nothing listens on (the kernel's pick, free when asked).
slurm_free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

slurm_start() {
    local cpus=$1 tool mem host i
    for tool in munged slurmctld slurmd srun scontrol sinfo; do
        command -v "$tool" > /dev/null || PATH=$PATH:/usr/sbin command -v "$tool" > /dev/null ||
            { SLURM_WHY="'$tool' is not installed (Debian's slurm-wlm and munge)"; return 1; }
    done
    export PATH=$PATH:/usr/sbin
    [ "$(id -u)" -eq 0 ] || { SLURM_WHY="slurmd needs root and this is uid $(id -u)"; return 1; }
    SLURM_DIR=$(mktemp -d /tmp/ppr-slurm-XXXXXX)
    mkdir -p "$SLURM_DIR/state" "$SLURM_DIR/spool" "$SLURM_DIR/log"
    dd if=/dev/urandom of="$SLURM_DIR/munge.key" bs=1024 count=1 2> /dev/null
    chmod 400 "$SLURM_DIR/munge.key"
    munged --force --key-file="$SLURM_DIR/munge.key" --socket="$SLURM_DIR/munge.sock" \
        --pid-file="$SLURM_DIR/munged.pid" --log-file="$SLURM_DIR/log/munged.log" \
        --seed-file="$SLURM_DIR/munged.seed" 2> "$SLURM_DIR/log/munged.err" ||
        { SLURM_WHY="munged did not start: $(tail -1 "$SLURM_DIR/log/munged.err")"; return 1; }
    mem=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
    host=$(hostname -s)
    cat > "$SLURM_DIR/slurm.conf" << EOF
ClusterName=ppr
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(slurm_free_port)
SlurmdPort=$(slurm_free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SLURM_DIR/munge.sock
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$SLURM_DIR/log/jobcomp.txt
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
NodeName=ppr NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=main Nodes=ppr Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF=$SLURM_DIR/slurm.conf
    SLURM_JOBCOMP=$SLURM_DIR/log/jobcomp.txt
    slurmctld -f "$SLURM_CONF" -i 2> "$SLURM_DIR/log/slurmctld.err" ||
        { SLURM_WHY="slurmctld did not start: $(tail -1 "$SLURM_DIR/log/slurmctld.err")"; return 1; }
    slurmd -f "$SLURM_CONF" -N ppr 2> "$SLURM_DIR/log/slurmd.err" ||
        { SLURM_WHY="slurmd did not start: $(tail -1 "$SLURM_DIR/log/slurmd.err")"; return 1; }
    for i in $(seq 1 100); do
        [ "$(sinfo -h -N -o %T 2> /dev/null)" = idle ] && return 0
        sleep 0.2
    done
    SLURM_WHY="the node did not come up within 20 s: $(tail -1 "$SLURM_DIR/log/slurmd.log" 2> /dev/null)"
    return 1
}

slurm_stop() {
    [ -n "$SLURM_DIR" ] || return 0
    local f
    for f in slurmd slurmctld munged; do
        [ -s "$SLURM_DIR/$f.pid" ] && kill "$(cat "$SLURM_DIR/$f.pid")" 2> /dev/null
    done
    sleep 0.5
    for f in slurmd slurmctld munged; do
        [ -s "$SLURM_DIR/$f.pid" ] && kill -KILL "$(cat "$SLURM_DIR/$f.pid")" 2> /dev/null
    done
    rm -rf "$SLURM_DIR"
    SLURM_DIR=""
}
