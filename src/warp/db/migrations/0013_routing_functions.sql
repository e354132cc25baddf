-- routing: trunk identification by source address and least cost routing.
-- See docs/adr/0006-routing-functions.md for the security model (which functions are SECURITY
-- DEFINER and why) and for the longest-prefix design.

-- ---------------------------------------------------------------------------------------------
-- Helpers (plain SQL helpers carry no SET clause so that the planner can inline them; they
-- call only pg_catalog functions and are not SECURITY DEFINER).

CREATE FUNCTION routing.normalize_destination(p_number text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog
AS $$
DECLARE
    v text := regexp_replace(btrim(p_number), '[[:space:]().-]', '', 'g');
BEGIN
    v := regexp_replace(v, '^\+', '');
    IF v !~ '^[0-9]{1,20}$' THEN
        RAISE EXCEPTION 'destination %: expected digits, optionally E.164 with a leading +', p_number
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN v;
END
$$;
COMMENT ON FUNCTION routing.normalize_destination(text) IS
    'Digits of a dialled number: E.164 "+" and formatting characters removed; anything else is refused.';

CREATE FUNCTION routing.digit_prefixes(p_digits text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT coalesce(array_agg(left(p_digits, n) ORDER BY n DESC), '{}')
    FROM generate_series(1, least(length(p_digits), 16)) AS n
$$;
COMMENT ON FUNCTION routing.digit_prefixes(text) IS
    'Every leading substring of a digit string (at most 16 digits long, the rate-deck prefix limit), longest first.';

CREATE FUNCTION routing.jurisdictional_rate(p_rate numeric, p_interstate numeric, p_intrastate numeric,
                                            p_indeterminate numeric, p_jurisdiction text)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE p_jurisdiction
        WHEN 'INTERSTATE' THEN coalesce(p_interstate, p_rate, greatest(p_intrastate, p_indeterminate))
        WHEN 'INTRASTATE' THEN coalesce(p_intrastate, p_rate, greatest(p_interstate, p_indeterminate))
        WHEN 'INDETERMINATE' THEN coalesce(p_indeterminate, p_rate, greatest(p_interstate, p_intrastate))
        -- Billing's rule for a customer price of unknown jurisdiction: indeterminate, else intrastate.
        WHEN 'BILLED_INDETERMINATE' THEN coalesce(p_indeterminate, p_intrastate, p_rate, p_interstate)
        WHEN 'HIGHEST' THEN coalesce(greatest(p_interstate, p_intrastate, p_indeterminate), p_rate)
        ELSE coalesce(p_rate, greatest(p_interstate, p_intrastate, p_indeterminate))
    END
$$;
COMMENT ON FUNCTION routing.jurisdictional_rate(numeric, numeric, numeric, numeric, text) IS
    'The per-minute rate of a deck/plan row for a jurisdiction: INTERSTATE, INTRASTATE, INDETERMINATE, '
    'HIGHEST (unknown origin: the highest of the three, to be safe), BILLED_INDETERMINATE, or anything '
    'else (international: the flat rate).';

CREATE FUNCTION routing.call_jurisdiction(p_origin text, p_destination text) RETURNS text
    LANGUAGE sql STABLE
    SET search_path = pg_catalog
AS $$
    -- Destination digits are already normalised; the origin may be any accepted form.
    WITH o AS (
        SELECT CASE
            WHEN d ~ '^1[2-9][0-9]{9}$' THEN substr(d, 2)
            WHEN d ~ '^[2-9][0-9]{9}$' THEN d
        END AS nanp
        FROM (SELECT regexp_replace(coalesce(p_origin, ''), '[^0-9]', '', 'g') AS d) AS x
    ),
    states AS (
        SELECT (SELECT l.state FROM cdr.lerg l
                WHERE l.npa = substr(o.nanp, 1, 3) AND l.nxx = substr(o.nanp, 4, 3) AND l.country = 'US') AS orig,
               (SELECT l.state FROM cdr.lerg l
                WHERE l.npa = substr(p_destination, 2, 3) AND l.nxx = substr(p_destination, 5, 3)
                  AND l.country = 'US') AS term
        FROM o
    )
    SELECT CASE
        WHEN p_destination !~ '^1[2-9][0-9]{9}$' THEN 'INTERNATIONAL'
        WHEN p_origin IS NULL THEN NULL
        WHEN orig IS NULL OR term IS NULL THEN 'INDETERMINATE'
        WHEN orig = term THEN 'INTRASTATE'
        ELSE 'INTERSTATE'
    END
    FROM states
$$;
COMMENT ON FUNCTION routing.call_jurisdiction(text, text) IS
    'Jurisdiction of a call for routing: INTERNATIONAL for non-NANP destinations, NULL when no origin is '
    'known, INDETERMINATE when either end is not a US NPA-NXX in cdr.lerg, else INTRASTATE or INTERSTATE.';

-- ---------------------------------------------------------------------------------------------
-- Trunk identification (the switch asks this for every INVITE)

CREATE FUNCTION routing.identify_trunk(p_source inet)
    RETURNS TABLE (trunk_id uuid, account_id uuid, trunk_name text, network inet)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog
AS $$
    SELECT t.id, t.account_id, t.name::text, a.network
    FROM routing.trunk_acl a
    JOIN routing.trunks t ON t.id = a.trunk_id
    WHERE a.network >>= p_source
      AND t.enabled
      AND t.auth_type IN ('IP_ACL', 'BOTH')
    ORDER BY masklen(a.network) DESC, t.created_at, t.id
    LIMIT 1
$$;
COMMENT ON FUNCTION routing.identify_trunk(inet) IS
    'The enabled IP-authenticated customer trunk whose ACL contains the address; the most specific network '
    'wins. SECURITY DEFINER: the switch asks before any tenant is known, and it returns only that one trunk.';
ALTER FUNCTION routing.identify_trunk(inet) OWNER TO warp_owner;

-- ---------------------------------------------------------------------------------------------
-- Least cost routing

CREATE FUNCTION routing.explain_lcr(p_destination text, p_account_id uuid, p_origin text DEFAULT NULL,
                                    p_at timestamptz DEFAULT now(), p_trunk_id uuid DEFAULT NULL)
    RETURNS TABLE (
        rank                 integer,
        carrier_trunk_id     uuid,
        carrier_trunk        text,
        carrier              text,
        prefix               text,
        rate                 numeric,
        connection_fee       numeric,
        initial_increment    integer,
        subsequent_increment integer,
        priority             integer,
        weight               integer,
        asr                  numeric,
        acd_seconds          numeric,
        sell_rate            numeric,
        partition_name       text,
        strategy             text,
        jurisdiction         text,
        excluded             text,
        partition_source     text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog
AS $$
DECLARE
    v_dest text := routing.normalize_destination(p_destination);
    v_day date := (p_at AT TIME ZONE 'UTC')::date;
    v_prefixes text[];
    v_partition record;
    v_jurisdiction text;
    v_sell numeric;
    v_block record;
BEGIN
    IF current_user IN ('warp_app', 'warp_readonly')
       AND NOT p_account_id = ANY (accounts.visible_account_ids()) THEN
        RAISE EXCEPTION 'account %: not visible to this transaction', p_account_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    v_prefixes := routing.digit_prefixes(v_dest);

    -- The partition: the calling customer trunk's override, else the account's, else the default.
    SELECT p.id, p.name::text AS name, p.strategy::text AS strategy, p.allow_loss_routing, p.enabled, s.source
    INTO v_partition
    FROM (SELECT ap.partition_id AS id, 'trunk'::text AS source, 1 AS pref FROM routing.account_partitions ap
          WHERE ap.account_id = p_account_id AND ap.trunk_id = p_trunk_id
          UNION ALL
          SELECT ap.partition_id, 'account', 2 FROM routing.account_partitions ap
          WHERE ap.account_id = p_account_id AND ap.trunk_id IS NULL
          UNION ALL
          SELECT d.id, 'default', 3 FROM routing.partitions d WHERE d.is_default) AS s
    JOIN routing.partitions p ON p.id = s.id
    ORDER BY s.pref
    LIMIT 1;

    -- 7. Emergency numbers go to the emergency route only (no blacklist, margin or strategy).
    IF v_dest IN ('911', '933') THEN
        RETURN QUERY
        SELECT (row_number() OVER w)::integer, ct.id, ct.name::text, c.name::text, r.prefix::text,
               r.rate, r.connection_fee, r.initial_increment, r.subsequent_increment,
               coalesce(pct.priority, ct.priority), coalesce(pct.weight, ct.weight),
               NULL::numeric, NULL::numeric, NULL::numeric, v_partition.name, 'EMERGENCY'::text,
               NULL::text, NULL::text, v_partition.source
        FROM routing.carrier_trunks ct
        JOIN routing.carriers c ON c.id = ct.carrier_id
        LEFT JOIN routing.partition_carrier_trunks pct
               ON pct.carrier_trunk_id = ct.id AND pct.partition_id = v_partition.id
        LEFT JOIN LATERAL (
            SELECT d.prefix, routing.jurisdictional_rate(d.rate, d.interstate_rate, d.intrastate_rate,
                                                         d.indeterminate_rate, 'HIGHEST') AS rate,
                   d.connection_fee, d.initial_increment, d.subsequent_increment
            FROM routing.rate_deck d
            WHERE d.carrier_trunk_id = ct.id AND d.prefix = ANY (v_prefixes)
              AND d.effective_date <= v_day AND (d.expires_date IS NULL OR d.expires_date > v_day)
            ORDER BY length(d.prefix) DESC LIMIT 1) r ON true
        WHERE ct.is_emergency AND ct.enabled AND c.enabled
        WINDOW w AS (ORDER BY pct.id IS NULL, coalesce(pct.priority, ct.priority),
                     coalesce(pct.weight, ct.weight) DESC, ct.name)
        ORDER BY 1;
        RETURN;
    END IF;

    -- 7. Blacklisted destinations: the longest matching global or account entry in force.
    SELECT b.prefix, b.reason, b.account_id INTO v_block
    FROM routing.blacklist b
    WHERE b.prefix = ANY (v_prefixes)
      AND (b.account_id IS NULL OR b.account_id = p_account_id)
      AND (b.expires_at IS NULL OR b.expires_at > p_at)
    ORDER BY length(b.prefix) DESC
    LIMIT 1;
    IF FOUND THEN
        RETURN QUERY SELECT NULL::integer, NULL::uuid, NULL::text, NULL::text, v_block.prefix::text,
            NULL::numeric, NULL::numeric, NULL::integer, NULL::integer, NULL::integer, NULL::integer,
            NULL::numeric, NULL::numeric, NULL::numeric, v_partition.name, v_partition.strategy, NULL::text,
            format('destination blacklisted (%s prefix %s%s)',
                   CASE WHEN v_block.account_id IS NULL THEN 'global' ELSE 'account' END,
                   v_block.prefix, coalesce(': ' || v_block.reason, '')),
            v_partition.source;
        RETURN;
    END IF;

    IF v_partition.id IS NULL OR NOT v_partition.enabled THEN
        RETURN QUERY SELECT NULL::integer, NULL::uuid, NULL::text, NULL::text, NULL::text,
            NULL::numeric, NULL::numeric, NULL::integer, NULL::integer, NULL::integer, NULL::integer,
            NULL::numeric, NULL::numeric, NULL::numeric, v_partition.name, v_partition.strategy, NULL::text,
            CASE WHEN v_partition.id IS NULL
                 THEN 'no routing partition: the account has none and there is no default partition'
                 ELSE format('routing partition %s is disabled', v_partition.name) END,
            v_partition.source;
        RETURN;
    END IF;

    -- 4. Jurisdiction (US destinations): from the origin when given, else unknown.
    v_jurisdiction := routing.call_jurisdiction(p_origin, v_dest);

    -- 5. The account's sell rate for the destination (billing plan in force at p_at, longest prefix).
    SELECT routing.jurisdictional_rate(v.rate, v.interstate_rate, v.intrastate_rate, v.indeterminate_rate,
                                       coalesce(v_jurisdiction, 'BILLED_INDETERMINATE'))
    INTO v_sell
    FROM billing.account_rate_plans arp
    JOIN billing.voice_rates v ON v.rate_plan_id = arp.rate_plan_id
    WHERE arp.account_id = p_account_id
      AND arp.effective_at <= p_at AND (arp.expires_at IS NULL OR arp.expires_at > p_at)
      AND v.prefix = ANY (v_prefixes)
      AND v.effective_date <= v_day AND (v.expires_date IS NULL OR v.expires_date > v_day)
    ORDER BY length(v.prefix) DESC
    LIMIT 1;

    RETURN QUERY
    WITH members AS (
        SELECT ct.id, ct.name::text AS trunk_name, c.name::text AS carrier_name, ct.enabled, c.enabled AS carrier_enabled,
               coalesce(pct.priority, ct.priority) AS priority, coalesce(pct.weight, ct.weight) AS weight
        FROM routing.partition_carrier_trunks pct
        JOIN routing.carrier_trunks ct ON ct.id = pct.carrier_trunk_id
        JOIN routing.carriers c ON c.id = ct.carrier_id
        WHERE pct.partition_id = v_partition.id
    ),
    -- 3. Longest prefix in force per trunk: probe the destination's leading substrings (btree on
    --    prefix), keep the longest per trunk. Far cheaper than LIKE over the deck.
    --    MATERIALIZED keeps the probe on rate_deck_prefix_idx: at most (#prefixes) index descents,
    --    instead of (#trunks x #prefixes) on the (carrier_trunk_id, prefix) index.
    hits AS MATERIALIZED (
        SELECT d.carrier_trunk_id, d.prefix, d.rate, d.interstate_rate, d.intrastate_rate, d.indeterminate_rate,
               d.connection_fee, d.initial_increment, d.subsequent_increment
        FROM routing.rate_deck d
        WHERE d.prefix = ANY (v_prefixes)
          AND d.effective_date <= v_day AND (d.expires_date IS NULL OR d.expires_date > v_day)
    ),
    best AS (
        SELECT DISTINCT ON (d.carrier_trunk_id)
               d.carrier_trunk_id, d.prefix::text AS prefix,
               routing.jurisdictional_rate(d.rate, d.interstate_rate, d.intrastate_rate, d.indeterminate_rate,
                                           CASE WHEN v_jurisdiction = 'INTERNATIONAL' THEN 'FLAT'
                                                ELSE coalesce(v_jurisdiction, 'HIGHEST') END) AS rate,
               d.connection_fee, d.initial_increment, d.subsequent_increment
        FROM hits d
        WHERE d.carrier_trunk_id IN (SELECT m.id FROM members m)
        ORDER BY d.carrier_trunk_id, length(d.prefix) DESC
    ),
    quality AS (
        SELECT pm.carrier_trunk_id,
               sum(pm.answered)::numeric / nullif(sum(pm.attempts), 0) AS asr,
               sum(pm.acd_seconds * pm.answered) / nullif(sum(pm.answered) FILTER (WHERE pm.acd_seconds IS NOT NULL), 0)
                   AS acd
        FROM vendor_mgmt.performance_metrics pm
        WHERE v_partition.strategy = 'QUALITY'
          AND pm.carrier_trunk_id IN (SELECT m.id FROM members m)
          AND pm.hour_start >= p_at - interval '24 hours' AND pm.hour_start < p_at
        GROUP BY pm.carrier_trunk_id
    ),
    judged AS (
        SELECT m.*, b.prefix, b.rate, b.connection_fee, b.initial_increment, b.subsequent_increment,
               q.asr, q.acd,
               CASE
                   WHEN NOT m.carrier_enabled THEN format('carrier %s disabled', m.carrier_name)
                   WHEN NOT m.enabled THEN format('carrier trunk %s disabled', m.trunk_name)
                   WHEN b.carrier_trunk_id IS NULL THEN 'no rate in force for this destination'
                   WHEN v_sell IS NOT NULL AND b.rate > v_sell AND NOT v_partition.allow_loss_routing
                       THEN format('above sell rate (cost %s > sell %s)', b.rate, v_sell)
               END AS excluded,
               -- Weighted random key (Efraimidis-Spirakis): larger weight, more often first among ties.
               CASE WHEN m.weight > 0 THEN power(random(), 1.0 / m.weight) ELSE 0 END AS wkey
        FROM members m
        LEFT JOIN best b ON b.carrier_trunk_id = m.id
        LEFT JOIN quality q ON q.carrier_trunk_id = m.id
    )
    SELECT CASE WHEN j.excluded IS NULL THEN
               (row_number() OVER (PARTITION BY j.excluded IS NULL ORDER BY
                   CASE v_partition.strategy WHEN 'PRIORITY' THEN j.priority END,
                   CASE v_partition.strategy WHEN 'QUALITY' THEN j.asr END DESC NULLS LAST,
                   CASE v_partition.strategy WHEN 'QUALITY' THEN j.acd END DESC NULLS LAST,
                   j.rate,
                   CASE v_partition.strategy WHEN 'WEIGHTED' THEN j.wkey END DESC,
                   j.priority, j.weight DESC, j.trunk_name))::integer
           END,
           j.id, j.trunk_name, j.carrier_name, j.prefix, j.rate, j.connection_fee, j.initial_increment,
           j.subsequent_increment, j.priority, j.weight, j.asr, j.acd, v_sell, v_partition.name,
           v_partition.strategy, v_jurisdiction, j.excluded, v_partition.source
    FROM judged j
    ORDER BY 1 NULLS LAST, j.trunk_name;
END
$$;
COMMENT ON FUNCTION routing.explain_lcr(text, uuid, text, timestamptz, uuid) IS
    'Every carrier trunk of the account''s routing partition judged for a destination: its rank, or why it is '
    'excluded (disabled, no rate, above sell rate); one row with the reason for a blacklisted destination or '
    'a missing partition; the emergency route for 911/933. calculate_lcr is the ranked part of it.';

CREATE FUNCTION routing.calculate_lcr(p_destination text, p_account_id uuid, p_origin text,
                                      p_limit integer DEFAULT 5, p_at timestamptz DEFAULT now(),
                                      p_trunk_id uuid DEFAULT NULL)
    RETURNS TABLE (
        rank                 integer,
        carrier_trunk_id     uuid,
        carrier_trunk        text,
        carrier              text,
        prefix               text,
        rate                 numeric,
        connection_fee       numeric,
        initial_increment    integer,
        subsequent_increment integer)
    -- The switch's hot path: ONE statement (plan cached by plpgsql) computing what explain_lcr ranks,
    -- without the reasons. tests/routing/test_lcr_agreement.py checks that they agree over many random
    -- decks, partitions, overrides, accounts and destinations. The rare emergency case is delegated to
    -- explain_lcr. The statement is shaped for a small plan (ADR 0006): a one-row partition subquery
    -- whose look-ups are InitPlans, one index probe of the deck for every leading substring of the
    -- destination, DISTINCT ON per carrier trunk, then primary-key look-ups of the (few) trunks found;
    -- no materialised CTEs, hash tables or aggregates unless the strategy is QUALITY.
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog
AS $$
DECLARE
    v_dest text := routing.normalize_destination(p_destination);
    v_day date := (p_at AT TIME ZONE 'UTC')::date;
    v_prefixes text[] := '{}';
    v_jurisdiction text;
    n integer;
BEGIN
    IF current_user IN ('warp_app', 'warp_readonly')
       AND NOT p_account_id = ANY (accounts.visible_account_ids()) THEN
        RAISE EXCEPTION 'account %: not visible to this transaction', p_account_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF v_dest IN ('911', '933') THEN
        RETURN QUERY
        SELECT e.rank, e.carrier_trunk_id, e.carrier_trunk, e.carrier, e.prefix, e.rate, e.connection_fee,
               e.initial_increment, e.subsequent_increment
        FROM routing.explain_lcr(p_destination, p_account_id, p_origin, p_at, p_trunk_id) AS e
        WHERE e.rank IS NOT NULL
        ORDER BY e.rank
        LIMIT p_limit;
        RETURN;
    END IF;
    -- Leading substrings, longest first (routing.digit_prefixes, without a query per call).
    FOR n IN REVERSE least(length(v_dest), 16) .. 1 LOOP
        v_prefixes := v_prefixes || left(v_dest, n);
    END LOOP;
    -- routing.call_jurisdiction's answer, without its LERG look-ups when no origin is given.
    v_jurisdiction := CASE WHEN v_dest !~ '^1[2-9][0-9]{9}$' THEN 'FLAT'
                           WHEN p_origin IS NULL THEN 'HIGHEST'
                           ELSE routing.call_jurisdiction(p_origin, v_dest) END;

    RETURN QUERY
    SELECT (row_number() OVER w)::integer, x.id, x.trunk_name, x.carrier_name, x.prefix, x.rate,
           x.connection_fee, x.initial_increment, x.subsequent_increment
    FROM (
        -- The candidates with their ordering keys as columns (OFFSET 0 keeps this level, so the
        -- window and the final ORDER BY share one sort, random() included).
        SELECT ct.id, ct.name::text AS trunk_name, c.name::text AS carrier_name, b.prefix::text AS prefix,
               b.rate, b.connection_fee, b.initial_increment, b.subsequent_increment,
               CASE part.strategy WHEN 'PRIORITY' THEN coalesce(pct.priority, ct.priority) END AS k_priority,
               CASE part.strategy WHEN 'QUALITY' THEN q.asr END AS k_asr,
               CASE part.strategy WHEN 'QUALITY' THEN q.acd END AS k_acd,
               -- Weighted random key (Efraimidis-Spirakis): larger weight, more often first among ties.
               CASE part.strategy WHEN 'WEIGHTED' THEN
                   CASE WHEN coalesce(pct.weight, ct.weight) > 0
                        THEN power(random(), 1.0 / coalesce(pct.weight, ct.weight)) ELSE 0 END END AS k_random,
               coalesce(pct.priority, ct.priority) AS priority, coalesce(pct.weight, ct.weight) AS weight
        FROM (
            -- The calling trunk's partition, else the account's, else the default; if enabled and the
            -- destination is not blacklisted; with the account's sell rate unless loss routing is allowed.
            -- OFFSET 0: one row computed once (its look-ups are InitPlans), not pulled into the joins.
            SELECT p.id, p.strategy,
                   CASE WHEN NOT p.allow_loss_routing THEN (
                       SELECT routing.jurisdictional_rate(v.rate, v.interstate_rate, v.intrastate_rate,
                                                          v.indeterminate_rate,
                                                          CASE v_jurisdiction WHEN 'HIGHEST' THEN 'BILLED_INDETERMINATE'
                                                               ELSE v_jurisdiction END)
                       FROM billing.account_rate_plans arp
                       JOIN billing.voice_rates v ON v.rate_plan_id = arp.rate_plan_id
                       WHERE arp.account_id = p_account_id
                         AND arp.effective_at <= p_at AND (arp.expires_at IS NULL OR arp.expires_at > p_at)
                         AND v.prefix = ANY (v_prefixes)
                         AND v.effective_date <= v_day AND (v.expires_date IS NULL OR v.expires_date > v_day)
                       ORDER BY length(v.prefix) DESC
                       LIMIT 1) END AS sell_rate
            FROM routing.partitions p
            WHERE p.id = coalesce(
                    (SELECT ap.partition_id FROM routing.account_partitions ap
                     WHERE ap.account_id = p_account_id AND ap.trunk_id = p_trunk_id),
                    (SELECT ap.partition_id FROM routing.account_partitions ap
                     WHERE ap.account_id = p_account_id AND ap.trunk_id IS NULL),
                    (SELECT d.id FROM routing.partitions d WHERE d.is_default))
              AND p.enabled
              AND NOT EXISTS (
                    SELECT 1 FROM routing.blacklist bl
                    WHERE bl.prefix = ANY (v_prefixes)
                      AND (bl.account_id IS NULL OR bl.account_id = p_account_id)
                      AND (bl.expires_at IS NULL OR bl.expires_at > p_at))
            OFFSET 0
        ) AS part
        CROSS JOIN LATERAL (
            -- One probe of rate_deck_prefix_idx for all the destination's prefixes; the longest in
            -- force per carrier trunk (of any partition: membership is checked on the few trunks found).
            SELECT DISTINCT ON (d.carrier_trunk_id)
                   d.carrier_trunk_id, d.prefix,
                   routing.jurisdictional_rate(d.rate, d.interstate_rate, d.intrastate_rate,
                                               d.indeterminate_rate, v_jurisdiction) AS rate,
                   d.connection_fee, d.initial_increment, d.subsequent_increment
            FROM routing.rate_deck d
            WHERE d.prefix = ANY (v_prefixes)
              AND d.effective_date <= v_day AND (d.expires_date IS NULL OR d.expires_date > v_day)
            ORDER BY d.carrier_trunk_id, length(d.prefix) DESC
        ) AS b
        JOIN routing.partition_carrier_trunks pct
          ON pct.partition_id = part.id AND pct.carrier_trunk_id = b.carrier_trunk_id
        JOIN routing.carrier_trunks ct ON ct.id = b.carrier_trunk_id AND ct.enabled
        JOIN routing.carriers c ON c.id = ct.carrier_id AND c.enabled
        LEFT JOIN LATERAL (
            SELECT sum(pm.answered)::numeric / nullif(sum(pm.attempts), 0) AS asr,
                   sum(pm.acd_seconds * pm.answered)
                       / nullif(sum(pm.answered) FILTER (WHERE pm.acd_seconds IS NOT NULL), 0) AS acd
            FROM vendor_mgmt.performance_metrics pm
            WHERE part.strategy = 'QUALITY'
              AND pm.carrier_trunk_id = ct.id
              AND pm.hour_start >= p_at - interval '24 hours' AND pm.hour_start < p_at
        ) AS q ON true
        -- 5. Margin protection (rate = sell is allowed).
        WHERE part.sell_rate IS NULL OR b.rate <= part.sell_rate
        OFFSET 0
    ) AS x
    WINDOW w AS (ORDER BY x.k_priority, x.k_asr DESC NULLS LAST, x.k_acd DESC NULLS LAST, x.rate,
                 x.k_random DESC, x.priority, x.weight DESC, x.trunk_name)
    ORDER BY x.k_priority, x.k_asr DESC NULLS LAST, x.k_acd DESC NULLS LAST, x.rate,
             x.k_random DESC, x.priority, x.weight DESC, x.trunk_name
    LIMIT p_limit;
END
$$;
COMMENT ON FUNCTION routing.calculate_lcr(text, uuid, text, integer, timestamptz, uuid) IS
    'Ordered route candidates for a call from p_origin (jurisdictional US decks use the call''s jurisdiction): '
    'the ranked part of explain_lcr, computed in one statement.';

CREATE FUNCTION routing.calculate_lcr(p_destination text, p_account_id uuid, p_limit integer DEFAULT 5,
                                      p_at timestamptz DEFAULT now(), p_trunk_id uuid DEFAULT NULL)
    RETURNS TABLE (
        rank                 integer,
        carrier_trunk_id     uuid,
        carrier_trunk        text,
        carrier              text,
        prefix               text,
        rate                 numeric,
        connection_fee       numeric,
        initial_increment    integer,
        subsequent_increment integer)
    -- Plain SQL without SET: inlined into the caller's query (no second plpgsql frame per call).
    LANGUAGE sql STABLE
AS $$
    SELECT * FROM routing.calculate_lcr(p_destination, p_account_id, NULL::text, p_limit, p_at, p_trunk_id)
$$;
COMMENT ON FUNCTION routing.calculate_lcr(text, uuid, integer, timestamptz, uuid) IS
    'Ordered route candidates (rank, carrier trunk, carrier, matched prefix, rate, connection fee, increments) '
    'for a destination and account at p_at; US jurisdictional decks use the highest rate (origin unknown).';

-- ---------------------------------------------------------------------------------------------
-- Import helpers

CREATE FUNCTION routing.is_iso_date(p_value text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN p_value ~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$' AND substr(p_value, 1, 4) <> '0000'
        THEN substr(p_value, 9, 2)::integer <= extract(day FROM make_date(substr(p_value, 1, 4)::integer,
                                                                        substr(p_value, 6, 2)::integer, 1)
                                                               + interval '1 month - 1 day')
        ELSE false
    END
$$;
COMMENT ON FUNCTION routing.is_iso_date(text) IS
    'True when the text is a real calendar date written YYYY-MM-DD (used to validate rate deck files set-based).';
