-- Privileges for the web workers' role.
--
-- Migrations run as the schema owner (certhall_owner).  The workers connect
-- as certhall_app, which may read and write rows but never change the
-- schema.  Roles are cluster-wide, so they are created by whoever sets up the
-- cluster (scripts/lib/stack.sh in development); this file only grants.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'certhall_app') THEN
        RAISE EXCEPTION 'role certhall_app must exist before migrating';
    END IF;
END
$$;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO certhall_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO certhall_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO certhall_app;
