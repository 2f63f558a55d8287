# The official postgres image's start-up, as far as deploy/k8s/postgres.yaml uses it: on an empty PGDATA,
# initdb with POSTGRES_USER as superuser and POSTGRES_PASSWORD, then POSTGRES_DB created; then the server,
# listening on every address with password authentication from the network.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/pgpass
    initdb --pgdata "$PGDATA" --username "$POSTGRES_USER" --pwfile /tmp/pgpass --auth-local trust --auth-host scram-sha-256 >/dev/null
    rm /tmp/pgpass
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    printf 'CREATE DATABASE "%s";\n' "$POSTGRES_DB" | postgres --single -D "$PGDATA" postgres >/dev/null
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql
