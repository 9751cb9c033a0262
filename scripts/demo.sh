#!/usr/bin/env bash
# Run the example project:  bash scripts/demo.sh
#
#   PYTHON        interpreter for the virtualenv (default: python3)
#   DATABASE_URL  database of the example project (default: db.sqlite3 beside manage.py)
#   DEMO_ADDR     address of the development server (default: 127.0.0.1:8000)
#
# Creates .venvs/demo on the first run, migrates, runs `manage.py setup_demo` (the
# superuser admin/admin, the runtime schedules, a welcome notification; what exists is
# kept), then runs the development server and `manage.py runscheduler` (the scheduler and
# the queue workers) until Ctrl-C, which stops both.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh

python=$(resolve_python "${PYTHON:-python3}")
venv=.venvs/demo
addr=${DEMO_ADDR:-127.0.0.1:8000}

# SQLite has one writer at a time: each worker thread is one more connection queueing for
# the write lock (IMMEDIATE transactions, 30 s busy timeout), and the web server writes
# too. Four threads keep that queue short; other databases get runscheduler's default.
extras=example
concurrency=8
case ${DATABASE_URL:-sqlite:} in
    sqlite:*) concurrency=4 ;;
    postgres:* | postgresql:* | pgsql:*) extras=example,postgres ;;
esac

ensure_venv "$venv" "$python" -e ".[$extras]"

export DJANGO_SETTINGS_MODULE=example_project.settings
py="$venv/bin/python"

"$py" manage.py migrate --noinput
"$py" manage.py setup_demo

echo
echo "Admin:  http://$addr/admin/   login: admin / admin"
echo "Stop:   Ctrl-C"
echo

# Job control: each background process gets its own process group, so a Ctrl-C in the
# terminal reaches only this script, which then stops each group exactly once (a second
# signal would make runscheduler exit without letting its running workflows finish).
set -m
pids=()

# Send a signal to every process group started below (the development server's autoreloader
# and its child are one group).
signal_all() {
    local pid
    for pid in "${pids[@]}"; do
        kill "-$1" -- "-$pid" 2>/dev/null || true
    done
}

any_alive() {
    local pid
    for pid in "${pids[@]}"; do
        if kill -0 -- "-$pid" 2>/dev/null; then
            return 0
        fi
    done
    return 1
}

# TERM to each group (runscheduler lets running workflows finish for up to 5 s; a workflow
# still running then stays PENDING and is recovered at the next start), then KILL whatever
# is left after 10 s, or at once on a second Ctrl-C. TERM rather than INT: a process
# started in the background by a non-interactive shell ignores INT.
stop_all() {
    trap - EXIT
    trap 'signal_all KILL' INT TERM
    signal_all TERM
    local deadline=$((SECONDS + 10))
    while any_alive && ((SECONDS < deadline)); do
        sleep 0.1
    done
    signal_all KILL
    wait 2>/dev/null || true
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap stop_all EXIT

"$py" manage.py runserver "$addr" &
pids+=($!)

"$py" manage.py runscheduler --concurrency "$concurrency" --shutdown-timeout 5 &
pids+=($!)

# Wait until the first process exits, then stop the rest (EXIT trap).
status=0
wait -n || status=$?
exit "$status"
