-- pg_orders.sql: the PostgreSQL peer of `make bench` (BENCH_FULL=1): the
-- tables of a customer-order store and peer.create_order(jsonb), a PL/pgSQL
-- function that takes the bench's order the way corder's order.create does
-- (tests/bench/peers/README.md says what the workload is). Everything lives
-- in the schema "peer", dropped and made again here; the reference data
-- comes after, from `lua5.4 seed.lua sql tests/bench/seed.json`.
--   SELECT peer.create_order('<request json>');  -> {"order": …, "deposit": …}
-- Called as one autocommit statement, it is one transaction: one commit,
-- durable (fsync=on, synchronous_commit=on) before the answer.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS peer CASCADE;
CREATE SCHEMA peer;

-- reference data
CREATE TABLE peer.stores (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    order_seq   regclass NOT NULL,  -- the store's order numbers
    invoice_seq regclass NOT NULL   -- and its invoice numbers
);
CREATE TABLE peer.customers (
    account text PRIMARY KEY,
    name    text NOT NULL,
    email   text,
    phone   text
);
CREATE TABLE peer.addresses (
    account text NOT NULL REFERENCES peer.customers,
    label   text NOT NULL,
    street  text NOT NULL,
    city    text NOT NULL,
    PRIMARY KEY (account, label)
);
CREATE TABLE peer.products (
    item  text PRIMARY KEY,
    name  text NOT NULL,
    price bigint NOT NULL CHECK (price >= 0)  -- minor units
);

-- A store with its two sequences (the seed calls it once per store).
CREATE FUNCTION peer.add_store(p_id text, p_name text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_orders   text := 'peer.order_no_' || lower(p_id);
    v_invoices text := 'peer.invoice_no_' || lower(p_id);
BEGIN
    EXECUTE format('CREATE SEQUENCE %s', v_orders);
    EXECUTE format('CREATE SEQUENCE %s', v_invoices);
    INSERT INTO peer.stores VALUES (p_id, p_name, v_orders::regclass, v_invoices::regclass);
END
$$;

-- what an order writes
CREATE TABLE peer.orders (
    number     text PRIMARY KEY,           -- S001-000001
    store      text NOT NULL,
    customer   text NOT NULL,
    type       text NOT NULL,
    status     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    goods      bigint NOT NULL,
    shipping   bigint NOT NULL,
    deposit    bigint NOT NULL,
    invoiced   bigint NOT NULL,
    paid       bigint NOT NULL,
    balance    bigint NOT NULL
);
CREATE TABLE peer.order_lines (
    number       text NOT NULL REFERENCES peer.orders,
    line         int NOT NULL,
    item         text NOT NULL,
    name         text NOT NULL,
    qty          int NOT NULL CHECK (qty > 0),
    unit_price   bigint NOT NULL,
    amount       bigint NOT NULL,
    mode         text NOT NULL CHECK (mode IN ('ship', 'pickup', 'carryout')),
    address      text,
    pickup_store text,
    date         date,
    shipment     int,
    status       text NOT NULL,
    PRIMARY KEY (number, line)
);
CREATE TABLE peer.order_charges (
    number   text NOT NULL REFERENCES peer.orders,
    charge   int NOT NULL,
    code     text NOT NULL,
    kind     text NOT NULL,
    amount   bigint NOT NULL,
    address  text,
    date     date,
    invoiced boolean NOT NULL,
    PRIMARY KEY (number, charge)
);
CREATE TABLE peer.order_payments (
    number  text NOT NULL REFERENCES peer.orders,
    payment int NOT NULL,
    tender  text NOT NULL,
    amount  bigint NOT NULL CHECK (amount > 0),
    at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (number, payment)
);
CREATE TABLE peer.invoices (
    store   text NOT NULL,
    invoice bigint NOT NULL,
    number  text NOT NULL REFERENCES peer.orders,
    kind    text NOT NULL,
    lines   int[] NOT NULL,
    amount  bigint NOT NULL,
    paid    bigint NOT NULL,
    at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store, invoice)
);
CREATE TABLE peer.txlog (
    seq     bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    store   text NOT NULL,
    op      text NOT NULL,
    number  text,
    request jsonb NOT NULL
);
CREATE TABLE peer.outbox (
    seq     bigserial PRIMARY KEY,
    store   text NOT NULL,
    type    text NOT NULL,
    number  text NOT NULL,
    payload jsonb NOT NULL,
    at      timestamptz NOT NULL DEFAULT now()
);

-- One order. Every check and every amount first; then the writes.
CREATE FUNCTION peer.create_order(req jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c_shipping_per_shipment CONSTANT bigint := 995;
    c_deposit_percent       CONSTANT bigint := 20;
    v_store     peer.stores;
    v_account   text := req->>'customer';
    v_type      text := coalesce(req->>'type', 'order');
    v_today     date := (now() AT TIME ZONE 'UTC')::date;
    v_line      jsonb;
    v_n         int := 0;
    v_qty       bigint;
    v_product   peer.products;
    v_mode      text;
    v_date      date;
    v_shipment  int;
    v_shipments text[] := '{}';      -- "label@date" of each shipment, in order
    v_rows      jsonb := '[]';       -- the lines to insert, computed
    v_open      bigint := 0;         -- ship and pickup goods
    v_carried   bigint := 0;         -- carry-out goods, invoiced now
    v_carried_lines int[] := '{}';
    v_pay       jsonb;
    v_paid      bigint := 0;
    v_shipping  bigint;
    v_deposit   bigint;
    v_total     bigint;
    v_number    text;
    v_invoice   bigint;
    v_answer    jsonb;
BEGIN
    SELECT * INTO v_store FROM peer.stores WHERE id = req->>'store';
    IF NOT FOUND THEN RAISE EXCEPTION 'REFUSED unknown store %', req->>'store'; END IF;
    PERFORM FROM peer.customers WHERE account = v_account;
    IF NOT FOUND THEN RAISE EXCEPTION 'REFUSED unknown customer %', v_account; END IF;
    IF v_type <> 'order' THEN RAISE EXCEPTION 'REFUSED type must be order'; END IF;
    IF jsonb_typeof(req->'lines') IS DISTINCT FROM 'array'
       OR jsonb_array_length(req->'lines') NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'REFUSED lines: 1 to 200 lines';
    END IF;

    FOR v_line IN SELECT value FROM jsonb_array_elements(req->'lines') LOOP
        v_n := v_n + 1;
        IF jsonb_typeof(v_line->'qty') IS DISTINCT FROM 'number'
           OR (v_line->>'qty')::numeric NOT BETWEEN 1 AND 100000
           OR (v_line->>'qty')::numeric % 1 <> 0 THEN
            RAISE EXCEPTION 'REFUSED line %: qty must be 1 to 100000', v_n;
        END IF;
        v_qty := (v_line->>'qty')::bigint;
        SELECT * INTO v_product FROM peer.products WHERE item = v_line->>'item';
        IF NOT FOUND THEN RAISE EXCEPTION 'REFUSED line %: unknown item %', v_n, v_line->>'item'; END IF;
        v_mode := v_line->'delivery'->>'mode';
        v_date := NULL;
        v_shipment := NULL;
        IF v_mode IN ('ship', 'pickup') THEN
            IF coalesce(v_line->'delivery'->>'date', '') !~ '^\d{4}-\d{2}-\d{2}$' THEN
                RAISE EXCEPTION 'REFUSED line %: the date must be YYYY-MM-DD', v_n;
            END IF;
            v_date := (v_line->'delivery'->>'date')::date;
            IF v_date <= v_today THEN
                RAISE EXCEPTION 'REFUSED line %: the date must be after today', v_n;
            END IF;
            v_open := v_open + v_product.price * v_qty;
        END IF;
        CASE v_mode
        WHEN 'ship' THEN
            PERFORM FROM peer.addresses
             WHERE account = v_account AND label = v_line->'delivery'->>'address';
            IF NOT FOUND THEN
                RAISE EXCEPTION 'REFUSED line %: % has no address %', v_n, v_account,
                    v_line->'delivery'->>'address';
            END IF;
            v_shipment := array_position(v_shipments, (v_line->'delivery'->>'address') || '@' || v_date);
            IF v_shipment IS NULL THEN
                v_shipments := v_shipments || ((v_line->'delivery'->>'address') || '@' || v_date);
                v_shipment := cardinality(v_shipments);
            END IF;
        WHEN 'pickup' THEN
            PERFORM FROM peer.stores WHERE id = v_line->'delivery'->>'store';
            IF NOT FOUND THEN
                RAISE EXCEPTION 'REFUSED line %: unknown pickup store %', v_n,
                    v_line->'delivery'->>'store';
            END IF;
        WHEN 'carryout' THEN
            v_carried := v_carried + v_product.price * v_qty;
            v_carried_lines := v_carried_lines || v_n;
        ELSE
            RAISE EXCEPTION 'REFUSED line %: delivery mode must be ship, pickup or carryout', v_n;
        END CASE;
        v_rows := v_rows || jsonb_build_object(
            'line', v_n, 'item', v_product.item, 'name', v_product.name, 'qty', v_qty,
            'unit_price', v_product.price, 'amount', v_product.price * v_qty, 'mode', v_mode,
            'address', CASE WHEN v_mode = 'ship' THEN v_line->'delivery'->>'address' END,
            'pickup_store', CASE WHEN v_mode = 'pickup' THEN v_line->'delivery'->>'store' END,
            'date', v_date, 'shipment', v_shipment,
            'status', CASE WHEN v_mode = 'carryout' THEN 'invoiced' ELSE 'open' END);
    END LOOP;

    v_shipping := c_shipping_per_shipment * cardinality(v_shipments);
    -- a percentage rounded half away from zero (the amounts are >= 0)
    v_deposit := ((v_open + v_shipping) * c_deposit_percent + 50) / 100;
    v_total := v_open + v_carried + v_shipping;
    IF jsonb_typeof(req->'payments') IS DISTINCT FROM 'array'
       OR jsonb_array_length(req->'payments') = 0 THEN
        RAISE EXCEPTION 'REFUSED payments: at least one';
    END IF;
    FOR v_pay IN SELECT value FROM jsonb_array_elements(req->'payments') LOOP
        IF coalesce(v_pay->>'tender', '') = '' THEN RAISE EXCEPTION 'REFUSED payment: tender required'; END IF;
        IF jsonb_typeof(v_pay->'amount') IS DISTINCT FROM 'number'
           OR (v_pay->>'amount')::numeric NOT BETWEEN 1 AND 1e12
           OR (v_pay->>'amount')::numeric % 1 <> 0 THEN
            RAISE EXCEPTION 'REFUSED payment: amount must be above 0';
        END IF;
        v_paid := v_paid + (v_pay->>'amount')::bigint;
    END LOOP;
    IF v_paid < v_deposit + v_carried OR v_paid > v_total THEN
        RAISE EXCEPTION 'REFUSED payments of % must be at least the % due and at most the order total %',
            v_paid, v_deposit + v_carried, v_total;
    END IF;

    -- the writes: nothing below refuses the order
    v_number := v_store.id || '-' || lpad(nextval(v_store.order_seq)::text, 6, '0');
    INSERT INTO peer.orders (number, store, customer, type, status, goods, shipping, deposit,
                             invoiced, paid, balance)
    VALUES (v_number, v_store.id, v_account, v_type, 'open', v_open + v_carried, v_shipping,
            v_deposit, v_carried, v_paid, v_total - v_paid);
    INSERT INTO peer.order_lines
    SELECT v_number, r.line, r.item, r.name, r.qty, r.unit_price, r.amount, r.mode, r.address,
           r.pickup_store, r.date, r.shipment, r.status
      FROM jsonb_to_recordset(v_rows) AS r(line int, item text, name text, qty int,
           unit_price bigint, amount bigint, mode text, address text, pickup_store text,
           date date, shipment int, status text);
    INSERT INTO peer.order_charges
    SELECT v_number, s.n, 'SHIP', 'shipping', c_shipping_per_shipment,
           split_part(s.k, '@', 1), split_part(s.k, '@', 2)::date, false
      FROM unnest(v_shipments) WITH ORDINALITY AS s(k, n);
    INSERT INTO peer.order_payments (number, payment, tender, amount)
    SELECT v_number, p.n, p.v->>'tender', (p.v->>'amount')::bigint
      FROM jsonb_array_elements(req->'payments') WITH ORDINALITY AS p(v, n);
    IF v_carried > 0 THEN
        v_invoice := nextval(v_store.invoice_seq);
        INSERT INTO peer.invoices (store, invoice, number, kind, lines, amount, paid)
        VALUES (v_store.id, v_invoice, v_number, 'carryout', v_carried_lines, v_carried, v_carried);
    END IF;
    INSERT INTO peer.txlog (store, op, number, request)
    VALUES (v_store.id, 'order.create', v_number, req);
    v_answer := jsonb_build_object('order', v_number, 'shipping', v_shipping, 'deposit', v_deposit,
                                   'invoice', v_invoice, 'invoiced', v_carried, 'paid', v_paid,
                                   'balance', v_total - v_paid);
    INSERT INTO peer.outbox (store, type, number, payload)
    VALUES (v_store.id, 'order.create', v_number,
            jsonb_build_object('order', v_number, 'customer', v_account, 'result', v_answer));
    RETURN v_answer;
END
$$;
