#!/usr/bin/env bash
# Run the example project:  bash scripts/demo.sh
#
#   PYTHON        interpreter for the virtualenv (default: python3)
#   DATABASE_URL  database of the example project (default: db.sqlite3 beside manage.py)
#   DEMO_ADDR     address of the development server (default: 127.0.0.1:8000)
#
# Creates .venvs/demo on the first run, migrates, makes sure a superuser admin/admin
# exists, then runs the development server until Ctrl-C, which stops every process
# this script started.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh

python=$(resolve_python "${PYTHON:-python3}")
venv=.venvs/demo
addr=${DEMO_ADDR:-127.0.0.1:8000}

ensure_venv "$venv" "$python" -e '.[example]'

export DJANGO_SETTINGS_MODULE=example_project.settings
py="$venv/bin/python"

"$py" manage.py migrate --noinput

"$py" manage.py shell --no-imports -c '
from django.contrib.auth import get_user_model

User = get_user_model()
if User.objects.filter(username="admin").exists():
    print("Superuser admin exists (kept as is).")
else:
    User.objects.create_superuser("admin", "admin@example.com", "admin")
    print("Created superuser admin.")
'

echo
echo "Admin:  http://$addr/admin/   login: admin / admin"
echo "Stop:   Ctrl-C"
echo

# Every long-running process is started in the background and its pid kept in `pids`;
# Ctrl-C (INT), TERM or the exit of any one of them stops all the others.
pids=()
stop_all() {
    trap - INT TERM EXIT
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap stop_all EXIT

"$py" manage.py runserver "$addr" &
pids+=($!)

# Further processes go here, e.g.:
#   "$py" manage.py runscheduler &
#   pids+=($!)

# Wait until the first process exits, then stop the rest (EXIT trap).
status=0
wait -n || status=$?
exit "$status"
