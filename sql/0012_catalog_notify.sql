-- NOTIFY catalog whenever what GET /api/v1/catalog shows may have changed
-- (issue 17).
--
-- Each web worker keeps the rendered catalogue in memory and LISTENs on
-- the channel "catalog" (api/catalog.c).  A committed change to any table
-- the catalogue statement reads notifies every listening worker, which
-- drops its copy before answering the next request.  The payload is the
-- table's name, for whoever watches the channel; the workers ignore it.
--
-- A fee schedule that comes into force later changes nothing when its
-- time comes, so no trigger can announce it: the workers also drop their
-- copy at the next effective_from after their render (api/catalog.c).
--
-- Statement-level triggers: one notification per statement, and PostgreSQL
-- folds identical notifications of one transaction into one.  TRUNCATE is
-- covered too.

CREATE FUNCTION catalog_changed() RETURNS trigger LANGUAGE plpgsql
    SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    PERFORM pg_notify('catalog', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['business_type', 'certificate_type', 'material_kind',
            'required_material', 'material_policy', 'term_policy', 'online_flow_step',
            'counter_info', 'support_info', 'fee_code', 'fee_schedule', 'fee_item',
            'business_fee'] LOOP
        EXECUTE format('CREATE TRIGGER catalog_changed'
                       ' AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION catalog_changed()', t);
    END LOOP;
END
$$;
