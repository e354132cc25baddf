-- auth: look-ups that must run before the tenant is known, session cleanup, and the API's
-- idempotency keys. See docs/adr/0004-auth-lookups-before-tenant.md.
--
-- Row-level security hides every auth row from warp_app until warp.account_id is set, but the
-- tenant is only known once the credential is checked. These SECURITY DEFINER functions (owned by
-- warp_owner, which bypasses RLS) each return the one row a presented credential names, and nothing
-- else; the application verifies the hash and only then sets the tenant.

CREATE FUNCTION auth.authenticate_api_key(p_key_prefix text)
    RETURNS TABLE (
        id uuid, account_id uuid, name text, key_hash text, scopes text[], allowed_ips inet[],
        rate_limit_per_second integer, rate_limit_per_minute integer, rate_limit_per_hour integer,
        expires_at timestamptz, revoked_at timestamptz, last_used_at timestamptz, account_status text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
    SELECT k.id, k.account_id, k.name::text, k.key_hash::text, k.scopes, k.allowed_ips,
           k.rate_limit_per_second, k.rate_limit_per_minute, k.rate_limit_per_hour,
           k.expires_at, k.revoked_at, k.last_used_at, a.status::text
    FROM auth.api_keys k
    JOIN accounts.accounts a ON a.id = k.account_id
    WHERE k.key_prefix = p_key_prefix
$$;
COMMENT ON FUNCTION auth.authenticate_api_key(text) IS
    'The API key with this prefix (hash included for the caller''s constant-time check) and its account status; '
    'runs as warp_owner because no tenant is set before authentication.';

CREATE FUNCTION auth.authenticate_session(p_token_hash text, p_idle_seconds integer)
    RETURNS TABLE (
        session_id uuid, user_id uuid, account_id uuid, is_staff boolean, email text,
        mfa_verified boolean, permissions text[])
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
#variable_conflict use_column
DECLARE
    found_id uuid;
    seen_at timestamptz;
BEGIN
    SELECT se.id, se.last_seen_at INTO found_id, seen_at
    FROM auth.sessions se
    JOIN auth.users u ON u.id = se.user_id
    LEFT JOIN accounts.accounts a ON a.id = u.account_id
    WHERE se.token_hash = p_token_hash
      AND se.revoked_at IS NULL
      AND se.expires_at > now()
      AND se.idle_expires_at > now()
      AND u.status = 'ACTIVE'
      AND coalesce(a.status, 'ACTIVE') <> 'CLOSED';
    IF found_id IS NULL THEN
        RETURN;
    END IF;
    -- Slide the idle expiry, at most once a minute (not a write per request).
    IF seen_at < now() - interval '1 minute' THEN
        UPDATE auth.sessions
        SET last_seen_at = now(),
            idle_expires_at = least(expires_at, now() + make_interval(secs => p_idle_seconds))
        WHERE id = found_id;
    END IF;
    RETURN QUERY
    SELECT se.id, u.id, u.account_id, (u.is_staff AND u.account_id IS NULL), u.email::text, se.mfa_verified,
           coalesce((SELECT array_agg(DISTINCT p.code::text)
                     FROM auth.user_roles ur
                     JOIN auth.role_permissions rp ON rp.role_id = ur.role_id
                     JOIN auth.permissions p ON p.id = rp.permission_id
                     WHERE ur.user_id = u.id), '{}'::text[])
    FROM auth.sessions se
    JOIN auth.users u ON u.id = se.user_id
    WHERE se.id = found_id;
END
$$;
COMMENT ON FUNCTION auth.authenticate_session(text, integer) IS
    'The live session with this token hash, its user and permissions; slides the idle expiry at most once a '
    'minute. Staff only when the user is staff and has no account.';

CREATE FUNCTION auth.cleanup_expired_sessions() RETURNS integer
    LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
    WITH gone AS (
        DELETE FROM auth.sessions
        WHERE expires_at <= now() OR idle_expires_at <= now() OR revoked_at IS NOT NULL
        RETURNING 1
    )
    SELECT count(*)::integer FROM gone
$$;
COMMENT ON FUNCTION auth.cleanup_expired_sessions() IS
    'Deletes sessions past their idle or absolute expiry, and revoked ones; returns how many.';

-- ---------------------------------------------------------------------------------------------
-- Idempotency-Key: the first response of a POST is stored and replayed for a retry with the same key.

CREATE TABLE auth.idempotency_keys (
    id              uuid         NOT NULL DEFAULT uuid_generate_v4(),
    account_id      uuid         NOT NULL,
    idempotency_key varchar(255) NOT NULL,
    request_method  varchar(8)   NOT NULL,
    request_path    text         NOT NULL,
    request_hash    char(64)     NOT NULL,
    response_status integer,
    response_body   jsonb,
    expires_at      timestamptz  NOT NULL DEFAULT now() + interval '24 hours',
    created_at      timestamptz  NOT NULL DEFAULT now(),
    updated_at      timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (id),
    CONSTRAINT idempotency_keys_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE CASCADE,
    CONSTRAINT idempotency_keys_account_id_idempotency_key_key UNIQUE (account_id, idempotency_key),
    CONSTRAINT idempotency_keys_idempotency_key_check CHECK (idempotency_key ~ '^[\x21-\x7e]{1,255}$'),
    CONSTRAINT idempotency_keys_request_method_check CHECK (request_method IN ('POST', 'PUT', 'PATCH', 'DELETE')),
    CONSTRAINT idempotency_keys_request_hash_check CHECK (request_hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT idempotency_keys_response_status_check
        CHECK (response_status IS NULL OR response_status BETWEEN 100 AND 599)
);
CREATE INDEX idempotency_keys_expires_at_idx ON auth.idempotency_keys (expires_at);
COMMENT ON TABLE auth.idempotency_keys IS 'API Idempotency-Key records per account: the request fingerprint and the first response, replayed on retries until expires_at.';
COMMENT ON COLUMN auth.idempotency_keys.request_hash IS 'SHA-256 of method, path and canonical JSON body: a reused key with another request is refused.';
CREATE TRIGGER idempotency_keys_updated_at_trg BEFORE UPDATE ON auth.idempotency_keys
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();
SELECT accounts.secure_table('auth.idempotency_keys'::regclass, 'TENANT');
SELECT audit.attach_audit('auth.idempotency_keys'::regclass);

CREATE FUNCTION auth.cleanup_expired_idempotency_keys() RETURNS integer
    LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
    WITH gone AS (DELETE FROM auth.idempotency_keys WHERE expires_at <= now() RETURNING 1)
    SELECT count(*)::integer FROM gone
$$;
COMMENT ON FUNCTION auth.cleanup_expired_idempotency_keys() IS
    'Deletes idempotency records past expires_at; returns how many.';

-- ---------------------------------------------------------------------------------------------
-- Ownership and grants: definer functions run as warp_owner; only the application may call them.

ALTER FUNCTION auth.authenticate_api_key(text) OWNER TO warp_owner;
ALTER FUNCTION auth.authenticate_session(text, integer) OWNER TO warp_owner;
ALTER FUNCTION auth.cleanup_expired_sessions() OWNER TO warp_owner;
ALTER FUNCTION auth.cleanup_expired_idempotency_keys() OWNER TO warp_owner;
REVOKE ALL ON FUNCTION auth.authenticate_api_key(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth.authenticate_session(text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION auth.cleanup_expired_sessions() FROM PUBLIC;
REVOKE ALL ON FUNCTION auth.cleanup_expired_idempotency_keys() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth.authenticate_api_key(text) TO warp_app;
GRANT EXECUTE ON FUNCTION auth.authenticate_session(text, integer) TO warp_app;
GRANT EXECUTE ON FUNCTION auth.cleanup_expired_sessions() TO warp_app;
GRANT EXECUTE ON FUNCTION auth.cleanup_expired_idempotency_keys() TO warp_app;
DO $$
BEGIN
    -- Maintenance running as platform staff may clean up too.
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'warp_staff') THEN
        GRANT EXECUTE ON FUNCTION auth.cleanup_expired_sessions() TO warp_staff;
        GRANT EXECUTE ON FUNCTION auth.cleanup_expired_idempotency_keys() TO warp_staff;
    END IF;
END
$$;
