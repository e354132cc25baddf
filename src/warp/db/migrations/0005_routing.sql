-- routing schema: carriers (identity) and their vendor_mgmt commercial details, carrier trunks,
-- rate decks, routing partitions, customer trunks and ACLs, blacklist; plus the vendor_mgmt tables
-- that refer to carriers (SLAs, incidents, performance metrics).

CREATE TABLE routing.carriers (
    id           uuid         NOT NULL DEFAULT uuid_generate_v4(),
    name         varchar(100) NOT NULL,
    display_name varchar(200),
    carrier_type varchar(16)  NOT NULL DEFAULT 'TERMINATION',
    enabled      boolean      NOT NULL DEFAULT true,
    metadata     jsonb        NOT NULL DEFAULT '{}',
    created_at   timestamptz  NOT NULL DEFAULT now(),
    updated_at   timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT carriers_pkey PRIMARY KEY (id),
    CONSTRAINT carriers_name_key UNIQUE (name),
    CONSTRAINT carriers_name_check CHECK (btrim(name) <> ''),
    CONSTRAINT carriers_carrier_type_check CHECK (carrier_type IN ('TERMINATION', 'ORIGINATION', 'BOTH'))
);
COMMENT ON TABLE routing.carriers IS 'Upstream carriers: the identity used by routing (name, type, enabled). Commercial/vendor details live in vendor_mgmt.carriers (1:1).';
CREATE TRIGGER carriers_updated_at_trg BEFORE UPDATE ON routing.carriers
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE vendor_mgmt.carriers (
    id                 uuid         NOT NULL DEFAULT uuid_generate_v4(),
    carrier_id         uuid         NOT NULL,
    vendor_id          uuid         NOT NULL,
    contract_id        uuid,
    ocn                varchar(4),
    interconnect_type  varchar(16)  NOT NULL DEFAULT 'SIP',
    billing_increment  varchar(16),
    payment_terms_days integer,
    currency           char(3)      NOT NULL DEFAULT 'USD',
    noc_email          varchar(320),
    billing_email      varchar(320),
    notes              text,
    metadata           jsonb        NOT NULL DEFAULT '{}',
    created_at         timestamptz  NOT NULL DEFAULT now(),
    updated_at         timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT carriers_pkey PRIMARY KEY (id),
    CONSTRAINT carriers_carrier_id_key UNIQUE (carrier_id),
    CONSTRAINT carriers_carrier_id_fkey FOREIGN KEY (carrier_id)
        REFERENCES routing.carriers (id) ON DELETE CASCADE,
    CONSTRAINT carriers_vendor_id_fkey FOREIGN KEY (vendor_id)
        REFERENCES vendor_mgmt.vendors (id) ON DELETE RESTRICT,
    CONSTRAINT carriers_contract_id_fkey FOREIGN KEY (contract_id)
        REFERENCES vendor_mgmt.contracts (id) ON DELETE SET NULL,
    CONSTRAINT carriers_ocn_check CHECK (ocn IS NULL OR ocn ~ '^[0-9A-Z]{4}$'),
    CONSTRAINT carriers_interconnect_type_check CHECK (interconnect_type IN ('SIP', 'TDM'))
);
CREATE INDEX carriers_vendor_id_idx ON vendor_mgmt.carriers (vendor_id);
CREATE INDEX carriers_contract_id_idx ON vendor_mgmt.carriers (contract_id);
COMMENT ON TABLE vendor_mgmt.carriers IS 'Commercial details of a carrier (vendor, contract, OCN, terms); 1:1 with routing.carriers, which holds its identity.';
CREATE TRIGGER carriers_updated_at_trg BEFORE UPDATE ON vendor_mgmt.carriers
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE routing.carrier_trunks (
    id           uuid         NOT NULL DEFAULT uuid_generate_v4(),
    carrier_id   uuid         NOT NULL,
    name         varchar(100) NOT NULL,
    host         varchar(255) NOT NULL,
    port         integer      NOT NULL DEFAULT 5060,
    transport    varchar(8)   NOT NULL DEFAULT 'udp',
    priority     integer      NOT NULL DEFAULT 100,
    weight       integer      NOT NULL DEFAULT 100,
    max_channels integer,
    tech_prefix  varchar(16),
    is_emergency boolean      NOT NULL DEFAULT false,
    enabled      boolean      NOT NULL DEFAULT true,
    metadata     jsonb        NOT NULL DEFAULT '{}',
    created_at   timestamptz  NOT NULL DEFAULT now(),
    updated_at   timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT carrier_trunks_pkey PRIMARY KEY (id),
    CONSTRAINT carrier_trunks_name_key UNIQUE (name),
    CONSTRAINT carrier_trunks_carrier_id_fkey FOREIGN KEY (carrier_id)
        REFERENCES routing.carriers (id) ON DELETE CASCADE,
    CONSTRAINT carrier_trunks_port_check CHECK (port BETWEEN 1 AND 65535),
    CONSTRAINT carrier_trunks_transport_check CHECK (transport IN ('udp', 'tcp', 'tls', 'ws', 'wss')),
    CONSTRAINT carrier_trunks_priority_check CHECK (priority >= 0 AND weight >= 0),
    CONSTRAINT carrier_trunks_max_channels_check CHECK (max_channels IS NULL OR max_channels > 0),
    CONSTRAINT carrier_trunks_tech_prefix_check CHECK (tech_prefix ~ '^[0-9#*]{1,16}$')
);
CREATE INDEX carrier_trunks_carrier_id_idx ON routing.carrier_trunks (carrier_id);
COMMENT ON TABLE routing.carrier_trunks IS 'Carrier SIP endpoints (host, port, transport) with priority/weight for routing; is_emergency marks the 911/933 route.';
CREATE TRIGGER carrier_trunks_updated_at_trg BEFORE UPDATE ON routing.carrier_trunks
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE routing.rate_deck (
    id                   uuid          NOT NULL DEFAULT uuid_generate_v4(),
    carrier_trunk_id     uuid          NOT NULL,
    prefix               varchar(16)   NOT NULL,
    destination_name     varchar(200),
    country_code         varchar(8),
    rate                 decimal(10,6),
    interstate_rate      decimal(10,6),
    intrastate_rate      decimal(10,6),
    indeterminate_rate   decimal(10,6),
    connection_fee       decimal(10,6) NOT NULL DEFAULT 0,
    initial_increment    integer       NOT NULL DEFAULT 1,
    subsequent_increment integer       NOT NULL DEFAULT 1,
    effective_date       date          NOT NULL DEFAULT CURRENT_DATE,
    expires_date         date,
    created_at           timestamptz   NOT NULL DEFAULT now(),
    updated_at           timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT rate_deck_pkey PRIMARY KEY (id),
    -- carrier_trunk_id references routing.carrier_trunks (id) ON DELETE CASCADE through the triggers
    -- below (checked once per INSERT statement instead of once per row).
    -- 1-16 ASCII digits, as ~ '^[0-9]{1,16}$' but without running a regex per row (~1 of the ~30 us an
    -- imported row costs; docs/performance.md).
    CONSTRAINT rate_deck_prefix_check CHECK (length(prefix) BETWEEN 1 AND 16 AND ltrim(prefix, '0123456789') = ''),
    CONSTRAINT rate_deck_rate_check CHECK (
        coalesce(rate, interstate_rate, intrastate_rate, indeterminate_rate) IS NOT NULL
        AND coalesce(rate, 0) >= 0 AND coalesce(interstate_rate, 0) >= 0
        AND coalesce(intrastate_rate, 0) >= 0 AND coalesce(indeterminate_rate, 0) >= 0),
    CONSTRAINT rate_deck_connection_fee_check CHECK (connection_fee >= 0),
    CONSTRAINT rate_deck_increment_check CHECK (initial_increment > 0 AND subsequent_increment > 0),
    -- Finite dates (the exclusion key below counts days; an open end is a NULL expires_date).
    CONSTRAINT rate_deck_effective_date_check CHECK (isfinite(effective_date)),
    CONSTRAINT rate_deck_expires_date_check CHECK (
        expires_date IS NULL OR (isfinite(expires_date) AND expires_date > effective_date)),
    -- No two overlapping periods for one carrier trunk and one prefix (issue 6). Encoded for a cheap
    -- GiST, measured per imported row (ADR 0006, docs/performance.md):
    -- * the prefix first, as an exact bigint: -(length * 10^16 + digits), distinct for distinct prefixes
    --   ('1' <> '01'), no overflow. GiST splits well on it (several times faster than (carrier_trunk_id,
    --   prefix)); negated because imports insert in ascending (length, digits) order, so the GiST sees
    --   descending keys and its descent computes fewer second/third-column penalties (-14%);
    -- * the period [effective_date, expires_date) as the segment [d0, d1 - 0.5] of the day axis (days
    --   since 2000-01-01, float8, exact; NULL expires = 2^31, after every date PostgreSQL can hold):
    --   box && box is a fixed-size, in-core test where a daterange is a varlena copied for every
    --   penalty (-19% of the GiST). Two such segments of whole days overlap exactly when the periods do:
    --   box && allows 1e-6 of slack, the half-day gap is 0.5.
    CONSTRAINT rate_deck_carrier_trunk_id_prefix_excl EXCLUDE USING gist (
        (-(length(prefix)::bigint * 10000000000000000 + prefix::bigint)) WITH =,
        carrier_trunk_id WITH =,
        (box(point(effective_date - DATE '2000-01-01', 0),
             point(coalesce((expires_date - DATE '2000-01-01')::float8, 2147483648) - 0.5, 0))) WITH &&)
);
CREATE INDEX rate_deck_carrier_trunk_id_prefix_idx ON routing.rate_deck (carrier_trunk_id, prefix, effective_date);
CREATE INDEX rate_deck_prefix_idx ON routing.rate_deck (prefix);
COMMENT ON TABLE routing.rate_deck IS 'LCR pricing by prefix per carrier trunk (cost per minute). In force when effective_date <= day < expires_date; overlapping periods for one trunk and prefix are refused.';
COMMENT ON COLUMN routing.rate_deck.prefix IS 'Digits-only destination prefix (E.164 without +); not a phone number.';
COMMENT ON COLUMN routing.rate_deck.rate IS 'Flat per-minute cost; US NPA-NXX decks may instead (or also) carry the three jurisdictional rates.';
COMMENT ON COLUMN routing.rate_deck.connection_fee IS 'Per-call connection fee: a rate-deck price with sub-cent precision, hence DECIMAL(10,6).';
CREATE TRIGGER rate_deck_updated_at_trg BEFORE UPDATE ON routing.rate_deck
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

-- The reference rate_deck.carrier_trunk_id -> carrier_trunks.id, checked once per INSERT statement.
-- A foreign key looks up (and locks) the referenced row once per inserted row: ~10% of the CPU of a
-- 3,000,000-row deck import (ADR 0006). Same guarantee, set-based (as cdr.raw_cdr's references): after
-- an INSERT statement the distinct referenced carrier trunks are locked FOR KEY SHARE (what the foreign
-- key's check does, so a concurrent delete waits for this transaction) and a missing one fails the
-- statement with the foreign key's error; an UPDATE that changes carrier_trunk_id is checked per row;
-- deleting a carrier trunk deletes its deck (ON DELETE CASCADE), re-keying or truncating a referenced
-- carrier trunk is refused.
CREATE FUNCTION routing.rate_deck_check_carrier_trunk() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
DECLARE
    missing text;
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        WITH refs AS MATERIALIZED (SELECT DISTINCT carrier_trunk_id AS id FROM new_rows),
        locked AS (
            SELECT x.id FROM routing.carrier_trunks x WHERE x.id IN (SELECT id FROM refs) FOR KEY SHARE OF x
        )
        SELECT min(id::text) INTO missing FROM refs WHERE id NOT IN (SELECT id FROM locked);
    ELSIF NOT EXISTS (SELECT 1 FROM routing.carrier_trunks x WHERE x.id = NEW.carrier_trunk_id FOR KEY SHARE OF x) THEN
        missing := NEW.carrier_trunk_id::text;
    END IF;
    IF missing IS NOT NULL THEN
        PERFORM public.raise_missing_reference('routing', 'rate_deck', 'rate_deck_carrier_trunk_id_fkey',
                                               'carrier_trunk_id', missing, 'carrier_trunks');
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION routing.rate_deck_check_carrier_trunk() IS
    'Foreign key check of routing.rate_deck.carrier_trunk_id, once per INSERT statement (and per row for an UPDATE '
    'changing it): locks the referenced carrier trunks FOR KEY SHARE and fails like the foreign key when one is missing.';
CREATE TRIGGER rate_deck_carrier_trunk_insert_trg AFTER INSERT ON routing.rate_deck
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION routing.rate_deck_check_carrier_trunk();
CREATE TRIGGER rate_deck_carrier_trunk_update_trg AFTER UPDATE OF carrier_trunk_id ON routing.rate_deck
    FOR EACH ROW WHEN (NEW.carrier_trunk_id IS DISTINCT FROM OLD.carrier_trunk_id)
    EXECUTE FUNCTION routing.rate_deck_check_carrier_trunk();

CREATE FUNCTION routing.carrier_trunks_rate_deck_cascade() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF EXISTS (SELECT 1 FROM routing.rate_deck) THEN
            RAISE EXCEPTION 'cannot truncate routing.carrier_trunks: routing.rate_deck rows reference it'
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN NULL;
    END IF;
    -- Deck rows of a transaction that committed while this one waited for the carrier trunk's lock are
    -- only visible to a READ COMMITTED statement (a foreign key uses a cross-check snapshot for that).
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'routing.carrier_trunks rows referenced by routing.rate_deck may only be deleted or re-keyed in READ COMMITTED'
            USING ERRCODE = 'feature_not_supported';
    END IF;
    IF TG_OP = 'DELETE' THEN
        DELETE FROM routing.rate_deck WHERE carrier_trunk_id = OLD.id;
    ELSIF EXISTS (SELECT 1 FROM routing.rate_deck WHERE carrier_trunk_id = OLD.id) THEN
        PERFORM public.raise_still_referenced('carrier_trunks', 'rate_deck_carrier_trunk_id_fkey', OLD.id::text,
                                              'routing', 'rate_deck');
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION routing.carrier_trunks_rate_deck_cascade() IS
    'ON DELETE CASCADE of routing.rate_deck.carrier_trunk_id: deleting a carrier trunk deletes its deck; re-keying '
    'or truncating carrier trunks that deck rows use is refused.';
CREATE TRIGGER carrier_trunks_rate_deck_cascade_trg AFTER DELETE ON routing.carrier_trunks
    FOR EACH ROW EXECUTE FUNCTION routing.carrier_trunks_rate_deck_cascade();
CREATE TRIGGER carrier_trunks_rate_deck_rekey_trg AFTER UPDATE OF id ON routing.carrier_trunks
    FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id) EXECUTE FUNCTION routing.carrier_trunks_rate_deck_cascade();
CREATE TRIGGER carrier_trunks_rate_deck_truncate_trg BEFORE TRUNCATE ON routing.carrier_trunks
    FOR EACH STATEMENT EXECUTE FUNCTION routing.carrier_trunks_rate_deck_cascade();

CREATE TABLE routing.partitions (
    id                 uuid         NOT NULL DEFAULT uuid_generate_v4(),
    name               varchar(100) NOT NULL,
    description        text,
    strategy           varchar(16)  NOT NULL DEFAULT 'LCR',
    allow_loss_routing boolean      NOT NULL DEFAULT false,
    is_default         boolean      NOT NULL DEFAULT false,
    enabled            boolean      NOT NULL DEFAULT true,
    created_at         timestamptz  NOT NULL DEFAULT now(),
    updated_at         timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT partitions_pkey PRIMARY KEY (id),
    CONSTRAINT partitions_name_key UNIQUE (name),
    CONSTRAINT partitions_strategy_check CHECK (strategy IN ('LCR', 'PRIORITY', 'QUALITY', 'WEIGHTED'))
);
CREATE UNIQUE INDEX partitions_is_default_key ON routing.partitions (is_default) WHERE is_default;
COMMENT ON TABLE routing.partitions IS 'Routing partitions: named sets of carrier trunks with a routing strategy; at most one is the default.';
CREATE TRIGGER partitions_updated_at_trg BEFORE UPDATE ON routing.partitions
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE routing.partition_carrier_trunks (
    id               uuid        NOT NULL DEFAULT uuid_generate_v4(),
    partition_id     uuid        NOT NULL,
    carrier_trunk_id uuid        NOT NULL,
    priority         integer,
    weight           integer,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT partition_carrier_trunks_pkey PRIMARY KEY (id),
    CONSTRAINT partition_carrier_trunks_partition_id_fkey FOREIGN KEY (partition_id)
        REFERENCES routing.partitions (id) ON DELETE CASCADE,
    CONSTRAINT partition_carrier_trunks_carrier_trunk_id_fkey FOREIGN KEY (carrier_trunk_id)
        REFERENCES routing.carrier_trunks (id) ON DELETE CASCADE,
    CONSTRAINT partition_carrier_trunks_partition_id_carrier_trunk_id_key UNIQUE (partition_id, carrier_trunk_id)
);
CREATE INDEX partition_carrier_trunks_carrier_trunk_id_idx ON routing.partition_carrier_trunks (carrier_trunk_id);
COMMENT ON TABLE routing.partition_carrier_trunks IS 'Members of a routing partition; priority/weight optionally override the carrier trunk''s own.';

CREATE TABLE routing.trunks (
    id                   uuid         NOT NULL DEFAULT uuid_generate_v4(),
    account_id           uuid         NOT NULL,
    name                 varchar(100) NOT NULL,
    description          text,
    auth_type            varchar(16)  NOT NULL DEFAULT 'IP_ACL',
    sip_username         varchar(64),
    sip_realm            varchar(255),
    sip_ha1              char(32),
    max_concurrent_calls integer      NOT NULL DEFAULT 10,
    max_calls_per_second integer      NOT NULL DEFAULT 5,
    codecs               text[]       NOT NULL DEFAULT '{PCMU,PCMA}',
    tech_prefix          varchar(16),
    enabled              boolean      NOT NULL DEFAULT true,
    metadata             jsonb        NOT NULL DEFAULT '{}',
    created_at           timestamptz  NOT NULL DEFAULT now(),
    updated_at           timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT trunks_pkey PRIMARY KEY (id),
    CONSTRAINT trunks_id_account_id_key UNIQUE (id, account_id),
    CONSTRAINT trunks_account_id_name_key UNIQUE (account_id, name),
    CONSTRAINT trunks_sip_username_key UNIQUE (sip_username),
    CONSTRAINT trunks_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE CASCADE,
    CONSTRAINT trunks_auth_type_check CHECK (auth_type IN ('IP_ACL', 'SIP_REGISTER', 'BOTH')),
    CONSTRAINT trunks_sip_credentials_check CHECK (
        auth_type = 'IP_ACL'
        OR (sip_username IS NOT NULL AND sip_realm IS NOT NULL AND sip_ha1 IS NOT NULL)),
    CONSTRAINT trunks_sip_ha1_check CHECK (sip_ha1 ~ '^[0-9a-f]{32}$'),
    CONSTRAINT trunks_max_concurrent_calls_check CHECK (max_concurrent_calls > 0 AND max_calls_per_second > 0),
    CONSTRAINT trunks_tech_prefix_check CHECK (tech_prefix ~ '^[0-9#*]{1,16}$')
);
COMMENT ON TABLE routing.trunks IS 'Customer SIP trunks: authentication (IP ACL and/or SIP digest), capacity limits, codecs, tech prefix.';
COMMENT ON COLUMN routing.trunks.sip_ha1 IS 'Digest HA1 = md5(username:realm:password) as Kamailio auth_db expects; the SIP password itself is never stored.';
CREATE TRIGGER trunks_updated_at_trg BEFORE UPDATE ON routing.trunks
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE routing.trunk_acl (
    id          uuid        NOT NULL DEFAULT uuid_generate_v4(),
    trunk_id    uuid        NOT NULL,
    account_id  uuid        NOT NULL,
    network     inet        NOT NULL,
    description text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT trunk_acl_pkey PRIMARY KEY (id),
    CONSTRAINT trunk_acl_trunk_id_fkey FOREIGN KEY (trunk_id, account_id)
        REFERENCES routing.trunks (id, account_id) ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT trunk_acl_trunk_id_network_key UNIQUE (trunk_id, network),
    -- Two accounts may never claim overlapping address space. Its GiST index (inet_ops, which can
    -- answer <<= / >>=; btree_gist's inet opclass cannot) also serves routing.identify_trunk.
    CONSTRAINT trunk_acl_network_excl EXCLUDE USING gist (network inet_ops WITH &&, account_id WITH <>)
);
CREATE INDEX trunk_acl_trunk_id_account_id_idx ON routing.trunk_acl (trunk_id, account_id);
CREATE INDEX trunk_acl_account_id_idx ON routing.trunk_acl (account_id);
COMMENT ON TABLE routing.trunk_acl IS 'IP allow-list of a customer trunk: a host or network (INET). account_id is the trunk''s, enforced by the composite foreign key.';
CREATE TRIGGER trunk_acl_updated_at_trg BEFORE UPDATE ON routing.trunk_acl
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE routing.account_partitions (
    id           uuid        NOT NULL DEFAULT uuid_generate_v4(),
    account_id   uuid        NOT NULL,
    trunk_id     uuid,
    partition_id uuid        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT account_partitions_pkey PRIMARY KEY (id),
    CONSTRAINT account_partitions_account_id_trunk_id_key UNIQUE NULLS NOT DISTINCT (account_id, trunk_id),
    CONSTRAINT account_partitions_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE CASCADE,
    CONSTRAINT account_partitions_trunk_id_fkey FOREIGN KEY (trunk_id, account_id)
        REFERENCES routing.trunks (id, account_id) ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT account_partitions_partition_id_fkey FOREIGN KEY (partition_id)
        REFERENCES routing.partitions (id) ON DELETE RESTRICT
);
CREATE INDEX account_partitions_trunk_id_account_id_idx ON routing.account_partitions (trunk_id, account_id);
CREATE INDEX account_partitions_partition_id_idx ON routing.account_partitions (partition_id);
COMMENT ON TABLE routing.account_partitions IS 'Which routing partition an account uses (trunk_id NULL), optionally overridden per trunk. Accounts without a row use the default partition.';
CREATE TRIGGER account_partitions_updated_at_trg BEFORE UPDATE ON routing.account_partitions
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE routing.blacklist (
    id         uuid         NOT NULL DEFAULT uuid_generate_v4(),
    account_id uuid,
    prefix     varchar(16)  NOT NULL,
    reason     text,
    expires_at timestamptz,
    created_at timestamptz  NOT NULL DEFAULT now(),
    updated_at timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT blacklist_pkey PRIMARY KEY (id),
    CONSTRAINT blacklist_account_id_prefix_key UNIQUE NULLS NOT DISTINCT (account_id, prefix),
    CONSTRAINT blacklist_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE CASCADE,
    CONSTRAINT blacklist_prefix_check CHECK (prefix ~ '^[0-9]{1,16}$')
);
CREATE INDEX blacklist_prefix_idx ON routing.blacklist (prefix);
COMMENT ON TABLE routing.blacklist IS 'Blocked destination prefixes: global (account_id NULL, staff-managed) or per account.';
CREATE TRIGGER blacklist_updated_at_trg BEFORE UPDATE ON routing.blacklist
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE vendor_mgmt.slas (
    id                 uuid          NOT NULL DEFAULT uuid_generate_v4(),
    vendor_id          uuid          NOT NULL,
    contract_id        uuid,
    carrier_id         uuid,
    metric             varchar(16)   NOT NULL,
    comparator         varchar(4)    NOT NULL DEFAULT 'GTE',
    target_value       numeric(12,4) NOT NULL,
    measurement_window varchar(8)    NOT NULL DEFAULT 'DAY',
    description        text,
    enabled            boolean       NOT NULL DEFAULT true,
    effective_date     date          NOT NULL DEFAULT CURRENT_DATE,
    expires_date       date,
    created_at         timestamptz   NOT NULL DEFAULT now(),
    updated_at         timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT slas_pkey PRIMARY KEY (id),
    CONSTRAINT slas_vendor_id_fkey FOREIGN KEY (vendor_id)
        REFERENCES vendor_mgmt.vendors (id) ON DELETE CASCADE,
    CONSTRAINT slas_contract_id_fkey FOREIGN KEY (contract_id)
        REFERENCES vendor_mgmt.contracts (id) ON DELETE CASCADE,
    CONSTRAINT slas_carrier_id_fkey FOREIGN KEY (carrier_id)
        REFERENCES routing.carriers (id) ON DELETE CASCADE,
    CONSTRAINT slas_metric_check CHECK (metric IN ('ASR', 'ACD', 'PDD', 'NER', 'UPTIME', 'DELIVERY_RATE')),
    CONSTRAINT slas_comparator_check CHECK (comparator IN ('GTE', 'LTE')),
    CONSTRAINT slas_measurement_window_check CHECK (measurement_window IN ('HOUR', 'DAY', 'MONTH')),
    CONSTRAINT slas_expires_date_check CHECK (expires_date IS NULL OR expires_date > effective_date)
);
CREATE INDEX slas_vendor_id_idx ON vendor_mgmt.slas (vendor_id);
CREATE INDEX slas_contract_id_idx ON vendor_mgmt.slas (contract_id);
CREATE INDEX slas_carrier_id_idx ON vendor_mgmt.slas (carrier_id);
COMMENT ON TABLE vendor_mgmt.slas IS 'SLA targets per vendor (optionally per contract/carrier): ASR, ACD, PDD (ms), NER, uptime, delivery rate (percentages 0-100).';
CREATE TRIGGER slas_updated_at_trg BEFORE UPDATE ON vendor_mgmt.slas
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE vendor_mgmt.incidents (
    id                  uuid          NOT NULL DEFAULT uuid_generate_v4(),
    vendor_id           uuid          NOT NULL,
    carrier_id          uuid,
    sla_id              uuid,
    title               varchar(200)  NOT NULL,
    description         text,
    severity            varchar(8)    NOT NULL DEFAULT 'MEDIUM',
    status              varchar(16)   NOT NULL DEFAULT 'OPEN',
    observed_value      numeric(12,4),
    target_value        numeric(12,4),
    external_ticket_ref varchar(128),
    opened_at           timestamptz   NOT NULL DEFAULT now(),
    resolved_at         timestamptz,
    closed_at           timestamptz,
    created_at          timestamptz   NOT NULL DEFAULT now(),
    updated_at          timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT incidents_pkey PRIMARY KEY (id),
    CONSTRAINT incidents_vendor_id_fkey FOREIGN KEY (vendor_id)
        REFERENCES vendor_mgmt.vendors (id) ON DELETE RESTRICT,
    CONSTRAINT incidents_carrier_id_fkey FOREIGN KEY (carrier_id)
        REFERENCES routing.carriers (id) ON DELETE RESTRICT,
    CONSTRAINT incidents_sla_id_fkey FOREIGN KEY (sla_id)
        REFERENCES vendor_mgmt.slas (id) ON DELETE SET NULL,
    CONSTRAINT incidents_severity_check CHECK (severity IN ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
    CONSTRAINT incidents_status_check CHECK (status IN ('OPEN', 'ACKNOWLEDGED', 'RESOLVED', 'CLOSED'))
);
CREATE INDEX incidents_vendor_id_idx ON vendor_mgmt.incidents (vendor_id);
CREATE INDEX incidents_carrier_id_idx ON vendor_mgmt.incidents (carrier_id);
CREATE INDEX incidents_sla_id_idx ON vendor_mgmt.incidents (sla_id);
CREATE INDEX incidents_status_idx ON vendor_mgmt.incidents (status) WHERE status IN ('OPEN', 'ACKNOWLEDGED');
COMMENT ON TABLE vendor_mgmt.incidents IS 'Vendor incidents, including SLA breaches raised from performance metrics.';
CREATE TRIGGER incidents_updated_at_trg BEFORE UPDATE ON vendor_mgmt.incidents
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE vendor_mgmt.performance_metrics (
    id               uuid          NOT NULL DEFAULT uuid_generate_v4(),
    carrier_id       uuid          NOT NULL,
    carrier_trunk_id uuid,
    hour_start       timestamptz   NOT NULL,
    attempts         integer       NOT NULL DEFAULT 0,
    answered         integer       NOT NULL DEFAULT 0,
    completed        integer       NOT NULL DEFAULT 0,
    asr              numeric(7,4),
    acd_seconds      numeric(12,2),
    pdd_ms           numeric(12,2),
    ner              numeric(7,4),
    computed_at      timestamptz   NOT NULL DEFAULT now(),
    created_at       timestamptz   NOT NULL DEFAULT now(),
    updated_at       timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT performance_metrics_pkey PRIMARY KEY (id),
    CONSTRAINT performance_metrics_carrier_id_hour_start_key
        UNIQUE NULLS NOT DISTINCT (carrier_id, carrier_trunk_id, hour_start),
    CONSTRAINT performance_metrics_carrier_id_fkey FOREIGN KEY (carrier_id)
        REFERENCES routing.carriers (id) ON DELETE CASCADE,
    CONSTRAINT performance_metrics_carrier_trunk_id_fkey FOREIGN KEY (carrier_trunk_id)
        REFERENCES routing.carrier_trunks (id) ON DELETE CASCADE,
    CONSTRAINT performance_metrics_counts_check CHECK (attempts >= 0 AND answered BETWEEN 0 AND attempts
                                                      AND completed BETWEEN 0 AND attempts)
);
CREATE INDEX performance_metrics_carrier_trunk_id_idx ON vendor_mgmt.performance_metrics (carrier_trunk_id, hour_start);
CREATE INDEX performance_metrics_hour_start_idx ON vendor_mgmt.performance_metrics (hour_start);
COMMENT ON TABLE vendor_mgmt.performance_metrics IS 'Hourly carrier (and carrier trunk) quality computed from CDRs: attempts, ASR, ACD, PDD, NER. Recomputable, feeds SLA checks and QUALITY routing.';
COMMENT ON COLUMN vendor_mgmt.performance_metrics.hour_start IS 'Start of the hour bucket.';
CREATE TRIGGER performance_metrics_updated_at_trg BEFORE UPDATE ON vendor_mgmt.performance_metrics
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();
