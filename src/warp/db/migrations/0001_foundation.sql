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
