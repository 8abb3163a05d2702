#!/bin/sh
# Run once by the postgres image when it creates the database: the role voxhub runs as. It owns nothing and is no
# superuser, so the row-level security under each workspace holds for it; `voxhub migrate --app-role voxhub_app`
# (the compose file's migrate service) grants it the tables.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set=password="$APP_DB_PASSWORD" <<'SQL'
CREATE ROLE voxhub_app LOGIN PASSWORD :'password';
SQL
