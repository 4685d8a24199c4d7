-- pg_create.sql: the pgbench script of the PostgreSQL peer (pg_peer.sh bench):
-- one order per transaction; the request comes in as the variable req (-D),
-- a bind parameter under -M prepared, so the server parses the JSON each time.
SELECT peer.create_order(:req::jsonb);
