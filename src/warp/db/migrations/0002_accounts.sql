-- accounts schema: the tenant master table and its direct children.

CREATE TABLE accounts.accounts (
    id              uuid         NOT NULL DEFAULT uuid_generate_v4(),
    ban             varchar(32)  NOT NULL,
    name            varchar(200) NOT NULL,
    legal_name      varchar(200),
    account_type    varchar(16)  NOT NULL DEFAULT 'CUSTOMER',
    status          varchar(16)  NOT NULL DEFAULT 'ACTIVE',
    timezone        varchar(64)  NOT NULL DEFAULT 'UTC',
    currency        char(3)      NOT NULL DEFAULT 'USD',
    tax_exempt      boolean      NOT NULL DEFAULT false,
    tax_id          varchar(32),
    billing_country char(2)      NOT NULL DEFAULT 'US',
    billing_state   varchar(8),
    metadata        jsonb        NOT NULL DEFAULT '{}',
    created_at      timestamptz  NOT NULL DEFAULT now(),
    updated_at      timestamptz  NOT NULL DEFAULT now(),
    closed_at       timestamptz,
    CONSTRAINT accounts_pkey PRIMARY KEY (id),
    CONSTRAINT accounts_ban_key UNIQUE (ban),
    CONSTRAINT accounts_ban_check CHECK (ban ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$'),
    CONSTRAINT accounts_name_check CHECK (btrim(name) <> ''),
    CONSTRAINT accounts_account_type_check CHECK (account_type IN ('CUSTOMER', 'RESELLER', 'INTERNAL')),
    CONSTRAINT accounts_status_check CHECK (status IN ('PENDING', 'ACTIVE', 'SUSPENDED', 'CLOSED')),
    CONSTRAINT accounts_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT accounts_metadata_check CHECK (jsonb_typeof(metadata) = 'object')
);
CREATE INDEX accounts_status_idx ON accounts.accounts (status);
COMMENT ON TABLE accounts.accounts IS 'Master customer table: one row per tenant. Every customer data table carries account_id referencing it.';
COMMENT ON COLUMN accounts.accounts.ban IS 'Billing account number: the business key customers and staff quote (unique).';
COMMENT ON COLUMN accounts.accounts.account_type IS 'RESELLER accounts may have child accounts (accounts.account_hierarchy).';
COMMENT ON COLUMN accounts.accounts.metadata IS 'Flexible per-account metadata (JSON object).';
CREATE TRIGGER accounts_updated_at_trg BEFORE UPDATE ON accounts.accounts
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE accounts.contacts (
    id           uuid         NOT NULL DEFAULT uuid_generate_v4(),
    account_id   uuid         NOT NULL,
    contact_type varchar(16)  NOT NULL DEFAULT 'PRIMARY',
    name         varchar(200) NOT NULL,
    title        varchar(100),
    email        varchar(320),
    phone        varchar(32),
    mobile_phone varchar(32),
    is_primary   boolean      NOT NULL DEFAULT false,
    created_at   timestamptz  NOT NULL DEFAULT now(),
    updated_at   timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT contacts_pkey PRIMARY KEY (id),
    CONSTRAINT contacts_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE CASCADE,
    CONSTRAINT contacts_contact_type_check
        CHECK (contact_type IN ('PRIMARY', 'BILLING', 'TECHNICAL', 'NOC', 'EMERGENCY', 'SALES', 'LEGAL')),
    CONSTRAINT contacts_email_check CHECK (email IS NULL OR email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    CONSTRAINT contacts_phone_check CHECK (phone ~ '^\+[1-9][0-9]{1,14}$'),
    CONSTRAINT contacts_mobile_phone_check CHECK (mobile_phone ~ '^\+[1-9][0-9]{1,14}$')
);
CREATE INDEX contacts_account_id_idx ON accounts.contacts (account_id);
COMMENT ON TABLE accounts.contacts IS 'People to reach at a customer account (billing, technical, NOC...), several per account.';
CREATE TRIGGER contacts_updated_at_trg BEFORE UPDATE ON accounts.contacts
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE accounts.account_hierarchy (
    id                uuid        NOT NULL DEFAULT uuid_generate_v4(),
    parent_account_id uuid        NOT NULL,
    child_account_id  uuid        NOT NULL,
    relationship_type varchar(16) NOT NULL DEFAULT 'RESELLER',
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT account_hierarchy_pkey PRIMARY KEY (id),
    CONSTRAINT account_hierarchy_parent_account_id_fkey FOREIGN KEY (parent_account_id)
        REFERENCES accounts.accounts (id) ON DELETE CASCADE,
    CONSTRAINT account_hierarchy_child_account_id_fkey FOREIGN KEY (child_account_id)
        REFERENCES accounts.accounts (id) ON DELETE CASCADE,
    CONSTRAINT account_hierarchy_child_account_id_key UNIQUE (child_account_id),
    CONSTRAINT account_hierarchy_parent_account_id_check CHECK (parent_account_id <> child_account_id),
    CONSTRAINT account_hierarchy_relationship_type_check CHECK (relationship_type IN ('RESELLER', 'ENTERPRISE'))
);
CREATE INDEX account_hierarchy_parent_account_id_idx ON accounts.account_hierarchy (parent_account_id);
COMMENT ON TABLE accounts.account_hierarchy IS 'Reseller tree: parent/child account edges; an account has at most one parent. Cycle rejection is added with row-level security.';

CREATE TABLE accounts.documents (
    id            uuid         NOT NULL DEFAULT uuid_generate_v4(),
    account_id    uuid         NOT NULL,
    document_type varchar(24)  NOT NULL,
    title         varchar(200) NOT NULL,
    storage_ref   text         NOT NULL,
    content_type  varchar(100) NOT NULL DEFAULT 'application/pdf',
    size_bytes    bigint,
    sha256        char(64),
    signed_at     timestamptz,
    expires_at    timestamptz,
    metadata      jsonb        NOT NULL DEFAULT '{}',
    created_at    timestamptz  NOT NULL DEFAULT now(),
    updated_at    timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT documents_pkey PRIMARY KEY (id),
    CONSTRAINT documents_id_account_id_key UNIQUE (id, account_id),
    CONSTRAINT documents_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE RESTRICT,
    CONSTRAINT documents_document_type_check
        CHECK (document_type IN ('CONTRACT', 'MSA', 'LOA', 'TAX_EXEMPTION', 'KYC', 'INVOICE', 'OTHER')),
    CONSTRAINT documents_size_bytes_check CHECK (size_bytes IS NULL OR size_bytes >= 0),
    CONSTRAINT documents_sha256_check CHECK (sha256 IS NULL OR sha256 ~ '^[0-9a-f]{64}$')
);
CREATE INDEX documents_account_id_idx ON accounts.documents (account_id, document_type);
COMMENT ON TABLE accounts.documents IS 'Contracts, agreements, LOAs and other customer documents; the file itself lives in object storage (storage_ref).';
COMMENT ON COLUMN accounts.documents.storage_ref IS 'Where the file is stored (object storage URI or secret-manager style reference), never the content.';
CREATE TRIGGER documents_updated_at_trg BEFORE UPDATE ON accounts.documents
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE accounts.feature_flags (
    id          uuid         NOT NULL DEFAULT uuid_generate_v4(),
    account_id  uuid         NOT NULL,
    flag_key    varchar(100) NOT NULL,
    enabled     boolean      NOT NULL DEFAULT false,
    value       jsonb        NOT NULL DEFAULT '{}',
    description text,
    expires_at  timestamptz,
    created_at  timestamptz  NOT NULL DEFAULT now(),
    updated_at  timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT feature_flags_pkey PRIMARY KEY (id),
    CONSTRAINT feature_flags_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE CASCADE,
    CONSTRAINT feature_flags_account_id_flag_key_key UNIQUE (account_id, flag_key),
    CONSTRAINT feature_flags_flag_key_check CHECK (flag_key ~ '^[a-z0-9][a-z0-9_.:-]{0,99}$')
);
CREATE INDEX feature_flags_flag_key_idx ON accounts.feature_flags (flag_key);
COMMENT ON TABLE accounts.feature_flags IS 'Per-account feature toggles for gradual rollouts (value holds optional flag parameters).';
CREATE TRIGGER feature_flags_updated_at_trg BEFORE UPDATE ON accounts.feature_flags
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();
