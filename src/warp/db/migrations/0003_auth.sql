-- auth schema: users, RBAC, API keys and sessions. Secrets are stored only as hashes.

CREATE TABLE auth.users (
    id                    uuid         NOT NULL DEFAULT uuid_generate_v4(),
    account_id            uuid,
    email                 varchar(320) NOT NULL,
    display_name          varchar(200),
    password_hash         text,
    status                varchar(16)  NOT NULL DEFAULT 'ACTIVE',
    is_staff              boolean      NOT NULL DEFAULT false,
    failed_login_count    integer      NOT NULL DEFAULT 0,
    lock_expires_at       timestamptz,
    totp_enabled          boolean      NOT NULL DEFAULT false,
    totp_secret_encrypted bytea,
    backup_code_hashes    text[]       NOT NULL DEFAULT '{}',
    email_verified_at     timestamptz,
    last_login_at         timestamptz,
    password_changed_at   timestamptz,
    deactivated_at        timestamptz,
    metadata              jsonb        NOT NULL DEFAULT '{}',
    created_at            timestamptz  NOT NULL DEFAULT now(),
    updated_at            timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE CASCADE,
    CONSTRAINT users_email_check CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    CONSTRAINT users_status_check CHECK (status IN ('INVITED', 'ACTIVE', 'LOCKED', 'DISABLED')),
    CONSTRAINT users_is_staff_account_id_check CHECK (is_staff OR account_id IS NOT NULL),
    CONSTRAINT users_password_hash_check CHECK (password_hash IS NULL OR password_hash ~ '^\$2[aby]?\$[0-9]{2}\$'),
    CONSTRAINT users_failed_login_count_check CHECK (failed_login_count >= 0),
    CONSTRAINT users_totp_enabled_check CHECK (NOT totp_enabled OR totp_secret_encrypted IS NOT NULL)
);
CREATE UNIQUE INDEX users_email_key ON auth.users (lower(email));
CREATE INDEX users_account_id_idx ON auth.users (account_id);
COMMENT ON TABLE auth.users IS 'Portal users. Customer users belong to an account; staff users (is_staff) may have none. Email is unique case-insensitively.';
COMMENT ON COLUMN auth.users.password_hash IS 'bcrypt hash (cost >= 12); NULL until an invited user sets a password.';
COMMENT ON COLUMN auth.users.totp_secret_encrypted IS 'TOTP seed encrypted by the application; never stored in clear.';
COMMENT ON COLUMN auth.users.backup_code_hashes IS 'Hashes of unused MFA backup codes.';
CREATE TRIGGER users_updated_at_trg BEFORE UPDATE ON auth.users
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE auth.roles (
    id          uuid         NOT NULL DEFAULT uuid_generate_v4(),
    name        varchar(64)  NOT NULL,
    description text,
    scope       varchar(16)  NOT NULL DEFAULT 'CUSTOMER',
    is_system   boolean      NOT NULL DEFAULT false,
    created_at  timestamptz  NOT NULL DEFAULT now(),
    updated_at  timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT roles_pkey PRIMARY KEY (id),
    CONSTRAINT roles_name_key UNIQUE (name),
    CONSTRAINT roles_scope_check CHECK (scope IN ('CUSTOMER', 'STAFF'))
);
COMMENT ON TABLE auth.roles IS 'RBAC roles (e.g. account admin, billing viewer, support staff); CUSTOMER roles are grantable to account users, STAFF roles to staff.';
CREATE TRIGGER roles_updated_at_trg BEFORE UPDATE ON auth.roles
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE auth.permissions (
    id          uuid         NOT NULL DEFAULT uuid_generate_v4(),
    code        varchar(64)  NOT NULL,
    description text,
    category    varchar(32),
    created_at  timestamptz  NOT NULL DEFAULT now(),
    updated_at  timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT permissions_pkey PRIMARY KEY (id),
    CONSTRAINT permissions_code_key UNIQUE (code),
    CONSTRAINT permissions_code_check CHECK (code ~ '^[a-z0-9_]+(:[a-z0-9_]+)*$')
);
COMMENT ON TABLE auth.permissions IS 'Permission definitions, e.g. numbers:read, billing:read, admin. API key scopes use the same codes.';
CREATE TRIGGER permissions_updated_at_trg BEFORE UPDATE ON auth.permissions
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE auth.role_permissions (
    id            uuid        NOT NULL DEFAULT uuid_generate_v4(),
    role_id       uuid        NOT NULL,
    permission_id uuid        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT role_permissions_pkey PRIMARY KEY (id),
    CONSTRAINT role_permissions_role_id_fkey FOREIGN KEY (role_id)
        REFERENCES auth.roles (id) ON DELETE CASCADE,
    CONSTRAINT role_permissions_permission_id_fkey FOREIGN KEY (permission_id)
        REFERENCES auth.permissions (id) ON DELETE CASCADE,
    CONSTRAINT role_permissions_role_id_permission_id_key UNIQUE (role_id, permission_id)
);
CREATE INDEX role_permissions_permission_id_idx ON auth.role_permissions (permission_id);
COMMENT ON TABLE auth.role_permissions IS 'RBAC mapping: which permissions each role grants.';

CREATE TABLE auth.user_roles (
    id         uuid        NOT NULL DEFAULT uuid_generate_v4(),
    user_id    uuid        NOT NULL,
    role_id    uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_roles_pkey PRIMARY KEY (id),
    CONSTRAINT user_roles_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT user_roles_role_id_fkey FOREIGN KEY (role_id)
        REFERENCES auth.roles (id) ON DELETE RESTRICT,
    CONSTRAINT user_roles_user_id_role_id_key UNIQUE (user_id, role_id)
);
CREATE INDEX user_roles_role_id_idx ON auth.user_roles (role_id);
COMMENT ON TABLE auth.user_roles IS 'Roles granted to users (reaches the account through auth.users).';

CREATE TABLE auth.api_keys (
    id                    uuid         NOT NULL DEFAULT uuid_generate_v4(),
    account_id            uuid         NOT NULL,
    created_by_user_id    uuid,
    name                  varchar(100) NOT NULL DEFAULT 'default',
    key_prefix            varchar(32)  NOT NULL,
    key_hash              char(64)     NOT NULL,
    scopes                text[]       NOT NULL DEFAULT '{}',
    allowed_ips           inet[],
    rate_limit_per_second integer,
    rate_limit_per_minute integer,
    rate_limit_per_hour   integer,
    expires_at            timestamptz,
    revoked_at            timestamptz,
    last_used_at          timestamptz,
    created_at            timestamptz  NOT NULL DEFAULT now(),
    updated_at            timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT api_keys_pkey PRIMARY KEY (id),
    CONSTRAINT api_keys_key_prefix_key UNIQUE (key_prefix),
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash),
    CONSTRAINT api_keys_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE CASCADE,
    CONSTRAINT api_keys_created_by_user_id_fkey FOREIGN KEY (created_by_user_id)
        REFERENCES auth.users (id) ON DELETE SET NULL,
    CONSTRAINT api_keys_key_prefix_check CHECK (key_prefix ~ '^[A-Za-z0-9]{4,32}$'),
    CONSTRAINT api_keys_key_hash_check CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT api_keys_rate_limit_check CHECK (
        coalesce(rate_limit_per_second, 1) > 0
        AND coalesce(rate_limit_per_minute, 1) > 0
        AND coalesce(rate_limit_per_hour, 1) > 0)
);
CREATE INDEX api_keys_account_id_idx ON auth.api_keys (account_id);
CREATE INDEX api_keys_created_by_user_id_idx ON auth.api_keys (created_by_user_id);
COMMENT ON TABLE auth.api_keys IS 'API keys (warp_<prefix>_<secret>): looked up by key_prefix, verified against key_hash; scopes, source-IP allow-list, rate limits, expiry and revocation.';
COMMENT ON COLUMN auth.api_keys.key_hash IS 'SHA-256 (lowercase hex) of the whole key; the key itself is shown once and never stored.';
COMMENT ON COLUMN auth.api_keys.allowed_ips IS 'Optional allow-list of source hosts/networks; NULL means any.';
COMMENT ON COLUMN auth.api_keys.rate_limit_per_second IS 'Per-key limits; NULL uses the configured default.';
CREATE TRIGGER api_keys_updated_at_trg BEFORE UPDATE ON auth.api_keys
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE auth.sessions (
    id              uuid        NOT NULL DEFAULT uuid_generate_v4(),
    user_id         uuid        NOT NULL,
    token_hash      char(64)    NOT NULL,
    ip_address      inet,
    user_agent      text,
    mfa_verified    boolean     NOT NULL DEFAULT false,
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    idle_expires_at timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sessions_pkey PRIMARY KEY (id),
    CONSTRAINT sessions_token_hash_key UNIQUE (token_hash),
    CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES auth.users (id) ON DELETE CASCADE,
    CONSTRAINT sessions_token_hash_check CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT sessions_expires_at_check CHECK (expires_at > created_at AND idle_expires_at <= expires_at)
);
CREATE INDEX sessions_user_id_idx ON auth.sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON auth.sessions (expires_at);
COMMENT ON TABLE auth.sessions IS 'Portal login sessions: the opaque token is returned once and stored only as its SHA-256; idle and absolute expiry.';
CREATE TRIGGER sessions_updated_at_trg BEFORE UPDATE ON auth.sessions
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();
