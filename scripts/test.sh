#!/usr/bin/env bash
# Run the test suite:  bash scripts/test.sh [pytest args...]
#
#   PYTHON        interpreter for the virtualenv (default: python3)
#   DJANGO_SPEC   Django version specifier (default: ">=5.2,<6" on Python 3.11,
#                 ">=6,<7" on newer Pythons)
#   DATABASE_URL  database to test against (default: a SQLite file), e.g.
#                 postgres://postgres@127.0.0.1:5432/durable
#
# The virtualenv lives in .venvs/<python version>-django<major>; it is created on the
# first run and re-installed only when pyproject.toml, DJANGO_SPEC or the interpreter
# changes. The exit code is pytest's (5 means no tests were collected).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/_venv.sh
source scripts/_venv.sh

python=$(resolve_python "${PYTHON:-python3}")
py_version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

if [[ -z ${DJANGO_SPEC:-} ]]; then
    if [[ $py_version == 3.11 ]]; then
        DJANGO_SPEC=">=5.2,<6"
    else
        DJANGO_SPEC=">=6,<7"
    fi
fi
django_major=$(grep -oE '[0-9]+' <<<"$DJANGO_SPEC" | head -n1)
venv=".venvs/${py_version}-django${django_major:-x}"

ensure_venv "$venv" "$python" -e '.[test]' "Django${DJANGO_SPEC}"

export DJANGO_SETTINGS_MODULE=tests.settings
"$venv/bin/python" - <<'EOF'
import platform
import re

import django
from django.conf import settings

db = settings.DATABASES["default"]
where = db["NAME"] if db.get("ENGINE", "").endswith("sqlite3") else (
    f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 'default port'}/{db['NAME']}"
)
print(f">>> Python {platform.python_version()} ({platform.python_implementation()})")
print(f">>> Django {django.get_version()}")
test_name = re.sub(r"_\d+\.sqlite3$", "_<pid>.sqlite3", str(db["TEST"]["NAME"]))
print(f">>> Database {db['ENGINE'].rsplit('.', 1)[-1]} {where} (test database: {test_name})")
EOF

exec "$venv/bin/python" -m pytest "$@"
