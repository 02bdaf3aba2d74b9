#!/usr/bin/env bash
# Start, stop and inspect the background processes of the local stack (no Docker needed).
#   scripts/bg.sh start NAME CMD [ARGS...]   pid in .run/NAME.pid, output in .run/NAME.log
#   scripts/bg.sh stop NAME                  SIGTERM, then SIGKILL after 20 s
#   scripts/bg.sh alive NAME                 exit 0 if running
set -euo pipefail
RUN_DIR=${RUN_DIR:-.run}
mkdir -p "$RUN_DIR"
cmd=${1:?usage: bg.sh start|stop|alive NAME [CMD...]}
name=${2:?usage: bg.sh start|stop|alive NAME [CMD...]}
pidfile="$RUN_DIR/$name.pid"
logfile="$RUN_DIR/$name.log"

alive() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "$cmd" in
  start)
    shift 2
    if alive; then echo "$name already running (pid $(cat "$pidfile"))"; exit 0; fi
    nohup "$@" >>"$logfile" 2>&1 </dev/null &
    echo $! >"$pidfile"
    sleep 0.5
    if ! alive; then echo "$name exited at once; last lines of $logfile:" >&2; tail -n 20 "$logfile" >&2; exit 1; fi
    echo "$name started (pid $(cat "$pidfile"), log $logfile)"
    ;;
  stop)
    if ! alive; then echo "$name not running"; rm -f "$pidfile"; exit 0; fi
    pid=$(cat "$pidfile")
    kill -TERM "$pid"
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then echo "$name did not stop in 20 s: SIGKILL"; kill -KILL "$pid"; fi
    rm -f "$pidfile"
    echo "$name stopped"
    ;;
  alive) alive ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
