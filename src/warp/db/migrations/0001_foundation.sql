-- WARP foundation: extensions, the nine domain schemas and the shared updated_at trigger function.

CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE SCHEMA IF NOT EXISTS accounts;
CREATE SCHEMA IF NOT EXISTS auth;
CREATE SCHEMA IF NOT EXISTS numbers;
CREATE SCHEMA IF NOT EXISTS routing;
CREATE SCHEMA IF NOT EXISTS cdr;
CREATE SCHEMA IF NOT EXISTS messaging;
CREATE SCHEMA IF NOT EXISTS billing;
CREATE SCHEMA IF NOT EXISTS vendor_mgmt;
CREATE SCHEMA IF NOT EXISTS audit;

COMMENT ON SCHEMA accounts IS 'Customer accounts, contacts, reseller hierarchy, documents and feature flags.';
COMMENT ON SCHEMA auth IS 'Portal users, API keys, sessions and role-based access control.';
COMMENT ON SCHEMA numbers IS 'Phone number inventory, customer DIDs, toll-free data, porting and E911.';
COMMENT ON SCHEMA routing IS 'Customer SIP trunks, carriers, carrier trunks, rate decks and routing partitions.';
COMMENT ON SCHEMA cdr IS 'Call detail records from Kamailio, enrichment reference data and summaries.';
COMMENT ON SCHEMA messaging IS 'Message detail records, 10DLC registration, opt-outs, inbound routing and webhooks.';
COMMENT ON SCHEMA billing IS 'Rate plans, rates, balances and ledger, usage, invoices, taxes and payments.';
COMMENT ON SCHEMA vendor_mgmt IS 'Third-party vendors, service provider plugins, carrier commercials, SMPP binds and SLAs.';
COMMENT ON SCHEMA audit IS 'Audit trail, API request log, compliance records and security incidents.';

CREATE OR REPLACE FUNCTION public.update_updated_at_column()
RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$fn$;

COMMENT ON FUNCTION public.update_updated_at_column() IS
    'BEFORE UPDATE row trigger: sets NEW.updated_at to the transaction timestamp.';

-- The errors of a foreign key, for references that are checked by triggers instead (set-based checks of
-- bulk-loaded tables: routing.rate_deck, cdr.raw_cdr): same SQLSTATE, message, detail, schema, table and
-- constraint name as PostgreSQL's own, so callers and the API's error mapping cannot tell them apart.
CREATE FUNCTION public.raise_missing_reference(p_schema text, p_table text, p_constraint text, p_columns text,
                                               p_key text, p_referenced_table text) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog
AS $fn$
BEGIN
    RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"', p_table, p_constraint
        USING ERRCODE = 'foreign_key_violation', SCHEMA = p_schema, TABLE = p_table, CONSTRAINT = p_constraint,
              DETAIL = format('Key (%s)=(%s) is not present in table "%s".', p_columns, p_key, p_referenced_table);
END;
$fn$;
COMMENT ON FUNCTION public.raise_missing_reference(text, text, text, text, text, text) IS
    'Raises a foreign key''s "not present" error (23503) for a reference checked by a trigger.';

CREATE FUNCTION public.raise_still_referenced(p_table text, p_constraint text, p_key text,
                                              p_referencing_schema text, p_referencing_table text) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog
AS $fn$
BEGIN
    -- As PostgreSQL reports it: the schema and table fields name the referencing table (the constraint's).
    RAISE EXCEPTION 'update or delete on table "%" violates foreign key constraint "%" on table "%"',
            p_table, p_constraint, p_referencing_table
        USING ERRCODE = 'foreign_key_violation', SCHEMA = p_referencing_schema, TABLE = p_referencing_table,
              CONSTRAINT = p_constraint,
              DETAIL = format('Key (id)=(%s) is still referenced from table "%s".', p_key, p_referencing_table);
END;
$fn$;
COMMENT ON FUNCTION public.raise_still_referenced(text, text, text, text, text) IS
    'Raises a foreign key''s "still referenced" error (23503) for a reference restricted by a trigger.';
