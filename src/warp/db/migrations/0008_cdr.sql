-- cdr schema: LERG and LRN reference data, raw and enriched CDRs (monthly RANGE partitioned on
-- start_time, with DEFAULT partitions), hourly summaries and vendor CDRs for reconciliation.

CREATE TABLE cdr.lerg (
    id          uuid         NOT NULL DEFAULT uuid_generate_v4(),
    npa         varchar(3)   NOT NULL,
    nxx         varchar(3)   NOT NULL,
    state       varchar(2),
    lata        varchar(5),
    ocn         varchar(4),
    rate_center varchar(64),
    country     char(2)      NOT NULL DEFAULT 'US',
    company     varchar(200),
    created_at  timestamptz  NOT NULL DEFAULT now(),
    updated_at  timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT lerg_pkey PRIMARY KEY (id),
    CONSTRAINT lerg_npa_nxx_key UNIQUE (npa, nxx),
    CONSTRAINT lerg_npa_check CHECK (npa ~ '^[2-9][0-9]{2}$'),
    CONSTRAINT lerg_nxx_check CHECK (nxx ~ '^[0-9]{3}$'),
    CONSTRAINT lerg_state_check CHECK (state ~ '^[A-Z]{2}$'),
    CONSTRAINT lerg_country_check CHECK (country ~ '^[A-Z]{2}$')
);
COMMENT ON TABLE cdr.lerg IS 'LERG reference data: NPA-NXX to state, LATA, OCN, rate center, country and company; used for jurisdiction.';
CREATE TRIGGER lerg_updated_at_trg BEFORE UPDATE ON cdr.lerg
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE cdr.lrn_cache (
    id                  uuid        NOT NULL DEFAULT uuid_generate_v4(),
    number              varchar(32) NOT NULL,
    lrn                 varchar(32),
    source              varchar(16) NOT NULL DEFAULT 'IMPORT',
    service_provider_id uuid,
    looked_up_at        timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT lrn_cache_pkey PRIMARY KEY (id),
    CONSTRAINT lrn_cache_number_key UNIQUE (number),
    CONSTRAINT lrn_cache_service_provider_id_fkey FOREIGN KEY (service_provider_id)
        REFERENCES vendor_mgmt.service_providers (id) ON DELETE SET NULL,
    CONSTRAINT lrn_cache_number_check CHECK (number ~ '^\+[1-9][0-9]{1,14}$'),
    CONSTRAINT lrn_cache_lrn_check CHECK (lrn ~ '^\+[1-9][0-9]{1,14}$'),
    CONSTRAINT lrn_cache_source_check CHECK (source IN ('IMPORT', 'PROVIDER', 'MANUAL'))
);
CREATE INDEX lrn_cache_service_provider_id_idx ON cdr.lrn_cache (service_provider_id);
CREATE INDEX lrn_cache_expires_at_idx ON cdr.lrn_cache (expires_at);
COMMENT ON TABLE cdr.lrn_cache IS 'Local Routing Numbers of ported numbers (E.164), from LNP imports or lrn_lookup providers, with a TTL (expires_at NULL = no expiry).';
COMMENT ON COLUMN cdr.lrn_cache.lrn IS 'LRN as E.164 (+1 and the 10-digit NANP LRN); NULL when the number is known not to be ported.';
CREATE TRIGGER lrn_cache_updated_at_trg BEFORE UPDATE ON cdr.lrn_cache
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE cdr.raw_cdr (
    id                 uuid          NOT NULL DEFAULT uuid_generate_v4(),
    start_time         timestamptz   NOT NULL,
    call_id            varchar(255)  NOT NULL,
    answer_time        timestamptz,
    end_time           timestamptz,
    duration           numeric(12,3) NOT NULL DEFAULT 0,
    source_ip          inet,
    raw_ani            varchar(64),
    raw_dnis           varchar(64),
    ani                varchar(32),
    dnis               varchar(32),
    sip_code           integer,
    sip_reason         varchar(128),
    pdd_ms             integer,
    direction          varchar(8)    NOT NULL DEFAULT 'OUTBOUND',
    account_id         uuid,
    trunk_id           uuid,
    carrier_trunk_id   uuid,
    carrier_trunk_name varchar(100),
    trunk_identified   boolean       NOT NULL DEFAULT false,
    ingest_source      varchar(16)   NOT NULL DEFAULT 'ACC',
    source_file        text,
    source_line        integer,
    extra              jsonb         NOT NULL DEFAULT '{}',
    created_at         timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT raw_cdr_pkey PRIMARY KEY (id, start_time),
    CONSTRAINT raw_cdr_call_id_start_time_key UNIQUE (call_id, start_time),
    -- account_id -> accounts.accounts, (trunk_id, account_id) -> routing.trunks and carrier_trunk_id ->
    -- routing.carrier_trunks are foreign keys checked per statement, not per row (ON DELETE RESTRICT):
    -- cdr.raw_cdr_check_references and cdr.restrict_raw_cdr_references in 0015_cdr_functions.sql.
    CONSTRAINT raw_cdr_trunk_id_check CHECK (trunk_id IS NULL OR account_id IS NOT NULL),
    CONSTRAINT raw_cdr_ani_check CHECK (ani ~ '^\+[1-9][0-9]{1,14}$'),
    CONSTRAINT raw_cdr_dnis_check CHECK (dnis ~ '^\+[1-9][0-9]{1,14}$'),
    CONSTRAINT raw_cdr_duration_check CHECK (duration >= 0),
    CONSTRAINT raw_cdr_sip_code_check CHECK (sip_code BETWEEN 100 AND 699),
    CONSTRAINT raw_cdr_direction_check CHECK (direction IN ('OUTBOUND', 'INBOUND')),
    CONSTRAINT raw_cdr_ingest_source_check CHECK (ingest_source IN ('ACC', 'KAMAILIO_CSV', 'JSONL', 'MANUAL')),
    CONSTRAINT raw_cdr_trunk_identified_check CHECK (NOT trunk_identified OR trunk_id IS NOT NULL)
) PARTITION BY RANGE (start_time);
CREATE INDEX raw_cdr_start_time_idx ON cdr.raw_cdr USING brin (start_time);
CREATE INDEX raw_cdr_account_id_idx ON cdr.raw_cdr (account_id, start_time);
-- (trunk_id, start_time): a trunk's CDRs, and the ON DELETE RESTRICT check of routing.trunks; a trunk has
-- one account, so account_id in this index added width and nothing else.
CREATE INDEX raw_cdr_trunk_id_idx ON cdr.raw_cdr (trunk_id, start_time);
CREATE INDEX raw_cdr_carrier_trunk_id_idx ON cdr.raw_cdr (carrier_trunk_id, start_time);
COMMENT ON TABLE cdr.raw_cdr IS 'Unprocessed CDRs from Kamailio (acc), partitioned by month on start_time. Identity (dedup) is Call-ID + start_time. CDRs whose trunk could not be identified are kept with trunk_identified = false and no account.';
COMMENT ON COLUMN cdr.raw_cdr.start_time IS 'Call start (Kamailio acc naming), UTC timestamptz; the partition key.';
COMMENT ON COLUMN cdr.raw_cdr.raw_ani IS 'Calling number exactly as received from the switch (may be malformed); ani holds the E.164 normalisation when possible.';
COMMENT ON COLUMN cdr.raw_cdr.raw_dnis IS 'Called number exactly as received from the switch; dnis holds the E.164 normalisation when possible.';
COMMENT ON COLUMN cdr.raw_cdr.duration IS 'Seconds, as reported by Kamailio (milliseconds precision).';
COMMENT ON COLUMN cdr.raw_cdr.extra IS 'Remaining cdr_extra fields from Kamailio.';

CREATE TABLE cdr.raw_cdr_default PARTITION OF cdr.raw_cdr DEFAULT;
COMMENT ON TABLE cdr.raw_cdr_default IS 'Default partition of cdr.raw_cdr: rows outside every monthly partition; maintenance moves them into monthly partitions.';

CREATE TABLE cdr.enriched_cdr (
    id                      uuid          NOT NULL DEFAULT uuid_generate_v4(),
    start_time              timestamptz   NOT NULL,
    raw_cdr_id              uuid          NOT NULL,
    account_id              uuid,
    trunk_id                uuid,
    carrier_trunk_id        uuid,
    direction               varchar(8)    NOT NULL DEFAULT 'OUTBOUND',
    ani                     varchar(32),
    dnis                    varchar(32),
    lrn                     varchar(32),
    jurisdiction            varchar(16),
    origin_state            varchar(2),
    terminating_state       varchar(2),
    terminating_lata        varchar(5),
    terminating_ocn         varchar(4),
    answered                boolean       NOT NULL DEFAULT false,
    duration_seconds        integer       NOT NULL DEFAULT 0,
    billable_seconds        integer       NOT NULL DEFAULT 0,
    customer_rate_prefix    varchar(16),
    customer_rate           decimal(10,6),
    customer_charge         numeric(14,6),
    vendor_rate_prefix      varchar(16),
    vendor_rate             decimal(10,6),
    vendor_cost             numeric(14,6),
    margin                  numeric(14,6),
    rating_status           varchar(16)   NOT NULL DEFAULT 'PENDING',
    unrated_reason          varchar(64),
    vendor_unrated_reason   varchar(64),
    rated_at                timestamptz,
    created_at              timestamptz   NOT NULL DEFAULT now(),
    updated_at              timestamptz   NOT NULL DEFAULT now(),
    billing_xid             xid8          NOT NULL DEFAULT pg_current_xact_id(),
    CONSTRAINT enriched_cdr_pkey PRIMARY KEY (id, start_time),
    CONSTRAINT enriched_cdr_raw_cdr_id_start_time_key UNIQUE (raw_cdr_id, start_time),
    -- account_id, trunk_id and carrier_trunk_id are copies of the raw CDR's (rating copies them in
    -- the statement that inserts the row), and the raw CDR's own foreign keys guard them: rows
    -- referenced by a raw CDR cannot be deleted, and this row cannot outlive its raw CDR. Checking
    -- them again per enriched row cost a quarter of the rating INSERT (docs/performance.md).
    CONSTRAINT enriched_cdr_raw_cdr_id_fkey FOREIGN KEY (raw_cdr_id, start_time)
        REFERENCES cdr.raw_cdr (id, start_time) ON DELETE CASCADE,
    CONSTRAINT enriched_cdr_trunk_id_check CHECK (trunk_id IS NULL OR account_id IS NOT NULL),
    CONSTRAINT enriched_cdr_ani_check CHECK (ani ~ '^\+[1-9][0-9]{1,14}$'),
    CONSTRAINT enriched_cdr_dnis_check CHECK (dnis ~ '^\+[1-9][0-9]{1,14}$'),
    CONSTRAINT enriched_cdr_lrn_check CHECK (lrn ~ '^\+[1-9][0-9]{1,14}$'),
    CONSTRAINT enriched_cdr_direction_check CHECK (direction IN ('OUTBOUND', 'INBOUND')),
    CONSTRAINT enriched_cdr_jurisdiction_check CHECK (jurisdiction IN
        ('INTERSTATE', 'INTRASTATE', 'INTERNATIONAL', 'TOLL_FREE', 'INDETERMINATE')),
    CONSTRAINT enriched_cdr_seconds_check CHECK (duration_seconds >= 0 AND billable_seconds >= 0),
    CONSTRAINT enriched_cdr_rating_status_check CHECK (rating_status IN ('PENDING', 'RATED', 'UNRATED', 'ERROR')),
    CONSTRAINT enriched_cdr_unrated_reason_check CHECK (rating_status <> 'UNRATED' OR unrated_reason IS NOT NULL)
) PARTITION BY RANGE (start_time);
CREATE INDEX enriched_cdr_start_time_idx ON cdr.enriched_cdr USING brin (start_time);
CREATE INDEX enriched_cdr_account_id_idx ON cdr.enriched_cdr (account_id, start_time);
CREATE INDEX enriched_cdr_trunk_id_idx ON cdr.enriched_cdr (trunk_id, account_id, start_time);
CREATE INDEX enriched_cdr_carrier_trunk_id_idx ON cdr.enriched_cdr (carrier_trunk_id, start_time);
CREATE INDEX enriched_cdr_billing_xid_idx ON cdr.enriched_cdr (billing_xid);
COMMENT ON TABLE cdr.enriched_cdr IS 'CDRs with LRN/LERG jurisdiction data and rating (customer charge, vendor cost, margin); 1:1 with cdr.raw_cdr, partitioned by month on the same start_time.';
COMMENT ON COLUMN cdr.enriched_cdr.start_time IS 'Copied from the raw CDR (Kamailio naming); partition key and part of the raw CDR reference.';
COMMENT ON COLUMN cdr.enriched_cdr.customer_charge IS 'Per-call charge, 6 decimals (billing.call_charge); invoices round to cents.';
COMMENT ON COLUMN cdr.enriched_cdr.unrated_reason IS 'Why the call is not rated (e.g. NO_RATE_PLAN, NO_MATCHING_RATE); never a silent zero.';
COMMENT ON COLUMN cdr.enriched_cdr.billing_xid IS 'Transaction that wrote the current rating (insert, or a re-rate: trigger in 0017_billing_functions.sql); invoices bill the rows visible in their build snapshot (billing.invoices.usage_snapshot), so late usage is found exactly, whatever the commit order.';
COMMENT ON COLUMN cdr.enriched_cdr.vendor_unrated_reason IS 'Why vendor_cost is unknown (NO_CARRIER_TRUNK, NO_VENDOR_RATE); NULL when costed.';

CREATE TRIGGER enriched_cdr_updated_at_trg BEFORE UPDATE ON cdr.enriched_cdr
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE cdr.enriched_cdr_default PARTITION OF cdr.enriched_cdr DEFAULT;
COMMENT ON TABLE cdr.enriched_cdr_default IS 'Default partition of cdr.enriched_cdr.';

CREATE TABLE cdr.hourly_summary (
    id                uuid          NOT NULL DEFAULT uuid_generate_v4(),
    hour_start        timestamptz   NOT NULL,
    account_id        uuid,
    direction         varchar(8)    NOT NULL,
    jurisdiction      varchar(16)   NOT NULL,
    attempts          integer       NOT NULL DEFAULT 0,
    answered          integer       NOT NULL DEFAULT 0,
    asr               numeric(7,4),
    acd_seconds       numeric(12,2),
    billable_minutes  numeric(16,4) NOT NULL DEFAULT 0,
    revenue           numeric(14,6) NOT NULL DEFAULT 0,
    cost              numeric(14,6) NOT NULL DEFAULT 0,
    margin            numeric(14,6) NOT NULL DEFAULT 0,
    computed_at       timestamptz   NOT NULL DEFAULT now(),
    created_at        timestamptz   NOT NULL DEFAULT now(),
    updated_at        timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT hourly_summary_pkey PRIMARY KEY (id),
    CONSTRAINT hourly_summary_hour_start_key
        UNIQUE NULLS NOT DISTINCT (hour_start, account_id, direction, jurisdiction),
    CONSTRAINT hourly_summary_account_id_fkey FOREIGN KEY (account_id)
        REFERENCES accounts.accounts (id) ON DELETE RESTRICT,
    CONSTRAINT hourly_summary_direction_check CHECK (direction IN ('OUTBOUND', 'INBOUND')),
    CONSTRAINT hourly_summary_jurisdiction_check CHECK (jurisdiction IN
        ('INTERSTATE', 'INTRASTATE', 'INTERNATIONAL', 'TOLL_FREE', 'INDETERMINATE', 'UNKNOWN')),
    CONSTRAINT hourly_summary_counts_check CHECK (attempts >= 0 AND answered BETWEEN 0 AND attempts)
);
CREATE INDEX hourly_summary_account_id_idx ON cdr.hourly_summary (account_id, hour_start);
COMMENT ON TABLE cdr.hourly_summary IS 'Pre-aggregated traffic per hour, account, direction and jurisdiction (attempts, ASR, ACD, minutes, revenue, cost, margin). account_id NULL counts CDRs without an identified account.';
COMMENT ON COLUMN cdr.hourly_summary.hour_start IS 'Start of the hour bucket.';
CREATE TRIGGER hourly_summary_updated_at_trg BEFORE UPDATE ON cdr.hourly_summary
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();

CREATE TABLE cdr.vendor_cdr (
    id                  uuid          NOT NULL DEFAULT uuid_generate_v4(),
    carrier_id          uuid          NOT NULL,
    call_id             varchar(255),
    ani                 varchar(32),
    dnis                varchar(32)   NOT NULL,
    start_time          timestamptz   NOT NULL,
    duration            numeric(12,3) NOT NULL DEFAULT 0,
    cost                numeric(14,6) NOT NULL DEFAULT 0,
    currency            char(3)       NOT NULL DEFAULT 'USD',
    match_status        varchar(16)   NOT NULL DEFAULT 'UNMATCHED',
    raw_cdr_id          uuid,
    raw_cdr_start_time  timestamptz,
    source_file         text,
    source_line         integer,
    created_at          timestamptz   NOT NULL DEFAULT now(),
    updated_at          timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT vendor_cdr_pkey PRIMARY KEY (id),
    CONSTRAINT vendor_cdr_carrier_id_fkey FOREIGN KEY (carrier_id)
        REFERENCES routing.carriers (id) ON DELETE RESTRICT,
    CONSTRAINT vendor_cdr_raw_cdr_id_fkey FOREIGN KEY (raw_cdr_id, raw_cdr_start_time)
        REFERENCES cdr.raw_cdr (id, start_time) ON DELETE SET NULL,
    CONSTRAINT vendor_cdr_ani_check CHECK (ani ~ '^\+[1-9][0-9]{1,14}$'),
    CONSTRAINT vendor_cdr_dnis_check CHECK (dnis ~ '^\+[1-9][0-9]{1,14}$'),
    CONSTRAINT vendor_cdr_duration_check CHECK (duration >= 0),
    CONSTRAINT vendor_cdr_match_status_check CHECK (match_status IN ('UNMATCHED', 'MATCHED', 'DISPUTED')),
    CONSTRAINT vendor_cdr_raw_cdr_id_check CHECK ((raw_cdr_id IS NULL) = (raw_cdr_start_time IS NULL))
);
CREATE INDEX vendor_cdr_carrier_id_idx ON cdr.vendor_cdr (carrier_id, start_time);
CREATE INDEX vendor_cdr_call_id_idx ON cdr.vendor_cdr (call_id);
CREATE INDEX vendor_cdr_dnis_idx ON cdr.vendor_cdr (dnis, start_time);
CREATE INDEX vendor_cdr_raw_cdr_id_idx ON cdr.vendor_cdr (raw_cdr_id, raw_cdr_start_time);
COMMENT ON TABLE cdr.vendor_cdr IS 'CDRs supplied by carriers, matched to our raw CDRs (by Call-ID, else DNIS + ANI + start time) for reconciliation.';
COMMENT ON COLUMN cdr.vendor_cdr.start_time IS 'Call start as the carrier reports it (Kamailio-style naming, timestamptz).';
COMMENT ON COLUMN cdr.vendor_cdr.raw_cdr_start_time IS 'start_time of the matched raw CDR: part of its partitioned primary key.';
CREATE TRIGGER vendor_cdr_updated_at_trg BEFORE UPDATE ON cdr.vendor_cdr
    FOR EACH ROW EXECUTE FUNCTION public.update_updated_at_column();
