-- RBAC reference data: permissions (API key scopes use the same codes) and roles. Idempotent.
-- Category 'customer' permissions may be held by account users and API keys; 'staff' only by staff.

INSERT INTO auth.permissions (code, category, description)
VALUES
    ('accounts:read', 'customer', 'Read the account, its contacts and feature flags'),
    ('accounts:write', 'customer', 'Change the account profile and contacts'),
    ('users:read', 'customer', 'List the account''s portal users'),
    ('users:write', 'customer', 'Invite, create, change roles of and deactivate portal users'),
    ('api_keys:read', 'customer', 'List the account''s API keys'),
    ('api_keys:write', 'customer', 'Create and revoke API keys'),
    ('numbers:read', 'customer', 'Read phone numbers, porting and E911'),
    ('numbers:write', 'customer', 'Order, configure and release phone numbers'),
    ('routing:read', 'customer', 'Read trunks and routing'),
    ('routing:write', 'customer', 'Change trunks and routing'),
    ('cdr:read', 'customer', 'Read call detail records'),
    ('messaging:read', 'customer', 'Read messages and 10DLC registrations'),
    ('messaging:send', 'customer', 'Send messages'),
    ('messaging:write', 'customer', 'Manage 10DLC brands and campaigns, inbound routes and opt-outs'),
    ('vendor:callback', 'staff', 'SMS vendors: signed delivery receipts and inbound messages'),
    ('billing:read', 'customer', 'Read balances, invoices and payments'),
    ('admin', 'customer', 'Every customer permission of the account'),
    ('staff:read', 'staff', 'Platform staff: read every account'),
    ('staff:write', 'staff', 'Platform staff: change every account')
ON CONFLICT (code) DO UPDATE
SET category = EXCLUDED.category, description = EXCLUDED.description
WHERE (auth.permissions.category, auth.permissions.description)
      IS DISTINCT FROM (EXCLUDED.category, EXCLUDED.description);

INSERT INTO auth.roles (name, scope, is_system, description)
VALUES
    ('account_admin', 'CUSTOMER', true, 'Everything on the account, including users and API keys'),
    ('developer', 'CUSTOMER', true, 'Numbers, routing, messaging, CDRs and API keys'),
    ('billing_viewer', 'CUSTOMER', true, 'Account, billing and CDRs, read only'),
    ('read_only', 'CUSTOMER', true, 'Read everything on the account'),
    ('staff_admin', 'STAFF', true, 'Platform administrator: every permission on every account'),
    ('staff_support', 'STAFF', true, 'Support staff: read every account')
ON CONFLICT (name) DO UPDATE
SET scope = EXCLUDED.scope, is_system = EXCLUDED.is_system, description = EXCLUDED.description
WHERE (auth.roles.scope, auth.roles.is_system, auth.roles.description)
      IS DISTINCT FROM (EXCLUDED.scope, EXCLUDED.is_system, EXCLUDED.description);

INSERT INTO auth.role_permissions (role_id, permission_id)
SELECT r.id, p.id
FROM auth.roles r
JOIN auth.permissions p ON
    CASE r.name
        WHEN 'account_admin' THEN p.category = 'customer'
        WHEN 'developer' THEN p.code IN ('accounts:read', 'numbers:read', 'numbers:write', 'routing:read',
                                         'routing:write', 'cdr:read', 'messaging:read', 'messaging:send',
                                         'messaging:write',
                                         'api_keys:read', 'api_keys:write')
        WHEN 'billing_viewer' THEN p.code IN ('accounts:read', 'billing:read', 'cdr:read')
        WHEN 'read_only' THEN p.category = 'customer' AND p.code LIKE '%:read'
        WHEN 'staff_admin' THEN true
        WHEN 'staff_support' THEN p.code LIKE '%:read'
        ELSE false
    END
WHERE r.is_system
ON CONFLICT (role_id, permission_id) DO NOTHING;
