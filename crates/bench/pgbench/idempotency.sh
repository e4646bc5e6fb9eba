#!/usr/bin/env bash
# What exactly-once costs PostgreSQL: pgbench runs the node's plain transaction insert and its
# keyed statement (the idempotency record and the row in one CTE, as
# crates/store/src/postgres/idempotency.rs sends them) against a throw-away server, alternately.
#
#   bash crates/bench/pgbench/idempotency.sh [seconds per run, default 15] [clients, default 8]
#
# Needs Debian's postgresql server binaries; as root, the server runs as user postgres.
set -euo pipefail
seconds=${1:-15}
clients=${2:-8}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
dir=$(mktemp -d)
as_pg=()
if [ "$(id -u)" = 0 ]; then
    chown postgres "$dir"
    as_pg=(runuser -u postgres --)
fi
port=5499
"${as_pg[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust >/dev/null
"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -o "-p $port -k $dir" -l "$dir/log" -w start >/dev/null
trap '"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null; rm -rf "$dir"' EXIT
psql=("$bin/psql" -h "$dir" -p "$port" -U postgres -q)
"${psql[@]}" -c "
CREATE TABLE ENCRYPTED_TRANSACTION (ENCODED_PAYLOAD BYTEA NOT NULL, PAYLOAD_CODEC VARCHAR(50),
    HASH BYTEA NOT NULL, TIMESTAMP BIGINT, PRIMARY KEY (HASH));
CREATE TABLE CLOISTER_IDEMPOTENCY (IDEMPOTENCY_KEY VARCHAR(255) NOT NULL PRIMARY KEY,
    FINGERPRINT BYTEA NOT NULL, HASH BYTEA NOT NULL, TIMESTAMP BIGINT NOT NULL);
CREATE INDEX CLOISTER_IDEMPOTENCY_TIMESTAMP ON CLOISTER_IDEMPOTENCY (TIMESTAMP);"
# A 1 KiB payload is about 1.8 KB once encrypted and encoded.
cat > "$dir/plain.sql" <<'SQL'
\set r random(1, 1000000000)
INSERT INTO ENCRYPTED_TRANSACTION (HASH, ENCODED_PAYLOAD, PAYLOAD_CODEC, TIMESTAMP)
VALUES (sha512((:r || clock_timestamp()::text)::bytea), decode(repeat('ab', 1800), 'hex'), 'CBOR', 1)
ON CONFLICT (HASH) DO NOTHING;
SQL
cat > "$dir/keyed.sql" <<'SQL'
\set r random(1, 1000000000)
WITH recorded AS (INSERT INTO CLOISTER_IDEMPOTENCY (IDEMPOTENCY_KEY, FINGERPRINT, HASH, TIMESTAMP)
    VALUES (md5(:r || clock_timestamp()::text) || 'abcd', sha256('x'::bytea),
            sha512((:r || clock_timestamp()::text)::bytea), 1)
    ON CONFLICT (IDEMPOTENCY_KEY) DO NOTHING RETURNING 1),
stored AS (INSERT INTO ENCRYPTED_TRANSACTION (HASH, ENCODED_PAYLOAD, PAYLOAD_CODEC, TIMESTAMP)
    SELECT sha512((:r || clock_timestamp()::text || 'x')::bytea), decode(repeat('ab', 1800), 'hex'),
           'CBOR', 1::BIGINT WHERE EXISTS (SELECT 1 FROM recorded)
    ON CONFLICT (HASH) DO NOTHING RETURNING 1)
SELECT (SELECT COUNT(*) FROM recorded), (SELECT COUNT(*) FROM stored);
SQL
chmod a+r "$dir"/*.sql
for round in 1 2; do
    for statement in plain keyed; do
        printf '%s (round %s): ' "$statement" "$round"
        "$bin/pgbench" -h "$dir" -p "$port" -U postgres -n -M prepared -c "$clients" -j 2 \
            -T "$seconds" -f "$dir/$statement.sql" postgres 2>&1 | grep '^tps'
    done
done
