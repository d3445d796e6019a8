# Sourced by backup.sh and restore.sh: the settings file, and libpq's PG* variables from DATABASE_URL.
# The password travels in the environment, never on a command line, where `ps` shows it to every local user.

CSMS_ENV_FILE="${CSMS_ENV_FILE:-/etc/csms/csms.env}"
if [ -r "$CSMS_ENV_FILE" ]; then
    set -a; . "$CSMS_ENV_FILE"; set +a
fi
: "${DATABASE_URL:?is not set (in $CSMS_ENV_FILE)}"
case "$DATABASE_URL" in
    postgres://*|postgresql://*) ;;
    *) echo "$(basename "$0"): DATABASE_URL is not PostgreSQL (a SQLite site: copy its file with the server stopped)" >&2
       exit 2 ;;
esac

eval "$(python3 -c '
import os, shlex
from urllib.parse import unquote, urlsplit
url = urlsplit(os.environ["DATABASE_URL"])
found = {"PGHOST": url.hostname, "PGPORT": url.port, "PGUSER": url.username,
         "PGPASSWORD": url.password, "PGDATABASE": url.path.lstrip("/")}
for name, value in found.items():
    if value:
        print(f"export {name}={shlex.quote(unquote(str(value)))}")
')"
