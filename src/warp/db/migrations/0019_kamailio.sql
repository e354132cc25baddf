-- Kamailio's window onto WARP (issue 11): what the shipped deploy/kamailio/kamailio.cfg reads and writes.
--
-- The switch logs in as a member of the role warp_kamailio and sees only the schema `kamailio`:
--   kamailio.identify_trunk(source)           per INVITE: the enabled customer trunk whose ACL holds the
--                                              source address, with its capacity limits (403 when none)
--   kamailio.route(account, dnis, ani, limit, trunk) per INVITE: WARP's least cost routing (routing.calculate_lcr)
--                                              as SIP URIs, in the order to try them
--   kamailio.address                          the same ACLs as a `permissions`-module address view
--   kamailio.acc_cdrs                         where the `acc` module writes one CDR per call; the CDR
--                                              worker (warp.workers.cdr) ingests it into cdr.raw_cdr
--   kamailio.version                          the table versions Kamailio's modules check
-- Every query is live per call: a trunk, ACL, carrier or rate change is seen by the next INVITE, so
-- no reload is needed (docs/kamailio.md).

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'warp_kamailio') THEN
        CREATE ROLE warp_kamailio NOLOGIN NOBYPASSRLS;
    END IF;
END
$$;

CREATE SCHEMA IF NOT EXISTS kamailio;
COMMENT ON SCHEMA kamailio IS
    'What the Kamailio softswitch reads (trunk identification, routes, ACL view) and writes (acc_cdrs).';
-- warp_owner first: objects are given to warp_owner below, which needs CREATE in their schema.
ALTER SCHEMA kamailio OWNER TO warp_owner;
REVOKE ALL ON SCHEMA kamailio FROM PUBLIC;
GRANT USAGE ON SCHEMA kamailio TO warp_kamailio, warp_staff, warp_app;

-- ---------------------------------------------------------------------------------------------
-- Kamailio's table versions (modules refuse to start when a table they use has the wrong version).

CREATE TABLE kamailio.version (
    table_name    varchar(32) NOT NULL,
    table_version integer     NOT NULL DEFAULT 0,
    CONSTRAINT version_table_name_key UNIQUE (table_name)
);
COMMENT ON TABLE kamailio.version IS
    'Kamailio''s own bookkeeping: the schema version of each table or view its modules read or write.';
INSERT INTO kamailio.version (table_name, table_version) VALUES ('acc_cdrs', 2), ('address', 6);
GRANT SELECT ON kamailio.version TO warp_kamailio;

-- ---------------------------------------------------------------------------------------------
-- CDRs written by the acc module (cdr_enable + cdr_extra), read by the CDR worker. Column names are
-- the contract of warp.cdr.ingest.ACC_COLUMNS. Times are UTC wall-clock (Kamailio runs with TZ=UTC).

CREATE TABLE kamailio.acc_cdrs (
    id            bigserial     NOT NULL,
    start_time    timestamp     NOT NULL DEFAULT '2000-01-01 00:00:00',
    end_time      timestamp     NOT NULL DEFAULT '2000-01-01 00:00:00',
    duration      numeric(12,3) NOT NULL DEFAULT 0,
    callid        varchar(255)  NOT NULL DEFAULT '',
    src_ip        varchar(64),
    from_user     varchar(64),
    ruri_user     varchar(64),
    sip_code      integer,
    sip_reason    varchar(128),
    carrier_trunk varchar(100),
    pdd_ms        varchar(12),
    CONSTRAINT acc_cdrs_pkey PRIMARY KEY (id)
);
CREATE INDEX acc_cdrs_start_time_idx ON kamailio.acc_cdrs (start_time);
COMMENT ON TABLE kamailio.acc_cdrs IS
    'One row per call written by Kamailio''s acc module (start/end/duration + cdr_extra fields: Call-ID, '
    'source IP, ANI, DNIS, final SIP code and reason, carrier trunk chosen, PDD in ms). Ingested by the '
    'CDR worker above its watermark (cdr.ingest_watermarks source ''acc_cdrs''); never updated.';
COMMENT ON COLUMN kamailio.acc_cdrs.start_time IS
    'Kamailio''s dialog start (answer time for answered calls, INVITE time for failed ones), UTC.';
COMMENT ON COLUMN kamailio.acc_cdrs.duration IS 'Seconds from answer to BYE, millisecond precision; 0 when not answered.';
COMMENT ON COLUMN kamailio.acc_cdrs.pdd_ms IS
    'Post-dial delay in ms, INVITE received to first 18x/2xx from the carrier; empty when none came (text: acc writes '''' for an unset value).';
GRANT INSERT ON kamailio.acc_cdrs TO warp_kamailio;
GRANT USAGE ON SEQUENCE kamailio.acc_cdrs_id_seq TO warp_kamailio;
GRANT SELECT ON kamailio.acc_cdrs TO warp_staff;

-- ---------------------------------------------------------------------------------------------
-- Trunk identification for the switch

CREATE FUNCTION kamailio.identify_trunk(p_source text)
    RETURNS TABLE (trunk_id uuid, account_id uuid, trunk_name text, max_concurrent_calls integer,
                   max_calls_per_second integer, tech_prefix text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
DECLARE
    v_source inet;
BEGIN
    BEGIN
        v_source := p_source::inet;
    EXCEPTION WHEN invalid_text_representation THEN
        RETURN;
    END;
    RETURN QUERY
    SELECT i.trunk_id, i.account_id, i.trunk_name, t.max_concurrent_calls, t.max_calls_per_second,
           t.tech_prefix::text
    FROM routing.identify_trunk(v_source) AS i
    JOIN routing.trunks t ON t.id = i.trunk_id;
END
$$;
COMMENT ON FUNCTION kamailio.identify_trunk(text) IS
    'For Kamailio, per INVITE: the enabled IP-authenticated customer trunk whose ACL holds the source address '
    '(routing.identify_trunk, most specific network wins) with its concurrency and CPS limits; no row = 403.';
ALTER FUNCTION kamailio.identify_trunk(text) OWNER TO warp_owner;
REVOKE ALL ON FUNCTION kamailio.identify_trunk(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION kamailio.identify_trunk(text) TO warp_kamailio, warp_staff;

-- ---------------------------------------------------------------------------------------------
-- Routes for the switch

CREATE FUNCTION kamailio.route(p_account_id uuid, p_dnis text, p_ani text DEFAULT NULL, p_limit integer DEFAULT 5,
                               p_trunk_id uuid DEFAULT NULL)
    RETURNS TABLE (rank integer, carrier_trunk text, uri text, carrier text, rate numeric)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
DECLARE
    v_dest   text := routing.normalize_destination(p_dnis);
    v_origin text := nullif(regexp_replace(coalesce(p_ani, ''), '[^0-9]', '', 'g'), '');
BEGIN
    IF v_dest IS NULL OR v_dest = '' THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT l.rank, l.carrier_trunk, 'sip:' || coalesce(ct.tech_prefix, '') || v_dest || '@' || ct.host || ':'
               || ct.port || CASE WHEN ct.transport = 'udp' THEN '' ELSE ';transport=' || ct.transport END,
           l.carrier, l.rate
    FROM routing.calculate_lcr(v_dest, p_account_id, v_origin, p_limit, now(), p_trunk_id) AS l
    JOIN routing.carrier_trunks ct ON ct.id = l.carrier_trunk_id
    ORDER BY l.rank;
END
$$;
COMMENT ON FUNCTION kamailio.route(uuid, text, text, integer, uuid) IS
    'For Kamailio, per INVITE: routing.calculate_lcr for the account, destination, origin and calling trunk '
    '(its routing-partition override applies) as SIP URIs of '
    'the carrier trunks (tech prefix + E.164 digits @ host:port), in the order to try; no row = no route.';
ALTER FUNCTION kamailio.route(uuid, text, text, integer, uuid) OWNER TO warp_owner;
REVOKE ALL ON FUNCTION kamailio.route(uuid, text, text, integer, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION kamailio.route(uuid, text, text, integer, uuid) TO warp_kamailio, warp_staff;

-- ---------------------------------------------------------------------------------------------
-- The same ACLs for the permissions module (allow_source_address / reload over JSON-RPC), if an
-- operator prefers it to kamailio.identify_trunk. Group 1 = customer trunks; tag = trunk id.

CREATE VIEW kamailio.address WITH (security_barrier) AS
SELECT row_number() OVER (ORDER BY a.id)::integer AS id,
       1 AS grp,
       host(a.network)::varchar(50) AS ip_addr,
       masklen(a.network) AS mask,
       0 AS port,
       a.trunk_id::text::varchar(64) AS tag
FROM routing.trunk_acl a
JOIN routing.trunks t ON t.id = a.trunk_id
WHERE t.enabled AND t.auth_type IN ('IP_ACL', 'BOTH');
COMMENT ON VIEW kamailio.address IS
    'Enabled customer trunks'' ACLs in the shape of Kamailio''s permissions `address` table (grp 1, tag = trunk id).';
ALTER VIEW kamailio.address OWNER TO warp_owner;
GRANT SELECT ON kamailio.address TO warp_kamailio, warp_staff;

-- Owned like every WARP object (not by whoever migrated): the maintenance role, a member of
-- warp_owner, ANALYZEs them (tests/ops/test_ops_least_privilege.py).
ALTER TABLE kamailio.version OWNER TO warp_owner;
ALTER TABLE kamailio.acc_cdrs OWNER TO warp_owner;
