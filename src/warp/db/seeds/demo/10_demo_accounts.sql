-- Demo world, part 1: accounts (a reseller with two children), contacts, documents, feature flags,
-- users, roles, API keys and sessions.
--
-- Every demo file is idempotent: rows carry deterministic ids (uuid v5 of 'warp-demo:<table>:<key>')
-- or business keys, inserted with ON CONFLICT DO NOTHING; times are literals or offsets from the
-- start of the current UTC month, so a second run inserts nothing and the audit trail gains nothing.
--
-- Demo credentials (documented in the README):
--   every user's password:  demo-password
--   staff:                  admin@warp.example, support@warp.example
--   customers:              admin@acme.example, billing@acme.example, admin@globex.example,
--                           admin@initech.example, ops@umbrella.example
--   API keys:               warp_demoacme_AcmeDemoSecretNotForProduction01      (DEMO-ACME)
--                           warp_demoglobex_GlobexDemoSecretNotForProduction01  (DEMO-GLOBEX)
--                           warp_demoinitech_InitechDemoSecretNotForProduction01 (DEMO-INITECH)
--   session tokens:         demo-session-<local part>-<domain label>, e.g. demo-session-admin-acme

SET LOCAL TimeZone = 'UTC';
-- Seeding is a platform action: act as staff for guards that check accounts.is_staff()
-- (e.g. port requests created directly in a later state). Lasts until the seed transaction ends.
SET LOCAL warp.role = 'staff';

CREATE OR REPLACE FUNCTION pg_temp.demo_id(p_key text) RETURNS uuid
    LANGUAGE sql IMMUTABLE
AS $$
    SELECT public.uuid_generate_v5(public.uuid_ns_url(), 'warp-demo:' || p_key)
$$;

CREATE OR REPLACE FUNCTION pg_temp.demo_month() RETURNS timestamptz
    LANGUAGE sql STABLE
AS $$
    SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
$$;

-- ---------------------------------------------------------------------------------------------
-- Accounts: Acme (direct customer), Globex (reseller) with children Initech and Umbrella.

INSERT INTO accounts.accounts (id, ban, name, legal_name, account_type, status, timezone, tax_id,
                               billing_country, billing_state, metadata)
SELECT pg_temp.demo_id('accounts:' || v.ban), v.ban, v.name, v.legal_name, v.account_type, v.status,
       v.timezone, v.tax_id, 'US', v.billing_state, v.metadata::jsonb
FROM (VALUES
    ('DEMO-ACME', 'Acme Telecom', 'Acme Telecom LLC', 'CUSTOMER', 'ACTIVE', 'America/Denver', '84-1000001', 'CO',
     '{"demo": true, "segment": "contact center"}'),
    ('DEMO-GLOBEX', 'Globex Voice', 'Globex Voice Inc.', 'RESELLER', 'ACTIVE', 'America/New_York', '13-1000002', 'NY',
     '{"demo": true, "segment": "wholesale reseller"}'),
    ('DEMO-INITECH', 'Initech', 'Initech Corporation', 'CUSTOMER', 'ACTIVE', 'America/Chicago', '74-1000003', 'TX',
     '{"demo": true, "segment": "enterprise", "reseller": "DEMO-GLOBEX"}'),
    ('DEMO-UMBRELLA', 'Umbrella Clinics', 'Umbrella Clinics PLLC', 'CUSTOMER', 'ACTIVE', 'America/Chicago', '36-1000004', 'IL',
     '{"demo": true, "segment": "healthcare", "reseller": "DEMO-GLOBEX"}')
) AS v (ban, name, legal_name, account_type, status, timezone, tax_id, billing_state, metadata)
ON CONFLICT DO NOTHING;

INSERT INTO accounts.account_hierarchy (id, parent_account_id, child_account_id, relationship_type)
SELECT pg_temp.demo_id('account_hierarchy:' || v.child), p.id, c.id, 'RESELLER'
FROM (VALUES ('DEMO-GLOBEX', 'DEMO-INITECH'), ('DEMO-GLOBEX', 'DEMO-UMBRELLA')) AS v (parent, child)
JOIN accounts.accounts p ON p.ban = v.parent
JOIN accounts.accounts c ON c.ban = v.child
ON CONFLICT DO NOTHING;

INSERT INTO accounts.contacts (id, account_id, contact_type, name, title, email, phone, mobile_phone, is_primary)
SELECT pg_temp.demo_id('contacts:' || v.ban || ':' || v.contact_type), a.id, v.contact_type, v.name, v.title,
       v.email, v.phone, v.mobile, v.contact_type = 'PRIMARY'
FROM (VALUES
    ('DEMO-ACME', 'PRIMARY', 'Wile E. Coyote', 'CTO', 'wile@acme.example', '+13035550190', '+17205550190'),
    ('DEMO-ACME', 'BILLING', 'Road Runner', 'Controller', 'ap@acme.example', '+13035550191', NULL),
    ('DEMO-ACME', 'NOC', 'Acme NOC', NULL, 'noc@acme.example', '+13035550192', NULL),
    ('DEMO-GLOBEX', 'PRIMARY', 'Hank Scorpio', 'CEO', 'hank@globex.example', '+12125550190', '+16465550190'),
    ('DEMO-GLOBEX', 'BILLING', 'Globex Accounts Payable', NULL, 'ap@globex.example', '+12125550191', NULL),
    ('DEMO-GLOBEX', 'TECHNICAL', 'Frank Grimes', 'Network Engineer', 'frank@globex.example', '+12125550192', NULL),
    ('DEMO-INITECH', 'PRIMARY', 'Bill Lumbergh', 'Director', 'bill@initech.example', '+15125550190', NULL),
    ('DEMO-INITECH', 'TECHNICAL', 'Milton Waddams', 'Systems', 'milton@initech.example', '+15125550191', NULL),
    ('DEMO-UMBRELLA', 'PRIMARY', 'Alice Abernathy', 'Operations', 'alice@umbrella.example', '+13125550190', NULL),
    ('DEMO-UMBRELLA', 'EMERGENCY', 'Umbrella Security Desk', NULL, 'security@umbrella.example', '+13125550191', NULL)
) AS v (ban, contact_type, name, title, email, phone, mobile)
JOIN accounts.accounts a ON a.ban = v.ban
ON CONFLICT DO NOTHING;

INSERT INTO accounts.documents (id, account_id, document_type, title, storage_ref, content_type, size_bytes,
                                sha256, signed_at, expires_at, metadata)
SELECT pg_temp.demo_id('documents:' || v.ban || ':' || v.slug), a.id, v.document_type, v.title,
       's3://warp-demo-documents/' || v.ban || '/' || v.slug || '.pdf', 'application/pdf', v.size_bytes,
       encode(sha256(convert_to('warp-demo-document:' || v.ban || ':' || v.slug, 'UTF8')), 'hex'),
       v.signed_at::timestamptz, v.expires_at::timestamptz, '{"demo": true}'::jsonb
FROM (VALUES
    ('DEMO-ACME', 'msa', 'MSA', 'Master Services Agreement', 184320, '2025-01-15 17:00:00+00', '2028-01-15 00:00:00+00'),
    ('DEMO-ACME', 'loa-port-1', 'LOA', 'Letter of Authorization: port-in of 303-555-0180..0182', 65536,
     '2025-06-01 15:00:00+00', NULL),
    ('DEMO-GLOBEX', 'msa', 'MSA', 'Reseller Master Services Agreement', 201728, '2025-02-01 17:00:00+00', '2028-02-01 00:00:00+00'),
    ('DEMO-GLOBEX', 'tax-exemption', 'TAX_EXEMPTION', 'Resale certificate (NY ST-120)', 40960, '2025-02-01 17:00:00+00',
     '2027-12-31 00:00:00+00'),
    ('DEMO-GLOBEX', 'loa-port-2', 'LOA', 'Letter of Authorization: port-in of 212-555-0180', 61440,
     '2025-06-10 15:00:00+00', NULL),
    ('DEMO-INITECH', 'contract', 'CONTRACT', 'Service order (via Globex)', 90112, '2025-03-01 17:00:00+00', NULL),
    ('DEMO-INITECH', 'loa-port-3', 'LOA', 'Letter of Authorization: port-in of 512-555-0180', 61440,
     '2025-06-20 15:00:00+00', NULL),
    ('DEMO-UMBRELLA', 'kyc', 'KYC', 'Know-your-customer questionnaire', 32768, '2025-04-01 17:00:00+00', NULL)
) AS v (ban, slug, document_type, title, size_bytes, signed_at, expires_at)
JOIN accounts.accounts a ON a.ban = v.ban
ON CONFLICT DO NOTHING;

INSERT INTO accounts.feature_flags (id, account_id, flag_key, enabled, value, description)
SELECT pg_temp.demo_id('feature_flags:' || v.ban || ':' || v.flag_key), a.id, v.flag_key, v.enabled,
       v.value::jsonb, v.description
FROM (VALUES
    ('DEMO-ACME', 'messaging.10dlc', true, '{}', '10DLC messaging on local numbers'),
    ('DEMO-ACME', 'routing.quality', true, '{"min_asr": 40}', 'QUALITY routing strategy'),
    ('DEMO-GLOBEX', 'messaging.10dlc', true, '{}', '10DLC messaging on local numbers'),
    ('DEMO-GLOBEX', 'reseller.sub_accounts', true, '{"max_children": 25}', 'May create child accounts'),
    ('DEMO-INITECH', 'portal.beta', false, '{}', 'Beta portal features'),
    ('DEMO-UMBRELLA', 'messaging.10dlc', false, '{}', '10DLC messaging on local numbers')
) AS v (ban, flag_key, enabled, value, description)
JOIN accounts.accounts a ON a.ban = v.ban
ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------------------------------------------
-- Users: bcrypt (cost 12) of 'demo-password', hashed only for users that do not exist yet.

INSERT INTO auth.users (id, account_id, email, display_name, password_hash, status, is_staff,
                        email_verified_at, password_changed_at, metadata)
SELECT pg_temp.demo_id('users:' || v.email), a.id, v.email, v.display_name,
       crypt('demo-password', gen_salt('bf', 12)), 'ACTIVE', v.is_staff,
       timestamptz '2025-01-02 12:00:00+00', timestamptz '2025-01-02 12:00:00+00', '{"demo": true}'::jsonb
FROM (VALUES
    ('admin@warp.example', NULL, 'WARP Admin', true),
    ('support@warp.example', NULL, 'WARP Support', true),
    ('admin@acme.example', 'DEMO-ACME', 'Acme Admin', false),
    ('billing@acme.example', 'DEMO-ACME', 'Acme Billing', false),
    ('admin@globex.example', 'DEMO-GLOBEX', 'Globex Admin', false),
    ('admin@initech.example', 'DEMO-INITECH', 'Initech Admin', false),
    ('ops@umbrella.example', 'DEMO-UMBRELLA', 'Umbrella Ops', false)
) AS v (email, ban, display_name, is_staff)
LEFT JOIN accounts.accounts a ON a.ban = v.ban
WHERE NOT EXISTS (SELECT 1 FROM auth.users u WHERE lower(u.email) = lower(v.email))
ON CONFLICT DO NOTHING;

-- Roles come from 10_auth.sql; pick by scope and name so the demo follows whatever roles exist
-- (admin-like role for admins, billing-like role for billing users). No role, no row.
INSERT INTO auth.user_roles (id, user_id, role_id)
SELECT pg_temp.demo_id('user_roles:' || v.email), u.id, r.id
FROM (VALUES
    ('admin@warp.example', 'STAFF', 'admin'),
    ('support@warp.example', 'STAFF', 'support'),
    ('admin@acme.example', 'CUSTOMER', 'admin'),
    ('billing@acme.example', 'CUSTOMER', 'billing'),
    ('admin@globex.example', 'CUSTOMER', 'admin'),
    ('admin@initech.example', 'CUSTOMER', 'admin'),
    ('ops@umbrella.example', 'CUSTOMER', 'admin')
) AS v (email, scope, hint)
JOIN auth.users u ON lower(u.email) = lower(v.email)
CROSS JOIN LATERAL (
    SELECT r.id FROM auth.roles r
    WHERE r.scope = v.scope AND r.name ILIKE '%' || v.hint || '%'
    ORDER BY length(r.name), r.name
    LIMIT 1
) AS r
ON CONFLICT DO NOTHING;

-- API keys: key_hash = sha256 of the whole documented key.
INSERT INTO auth.api_keys (id, account_id, created_by_user_id, name, key_prefix, key_hash, scopes, allowed_ips,
                           rate_limit_per_second, rate_limit_per_minute, rate_limit_per_hour)
SELECT pg_temp.demo_id('api_keys:' || v.prefix), a.id, u.id, v.name, v.prefix,
       encode(sha256(convert_to('warp_' || v.prefix || '_' || v.secret, 'UTF8')), 'hex'),
       v.scopes::text[], v.allowed_ips::inet[], v.per_second, v.per_minute, NULL
FROM (VALUES
    ('DEMO-ACME', 'admin@acme.example', 'demo key', 'demoacme', 'AcmeDemoSecretNotForProduction01',
     '{numbers:read,numbers:write,routing:read,routing:write,messaging:send,billing:read}', NULL, 20, 600),
    ('DEMO-GLOBEX', 'admin@globex.example', 'demo key', 'demoglobex', 'GlobexDemoSecretNotForProduction01',
     '{numbers:read,numbers:write,routing:read,messaging:send,billing:read,accounts:read}',
     '{127.0.0.0/8,::1/128}', 50, 2000),
    ('DEMO-INITECH', 'admin@initech.example', 'demo key (read only)', 'demoinitech',
     'InitechDemoSecretNotForProduction01', '{numbers:read,billing:read}', NULL, 5, 100)
) AS v (ban, email, name, prefix, secret, scopes, allowed_ips, per_second, per_minute)
JOIN accounts.accounts a ON a.ban = v.ban
LEFT JOIN auth.users u ON lower(u.email) = lower(v.email)
ON CONFLICT DO NOTHING;

-- Portal sessions: token 'demo-session-<local>-<domain label>', stored as its SHA-256.
INSERT INTO auth.sessions (id, user_id, token_hash, ip_address, user_agent, mfa_verified, last_seen_at,
                           idle_expires_at, expires_at)
SELECT pg_temp.demo_id('sessions:' || v.email), u.id,
       encode(sha256(convert_to('demo-session-' || split_part(v.email, '@', 1) || '-'
                                || split_part(split_part(v.email, '@', 2), '.', 1), 'UTF8')), 'hex'),
       v.ip::inet, 'Mozilla/5.0 (X11; Linux x86_64) warp-demo', false,
       pg_temp.demo_month(), pg_temp.demo_month() + interval '1 month',
       pg_temp.demo_month() + interval '2 months'
FROM (VALUES
    ('admin@warp.example', '127.0.0.1'),
    ('admin@acme.example', '127.0.0.1'),
    ('admin@globex.example', '127.0.0.2'),
    ('admin@initech.example', '203.0.113.10')
) AS v (email, ip)
JOIN auth.users u ON lower(u.email) = lower(v.email)
ON CONFLICT DO NOTHING;
