#!/usr/bin/env bash
# pip-audit over the packages installed in the project's environment (.venv, or $PYTHON's), with the project's
# policy: fail only on a known-exploited vulnerability (CISA KEV) or a critical one that has a fix; say so, and pass,
# when the vulnerability service cannot be reached. The policy is written out in scripts/audit_deps.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
if ! "$PYTHON" -c 'import pip_audit' 2>/dev/null; then
    echo "audit-deps: COULD NOT AUDIT: pip-audit is not installed in $PYTHON's environment (pip install -e '.[dev]')"
    exit 0
fi
exec "$PYTHON" scripts/audit_deps.py "$@"
