/* policy_view.c: the order as a hook reads it, built from the order's
 * structs only as far as the hook reads it (POLICY.md "order").
 *
 * A hook's `order` used to be the order's policy view written as JSON text
 * and parsed into Lua tables, all of it, for every call: some 130 values in
 * 25 tables for a 5-line order, 8 to 9 us here, while the hook itself (the
 * deposit rule) runs in under 1 us and reads a third of them. Now the hook
 * gets an empty table with a metatable: the first read of a top-level field
 * (`order.lines`, `order.customer`, `order.totals`...) builds that field
 * straight from the structs and stores it in the order table, so every
 * later read is an ordinary table read. A hook that reads lines and
 * charges never pays for invoices, payments, totals or the sync state; a
 * tax hook that reads only its item pays for no part of the order. The
 * lines, their deliveries and the charges go one step further: each is a
 * table read field by field, the same way (see "lines and charges").
 *
 * What the hook sees is exactly the text the decision is logged with
 * (order_write's ORDER_POLICY view, which replay hands a policy as plain
 * tables): the same fields, left out under the same conditions, the same
 * values (tests/unit/test_policy_view.c compares the two field by field).
 * It stays a table of the hook's own: it may write into it (a field it sets,
 * or sets to nil, stays as it set it, built or not), and pairs() walks every
 * field (it builds the ones not read yet first). What differs from a table
 * parsed from text: next() and rawget() see only the fields built so far,
 * and getmetatable() answers false. Once every field is built (pairs does
 * that) the metatable goes and the order is a plain table.
 *
 * The structs are the flow's, valid only during the call. The view of the
 * current call is remembered (one order per call at most); a view a policy
 * kept in a global and reads in a later call raises an error naming the
 * field, rather than reading memory that is no longer the order: what it
 * read during its call it keeps, as plain tables and values, except the
 * fields of a line, a delivery or a charge it did not walk with pairs. */
#include <lauxlib.h>
#include <string.h>

#include "host/policy_int.h"

/* The fields of the view, in order_write's order. */
enum {
    F_NUMBER,
    F_STORE,
    F_TYPE,
    F_VERSION,
    F_CURRENCY,
    F_CREATED_AT,
    F_POLICY_VERSION,
    F_CREATED_BY,
    F_QUOTE_EXPIRES,
    F_PRICES_INCLUDE_TAX,
    F_CUSTOMER,
    F_DEPOSIT,
    F_LINES,
    F_CHARGES,
    F_INVOICES,
    F_RETURNS,
    F_PAYMENTS,
    F_REFUNDS,
    F_PICKUP_CONTACTS,
    F_HOLD,
    F_STATUS,
    F_TOTALS,
    F_PAID,
    F_REFUNDED,
    F_ON_ACCOUNT,
    F_BALANCE,
    F_SYNC,
    F_COUNT
};

/* Each name with its length, so that a lookup compares one or two names,
 * not 27 (pvw_index runs for every first read of a field). */
/* clang-format off */
#define FIELD(n) {n, sizeof n - 1}
/* clang-format on */
static const struct {
    const char *name;
    size_t len;
} fields[F_COUNT] = {
    FIELD("number"),
    FIELD("store"),
    FIELD("type"),
    FIELD("version"),
    FIELD("currency"),
    FIELD("created_at"),
    FIELD("policy_version"),
    FIELD("created_by"),
    FIELD("quote_expires"),
    FIELD("prices_include_tax"),
    FIELD("customer"),
    FIELD("deposit"),
    FIELD("lines"),
    FIELD("charges"),
    FIELD("invoices"),
    FIELD("returns"),
    FIELD("payments"),
    FIELD("refunds"),
    FIELD("pickup_contacts"),
    FIELD("hold"),
    FIELD("status"),
    FIELD("totals"),
    FIELD("paid"),
    FIELD("refunded"),
    FIELD("on_account"),
    FIELD("balance"),
    FIELD("sync"),
};

/* The keys of the tables hooks read most (a line, its delivery, a charge,
 * the customer), interned once per state and kept as upvalues of the
 * metamethods: a field is then set with lua_rawset of a key already on
 * hand, where lua_setfield looks its name up in the string cache first
 * and a table constructor in Lua (what built the lines before) pays the
 * count hook's per-instruction check and a Lua call per line. With the
 * cheaper field lookup and current-view check below, the deposit call of
 * tests/bench/policy_bench.c went from 85,500 to 72,700 instructions
 * (callgrind). */
enum {
    K_LINE,
    K_ITEM,
    K_NAME,
    K_QTY,
    K_UNIT_PRICE,
    K_DELIVERY,
    K_MODE,
    K_ADDRESS,
    K_DATE,
    K_METHOD,
    K_STORE,
    K_QTY_INVOICED,
    K_QTY_RETURNED,
    K_QTY_CANCELLED,
    K_TAX,
    K_AMOUNT,
    K_STATUS,
    K_CODE,
    K_KIND,
    K_INVOICED,
    K_INVOICE,
    K_WAIVED,
    K_MANUAL,
    K_SHIPMENT,
    K_ACCOUNT,
    K_B2B,
    K_SHIP, /* the delivery modes: values, interned once too */
    K_PICKUP,
    K_CARRYOUT,
    K_COUNT
};

static const char *const key_names[K_COUNT] = {
    "line",         "item",          "name",    "qty",    "unit_price", "delivery",
    "mode",         "address",       "date",    "method", "store",      "qty_invoiced",
    "qty_returned", "qty_cancelled", "tax",     "amount", "status",     "code",
    "kind",         "invoiced",      "invoice", "waived", "manual",     "shipment",
    "account",      "b2b",           "ship",    "pickup", "carryout",
};

/* The kinds of element tables (see "lines and charges" below). */
enum { EL_LINE, EL_CHARGE, EL_DELIVERY, EL_CUSTOMER, EL_KINDS };

/* A line, a charge or the customer of the current call, built field by
 * field as the hook reads it (see "lines and charges" below). */
typedef struct {
    uint8_t kind;  /* EL_LINE, EL_CHARGE, EL_DELIVERY (a line's) or EL_CUSTOMER */
    uint32_t i;    /* its index in o->lines or o->charges */
    uint32_t done; /* keys set by the hook, or cached (1u << K_...) */
} pvw_elem;

/* Where a table's element record is: open addressing on the table's
 * address; a slot of another generation (call) is free. */
typedef struct {
    const void *t;
    uint32_t gen;
    uint32_t elem;
} pvw_slot;

/* Elements per call built lazily; an order with more lines and charges
 * gets them built whole, as before (the records are fixed in size so that
 * a call allocates nothing for them). */
#define PVW_ELEMS 64
#define PVW_SLOTS 128  /* a power of 2, at least twice PVW_ELEMS */
#define PVW_KSLOTS 128 /* a power of 2, at least twice K_COUNT */

/* Per state: the view of the call in progress. */
typedef struct {
    const order *o;  /* NULL between calls */
    const void *cur; /* the view table of the call in progress */
    order_sums sums;
    int summed;    /* -1 not yet, 0 overflow (totals left out), 1 done */
    uint32_t done; /* fields built, or set by the hook: never built again */
    uint32_t gen;  /* the call's number: slots of other calls are free */
    uint32_t nelems;
    const char *kp[K_COUNT];   /* the interned keys' bytes: a key is known by address */
    uint8_t kslot[PVW_KSLOTS]; /* K_... + 1 by the address's hash (0: free) */
    uint32_t kmask[EL_KINDS];  /* the keys of each kind of element */
    pvw_elem elems[PVW_ELEMS];
    pvw_slot slots[PVW_SLOTS];
} pvw_state;

static pvw_state *pvw_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

static int field_of(const char *k, size_t len)
{
    for (int f = 0; f < F_COUNT; f++)
        if (fields[f].len == len && !memcmp(fields[f].name, k, len)) return f;
    return -1;
}

/* ---- building one field (what order_write writes with pub = true) ---- */

static void set_str(lua_State *L, const char *k, const char *v)
{
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

static void set_opt(lua_State *L, const char *k, const char *v)
{
    if (*v) set_str(L, k, v);
}

static void set_int(lua_State *L, const char *k, int64_t v)
{
    lua_pushinteger(L, (lua_Integer)v);
    lua_setfield(L, -2, k);
}

static void set_bool(lua_State *L, const char *k, bool v)
{
    lua_pushboolean(L, v);
    lua_setfield(L, -2, k);
}

/* Tax in the order object: never the -1 of a tax not yet decided. */
static void set_tax(lua_State *L, const char *k, int64_t v)
{
    set_int(L, k, v > 0 ? v : 0);
}

/* As order_text.c: derived amounts saturate rather than overflow. */
static int64_t sat_mul(int64_t a, int64_t b)
{
    int64_t r;
    if (!__builtin_mul_overflow(a, b, &r)) return r;
    return (a < 0) != (b < 0) ? INT64_MIN : INT64_MAX;
}

/* Upvalue 1 is the view's state, then the keys, then the elements'
 * metatable (a push of an upvalue, where a lookup in the registry cost 175
 * instructions an element: tests/bench/policy_bench.c under callgrind). */
#define KEY_UPV(k) lua_upvalueindex(2 + (k))
#define ELEM_MT_UPV lua_upvalueindex(2 + K_COUNT)

static void key(lua_State *L, int k)
{
    lua_pushvalue(L, KEY_UPV(k));
}

/* t[k] = v for the table below the value just pushed, after key(): the
 * key and the value on top, the table under them. */
static void kstr(lua_State *L, int k, const char *v)
{
    key(L, k);
    lua_pushstring(L, v);
    lua_rawset(L, -3);
}

/* ---- lines and charges ----
 *
 * A hook that reads the lines reads a few fields of each (the deposit
 * rule: the mode, three quantities and the price), and building each line
 * whole cost more than the rest of the call: two tables of 12 and 3 to 5
 * keys a line, some 1,200 instructions a table with its share of the
 * collector, and 200 a field (callgrind, tests/bench/policy_bench.c). So
 * a line, its delivery or a charge is made holding only the few fields
 * every rule on it reads (line_eager and the like, below), with a
 * metatable of its own kind, like the order: a read of any other field
 * answers straight from the struct, without storing it (a field is read
 * once or twice, and storing would grow the table through 1, 2, 4, 8 and
 * 16 slots); a table field (a charge's shipment) is built whole on its
 * first read and stored, so that it is the same table on every read and
 * what the hook writes into it stays. A field the hook sets, or sets to
 * nil, stays as it set it; pairs() builds the fields not set and the
 * element is a plain table from then on (pairs on the order does that for
 * every line and charge). Each element's record (which line, which keys
 * the hook set) is found by the table's address, as the order's is: an
 * element from an earlier call has no record in this one, and reading a
 * field of it raises the order's error. */

static const uint8_t delivery_keys[] = {K_MODE, K_ADDRESS, K_DATE, K_METHOD, K_STORE};
static const uint8_t line_keys[] = {K_LINE,          K_ITEM,     K_NAME,         K_QTY,
                                    K_UNIT_PRICE,    K_DELIVERY, K_QTY_INVOICED, K_QTY_RETURNED,
                                    K_QTY_CANCELLED, K_TAX,      K_AMOUNT,       K_STATUS};
static const uint8_t charge_keys[] = {K_CODE,    K_KIND,   K_AMOUNT, K_TAX,     K_INVOICED,
                                      K_INVOICE, K_WAIVED, K_MANUAL, K_SHIPMENT};
static const uint8_t customer_keys[] = {K_ACCOUNT, K_NAME, K_B2B};
#define NKEYS(a) (sizeof a / sizeof a[0])

/* The fields stored in an element when it is made, not read through the
 * metatable: what the rules on the open value of a line (SPEC P1 and F6:
 * ordered minus invoiced minus cancelled, times the price, for ship and
 * pickup lines) and on shipping charges read of every line and charge,
 * so what the default rules spelled out in Lua read (a read through the
 * metatable costs some 600 instructions, a field stored 200). A line's
 * delivery is stored too, so that it is the same table on every read. */
static const uint8_t line_eager[] = {K_QTY, K_UNIT_PRICE, K_QTY_INVOICED, K_QTY_CANCELLED,
                                     K_DELIVERY};
static const uint8_t charge_eager[] = {K_CODE, K_KIND, K_AMOUNT, K_INVOICED};
static const uint8_t delivery_eager[] = {K_MODE};
/* The customer: what the rules read (SPEC P1: no deposit from a B2B
 * customer); its account and name are two strings to intern, a third of
 * a tax hook's call, for hooks that seldom read them. */
static const uint8_t customer_eager[] = {K_B2B};

/* Each kind's keys, in order_write's order, and those stored when made. */
static const struct {
    const uint8_t *keys, *eager;
    uint8_t n, neager;
} kinds[] = {
    [EL_LINE] = {line_keys, line_eager, NKEYS(line_keys), NKEYS(line_eager)},
    [EL_CHARGE] = {charge_keys, charge_eager, NKEYS(charge_keys), NKEYS(charge_eager)},
    [EL_DELIVERY] = {delivery_keys, delivery_eager, NKEYS(delivery_keys), NKEYS(delivery_eager)},
    [EL_CUSTOMER] = {customer_keys, customer_eager, NKEYS(customer_keys), NKEYS(customer_eager)},
};

/* Which keys each kind has (1u << K_...), for elem_key. */
static uint32_t key_mask(int kind)
{
    uint32_t m = 0;
    for (size_t j = 0; j < kinds[kind].n; j++)
        m |= 1u << kinds[kind].keys[j];
    return m;
}

/* Called from the metamethods only (the keys are their upvalues). The
 * fields of a line's delivery, as order_write writes them: the address,
 * date and method of a ship line, the date and store of a pickup line. */
static int push_delivery_field(lua_State *L, const order_line *l, int k)
{
    bool ship = l->mode == MODE_SHIP, pickup = l->mode == MODE_PICKUP;
    const char *v;
    switch (k) {
    case K_MODE:
        key(L, ship ? K_SHIP : pickup ? K_PICKUP : K_CARRYOUT);
        return 1;
    case K_ADDRESS:
        v = ship ? l->address : "";
        break;
    case K_DATE:
        v = ship || pickup ? l->date : "";
        break;
    case K_METHOD:
        v = ship ? l->method : "";
        break;
    case K_STORE:
        v = pickup ? l->store : "";
        break;
    default:
        return 0;
    }
    if (!*v) return 0;
    lua_pushstring(L, v);
    return 1;
}

static void push_elem_new(lua_State *L, pvw_state *s, int kind, size_t i);

/* Pushes field k of a line; 0 (nothing pushed) when the view has none. */
static int push_line_field(lua_State *L, pvw_state *s, size_t i, int k)
{
    const order_line *l = &s->o->lines.v[i];
    switch (k) {
    case K_LINE:
        lua_pushinteger(L, (lua_Integer)l->line);
        return 1;
    case K_ITEM:
        lua_pushstring(L, l->item);
        return 1;
    case K_NAME:
        lua_pushstring(L, l->name);
        return 1;
    case K_QTY:
        lua_pushinteger(L, (lua_Integer)l->qty);
        return 1;
    case K_UNIT_PRICE:
        lua_pushinteger(L, (lua_Integer)l->unit_price);
        return 1;
    case K_DELIVERY:
        push_elem_new(L, s, EL_DELIVERY, i);
        return 1;
    case K_QTY_INVOICED:
        lua_pushinteger(L, (lua_Integer)l->qty_invoiced);
        return 1;
    case K_QTY_RETURNED:
        lua_pushinteger(L, (lua_Integer)l->qty_returned);
        return 1;
    case K_QTY_CANCELLED:
        lua_pushinteger(L, (lua_Integer)l->qty_cancelled);
        return 1;
    case K_TAX:
        lua_pushinteger(L, (lua_Integer)(l->tax > 0 ? l->tax : 0));
        return 1;
    case K_AMOUNT:
        lua_pushinteger(L, (lua_Integer)sat_mul(l->unit_price, l->qty));
        return 1;
    case K_STATUS:
        lua_pushstring(L, order_line_status(l));
        return 1;
    }
    return 0;
}

static int push_charge_field(lua_State *L, const order_charge *c, int k)
{
    switch (k) {
    case K_CODE:
        lua_pushstring(L, c->code);
        return 1;
    case K_KIND:
        lua_pushstring(L, c->kind);
        return 1;
    case K_AMOUNT:
        lua_pushinteger(L, (lua_Integer)c->amount);
        return 1;
    case K_TAX:
        lua_pushinteger(L, (lua_Integer)(c->tax > 0 ? c->tax : 0));
        return 1;
    case K_INVOICED:
        lua_pushboolean(L, c->invoice != 0);
        return 1;
    case K_INVOICE:
        if (!c->invoice) return 0;
        lua_pushinteger(L, (lua_Integer)c->invoice);
        return 1;
    case K_WAIVED:
    case K_MANUAL:
        if (!(k == K_WAIVED ? c->waived : c->manual)) return 0;
        lua_pushboolean(L, 1);
        return 1;
    case K_SHIPMENT:
        if (!*c->address) return 0;
        lua_createtable(L, 0, 2);
        kstr(L, K_ADDRESS, c->address);
        kstr(L, K_DATE, c->date);
        return 1;
    }
    return 0;
}

/* The customer's fields, as order_write writes them. */
static int push_customer_field(lua_State *L, const order *o, int k)
{
    switch (k) {
    case K_ACCOUNT:
        lua_pushstring(L, o->customer);
        return 1;
    case K_NAME:
        lua_pushstring(L, o->customer_name);
        return 1;
    case K_B2B:
        lua_pushboolean(L, o->b2b);
        return 1;
    }
    return 0;
}

static int push_elem_field(lua_State *L, pvw_state *s, const pvw_elem *e, int k)
{
    switch (e->kind) {
    case EL_LINE:
        return push_line_field(L, s, e->i, k);
    case EL_CHARGE:
        return push_charge_field(L, &s->o->charges.v[e->i], k);
    case EL_CUSTOMER:
        return push_customer_field(L, s->o, k);
    default:
        return push_delivery_field(L, &s->o->lines.v[e->i], k);
    }
}

/* The element whole, as a plain table (an order too big for the records). */
static void push_elem_whole(lua_State *L, pvw_state *s, const pvw_elem *e)
{
    size_t n = kinds[e->kind].n;
    const uint8_t *keys = kinds[e->kind].keys;
    lua_createtable(L, 0, (int)n);
    for (size_t j = 0; j < n; j++) {
        key(L, keys[j]);
        if (push_elem_field(L, s, e, keys[j]))
            lua_rawset(L, -3);
        else
            lua_pop(L, 1);
    }
}

static uint32_t slot_of(const void *t)
{
    uint64_t h = ((uint64_t)(uintptr_t)t >> 4) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 40) & (PVW_SLOTS - 1);
}

/* The record of element table t in the current call, or NULL. */
static pvw_elem *elem_of(pvw_state *s, const void *t)
{
    if (!s->o) return NULL;
    for (uint32_t i = slot_of(t);; i = (i + 1) & (PVW_SLOTS - 1)) {
        const pvw_slot *sl = &s->slots[i];
        if (sl->gen != s->gen) return NULL;
        if (sl->t == t) return &s->elems[sl->elem];
    }
}

/* A record for the new element table t (an address seen before in this
 * call was a collected element's: its slot is taken over). */
static pvw_elem *elem_add(pvw_state *s, const void *t, int kind, size_t i)
{
    uint32_t j = slot_of(t);
    while (s->slots[j].gen == s->gen && s->slots[j].t != t)
        j = (j + 1) & (PVW_SLOTS - 1);
    pvw_elem *e = &s->elems[s->nelems];
    e->kind = (uint8_t)kind;
    e->i = (uint32_t)i;
    e->done = 0;
    s->slots[j] = (pvw_slot){t, s->gen, s->nelems++};
    return e;
}

/* A new element: an empty table with the elements' metatable while
 * records last, a whole table past them. */
static void push_elem_new(lua_State *L, pvw_state *s, int kind, size_t i)
{
    if (s->nelems < PVW_ELEMS - 1) { /* a line and its delivery */
        size_t n = kinds[kind].neager;
        const uint8_t *keys = kinds[kind].eager;
        lua_createtable(L, 0, (int)n);
        lua_pushvalue(L, ELEM_MT_UPV);
        lua_setmetatable(L, -2);
        pvw_elem *e = elem_add(s, lua_topointer(L, -1), kind, i);
        for (size_t j = 0; j < n; j++) {
            key(L, keys[j]);
            if (push_elem_field(L, s, e, keys[j]))
                lua_rawset(L, -3);
            else
                lua_pop(L, 1);
            e->done |= 1u << keys[j];
        }
    } else {
        pvw_elem e = {(uint8_t)kind, (uint32_t)i, 0};
        push_elem_whole(L, s, &e);
    }
}

/* The lines or the charges: a table of elements. */
static void push_elems(lua_State *L, pvw_state *s, int kind)
{
    const order *o = s->o;
    size_t n = kind == EL_LINE ? o->lines.n : o->charges.n;
    lua_createtable(L, (int)n, 0);
    luaL_checkstack(L, 8, "order lines");
    for (size_t i = 0; i < n; i++) {
        push_elem_new(L, s, kind, i);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

static uint32_t kslot_of(const char *k)
{
    uint64_t h = ((uint64_t)(uintptr_t)k >> 3) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 40) & (PVW_KSLOTS - 1);
}

/* The key id of the string at idx among the element's keys, or -1. Keys
 * are short strings, interned: the same bytes are the same address, so a
 * key is found by its address's hash (a scan of a line's 12 names cost
 * more than the rest of the lookup). */
static int elem_key(lua_State *L, pvw_state *s, int kind, int idx)
{
    if (lua_type(L, idx) != LUA_TSTRING) return -1;
    const char *k = lua_tostring(L, idx);
    for (uint32_t j = kslot_of(k); s->kslot[j]; j = (j + 1) & (PVW_KSLOTS - 1)) {
        int id = s->kslot[j] - 1;
        if (s->kp[id] == k) return s->kmask[kind] & (1u << id) ? id : -1;
    }
    return -1;
}

/* Builds the fields of element t (at idx) not set by the hook, and drops
 * its metatable: a plain table from then on, a line's delivery too. */
static void elem_settle(lua_State *L, pvw_state *s, pvw_elem *e, int idx)
{
    size_t n = kinds[e->kind].n;
    const uint8_t *keys = kinds[e->kind].keys;
    idx = lua_absindex(L, idx);
    for (size_t j = 0; j < n; j++) {
        if (e->done & (1u << keys[j])) continue;
        key(L, keys[j]);
        if (push_elem_field(L, s, e, keys[j]))
            lua_rawset(L, idx); /* absent: no __newindex */
        else
            lua_pop(L, 1);
        e->done |= 1u << keys[j];
    }
    lua_pushnil(L);
    lua_setmetatable(L, idx);
    if (e->kind != EL_LINE) return;
    key(L, K_DELIVERY);
    pvw_elem *d = lua_rawget(L, idx) == LUA_TTABLE ? elem_of(s, lua_topointer(L, -1)) : NULL;
    if (d && d != e && lua_getmetatable(L, -1)) { /* lazy still */
        lua_pop(L, 1);
        elem_settle(L, s, d, -1);
    }
    lua_pop(L, 1);
}

static void elem_stale(lua_State *L, int kidx)
{
    const char *k = lua_tostring(L, kidx);
    luaL_error(L,
               "a line's, delivery's, charge's or customer's %s: the order a hook gets can be "
               "read during "
               "its call only (keep the values it needs, not the order's tables)",
               k ? k : "?");
}

/* __index(t, k) of a line, a delivery, a charge or the customer. */
static int pel_index(lua_State *L)
{
    pvw_state *s = pvw_of(L);
    pvw_elem *e = elem_of(s, lua_topointer(L, 1));
    if (!e) {
        if (lua_type(L, 2) == LUA_TSTRING) elem_stale(L, 2);
        return 0;
    }
    int k = elem_key(L, s, e->kind, 2);
    if (k < 0 || (e->done & (1u << k))) return 0; /* unknown, or set to nil by the hook */
    if (!push_elem_field(L, s, e, k)) return 0;
    if (lua_type(L, -1) == LUA_TTABLE) { /* the same table on every read */
        lua_pushvalue(L, 2);
        lua_pushvalue(L, -2);
        lua_rawset(L, 1);
        e->done |= 1u << k;
    }
    return 1;
}

/* __newindex(t, k, v): a field the hook sets is its own from then on. */
static int pel_newindex(lua_State *L)
{
    pvw_state *s = pvw_of(L);
    pvw_elem *e = elem_of(s, lua_topointer(L, 1));
    int k = e ? elem_key(L, s, e->kind, 2) : -1;
    if (k >= 0) e->done |= 1u << k;
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 0;
}

static int pvw_next(lua_State *L);

/* __pairs(t): every field built first, then a plain walk. */
static int pel_pairs(lua_State *L)
{
    pvw_state *s = pvw_of(L);
    pvw_elem *e = elem_of(s, lua_topointer(L, 1));
    if (!e) {
        lua_pushliteral(L, "pairs");
        elem_stale(L, -1);
    }
    elem_settle(L, s, e, 1);
    lua_pushcfunction(L, pvw_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

/* The customer, lines and charges of the order at idx (as the hook left
 * them) made plain, for pairs on the order. */
/* Element table at the top of the stack made plain, if it still reads
 * through its metatable. */
static void elem_settle_top(lua_State *L, pvw_state *s)
{
    pvw_elem *e = lua_istable(L, -1) ? elem_of(s, lua_topointer(L, -1)) : NULL;
    if (e && lua_getmetatable(L, -1)) { /* not settled yet */
        lua_pop(L, 1);
        elem_settle(L, s, e, -1);
    }
}

static void elems_settle(lua_State *L, pvw_state *s, int idx)
{
    static const int fs[] = {F_LINES, F_CHARGES};
    lua_pushlstring(L, fields[F_CUSTOMER].name, fields[F_CUSTOMER].len);
    lua_rawget(L, idx);
    elem_settle_top(L, s);
    lua_pop(L, 1);
    for (int j = 0; j < 2; j++) {
        lua_pushlstring(L, fields[fs[j]].name, fields[fs[j]].len);
        if (lua_rawget(L, idx) == LUA_TTABLE) {
            lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
            for (lua_Integer i = 1; i <= n; i++) {
                lua_rawgeti(L, -1, i);
                elem_settle_top(L, s);
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
    }
}

static void push_invoices(lua_State *L, const order *o)
{
    lua_createtable(L, (int)o->invoices.n, 0);
    for (size_t i = 0; i < o->invoices.n; i++) {
        const order_invoice *inv = &o->invoices.v[i];
        lua_createtable(L, 0, 11);
        set_int(L, "id", inv->id);
        set_str(L, "kind", inv->kind);
        lua_createtable(L, (int)inv->lines.n, 0);
        for (size_t k = 0; k < inv->lines.n; k++) {
            const order_inv_line *il = &inv->lines.v[k];
            lua_createtable(L, 0, 5);
            set_int(L, "line", il->line);
            set_int(L, "qty", il->qty);
            set_int(L, "amount", il->amount);
            set_int(L, "qty_returned", il->qty_returned);
            set_tax(L, "tax", il->tax);
            lua_rawseti(L, -2, (lua_Integer)k + 1);
        }
        lua_setfield(L, -2, "lines");
        set_int(L, "charges", inv->charges);
        set_int(L, "amount", inv->amount);
        set_int(L, "deposit_applied", inv->deposit_applied);
        set_int(L, "paid", inv->paid);
        set_tax(L, "tax", inv->tax);
        set_str(L, "at", inv->at);
        set_opt(L, "tracking", inv->tracking);
        if (*inv->collector) {
            lua_createtable(L, 0, 3);
            set_str(L, "name", inv->collector);
            set_bool(L, "id_checked", inv->id_checked);
            set_opt(L, "id_ref", inv->id_ref);
            lua_setfield(L, -2, "collected_by");
        }
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

static void push_returns(lua_State *L, const order *o)
{
    lua_createtable(L, (int)o->returns.n, 0);
    for (size_t i = 0; i < o->returns.n; i++) {
        const order_return *r = &o->returns.v[i];
        lua_createtable(L, 0, 9);
        set_int(L, "id", r->id);
        set_int(L, "invoice", r->invoice);
        lua_createtable(L, (int)r->lines.n, 0);
        for (size_t k = 0; k < r->lines.n; k++) {
            const order_ret_line *rl = &r->lines.v[k];
            lua_createtable(L, 0, 5);
            set_int(L, "line", rl->line);
            set_int(L, "qty", rl->qty);
            set_int(L, "amount", rl->amount);
            set_tax(L, "tax", rl->tax);
            set_str(L, "reason", rl->reason);
            lua_rawseti(L, -2, (lua_Integer)k + 1);
        }
        lua_setfield(L, -2, "lines");
        set_int(L, "product_refund", r->product_refund);
        set_int(L, "shipping_refund", r->shipping_refund);
        set_tax(L, "tax_refund", r->tax_refund);
        set_int(L, "refund", order_return_refund(o, r));
        set_str(L, "at", r->at);
        set_opt(L, "approved_by", r->approved_by);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

static void push_payments(lua_State *L, const order *o)
{
    lua_createtable(L, (int)o->payments.n, 0);
    for (size_t i = 0; i < o->payments.n; i++) {
        const order_payment *p = &o->payments.v[i];
        lua_createtable(L, 0, 5);
        set_str(L, "tender", p->tender);
        set_int(L, "amount", p->amount);
        set_str(L, "op", p->op);
        set_str(L, "at", p->at);
        set_opt(L, "ref", p->ref);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

static void push_refunds(lua_State *L, const order *o)
{
    lua_createtable(L, (int)o->refunds.n, 0);
    for (size_t i = 0; i < o->refunds.n; i++) {
        const order_refund *r = &o->refunds.v[i];
        lua_createtable(L, 0, 5);
        set_str(L, "kind", r->kind);
        set_str(L, "tender", r->tender);
        set_int(L, "amount", r->amount);
        set_str(L, "at", r->at);
        set_opt(L, "ref", r->ref);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

static void push_contacts(lua_State *L, const order *o)
{
    lua_createtable(L, (int)o->contacts.n, 0);
    for (size_t i = 0; i < o->contacts.n; i++) {
        lua_createtable(L, 0, 2);
        set_str(L, "name", o->contacts.v[i].name);
        set_opt(L, "phone", o->contacts.v[i].phone);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* The sums once per view; NULL when they overflow (order_write then leaves
 * out the totals and the deposit base). */
static const order_sums *sums_of(pvw_state *s)
{
    if (s->summed < 0) s->summed = order_sum(s->o, &s->sums) ? 1 : 0;
    return s->summed ? &s->sums : NULL;
}

/* Pushes field f of the order (nil when order_write leaves it out). */
static void push_field(lua_State *L, pvw_state *s, int f)
{
    const order *o = s->o;
    const order_sums *sm;
    switch (f) {
    case F_NUMBER:
        lua_pushstring(L, o->number);
        return;
    case F_STORE:
        lua_pushstring(L, o->store);
        return;
    case F_TYPE:
        lua_pushstring(L, o->type);
        return;
    case F_VERSION:
        lua_pushinteger(L, (lua_Integer)o->version);
        return;
    case F_CURRENCY:
        lua_pushstring(L, o->currency);
        return;
    case F_CREATED_AT:
        lua_pushstring(L, o->created_at);
        return;
    case F_POLICY_VERSION:
        lua_pushstring(L, o->policy_version);
        return;
    case F_CREATED_BY:
    case F_QUOTE_EXPIRES: {
        const char *v = f == F_CREATED_BY ? o->created_by : o->quote_expires;
        if (*v)
            lua_pushstring(L, v);
        else
            lua_pushnil(L);
        return;
    }
    case F_PRICES_INCLUDE_TAX:
        lua_pushboolean(L, o->tax_included);
        return;
    case F_CUSTOMER:
        if (!*o->customer) {
            lua_pushnil(L);
            return;
        }
        push_elem_new(L, s, EL_CUSTOMER, 0);
        return;
    case F_DEPOSIT:
        lua_createtable(L, 0, 4);
        set_int(L, "required", o->deposit_required);
        set_bool(L, "overridden", o->deposit_overridden);
        set_opt(L, "override_by", o->override_by);
        if ((sm = sums_of(s))) set_int(L, "base", sm->deposit_base);
        return;
    case F_LINES:
        push_elems(L, s, EL_LINE);
        return;
    case F_CHARGES:
        push_elems(L, s, EL_CHARGE);
        return;
    case F_INVOICES:
        push_invoices(L, o);
        return;
    case F_RETURNS:
        push_returns(L, o);
        return;
    case F_PAYMENTS:
        push_payments(L, o);
        return;
    case F_REFUNDS:
        push_refunds(L, o);
        return;
    case F_PICKUP_CONTACTS:
        push_contacts(L, o);
        return;
    case F_HOLD:
        if (!*o->hold.code) {
            lua_pushnil(L);
            return;
        }
        lua_createtable(L, 0, 4);
        set_str(L, "code", o->hold.code);
        set_opt(L, "note", o->hold.note);
        set_str(L, "by", o->hold.by);
        set_str(L, "at", o->hold.at);
        return;
    case F_STATUS:
        lua_pushstring(L, order_status(o));
        return;
    case F_TOTALS:
        if (!(sm = sums_of(s))) {
            lua_pushnil(L);
            return;
        }
        lua_createtable(L, 0, 6);
        set_int(L, "lines", sm->lines);
        set_int(L, "charges", sm->charges);
        set_int(L, "tax", sm->tax);
        set_int(L, "returned", sm->returned);
        set_int(L, "order", sm->order);
        set_int(L, "open", sm->open_value);
        return;
    case F_PAID:
    case F_REFUNDED:
    case F_ON_ACCOUNT:
    case F_BALANCE:
        if (!(sm = sums_of(s))) {
            lua_pushnil(L);
            return;
        }
        lua_pushinteger(L, f == F_PAID         ? sm->paid
                           : f == F_REFUNDED   ? sm->refunded
                           : f == F_ON_ACCOUNT ? sm->on_account
                                               : sm->balance);
        return;
    case F_SYNC:
        lua_createtable(L, 0, 4);
        set_str(L, "state", o->sync_state);
        set_int(L, "attempts", o->sync_attempts);
        set_opt(L, "hq_order", o->hq_order);
        set_opt(L, "error", o->sync_error);
        return;
    default:
        lua_pushnil(L);
    }
}

/* ---- the metatable ---- */

/* A view whose every field is built is a plain table from then on. */
static void settle(lua_State *L, pvw_state *s, int t)
{
    uint32_t all = (1u << F_COUNT) - 1;
    if ((s->done & all) == all) {
        lua_pushnil(L);
        lua_setmetatable(L, t);
    }
}

/* Whether t is the view of the call in progress. By address: only a view
 * has this metatable, and a view kept from an earlier call is alive, so no
 * other view can share the current one's address (one collected can no
 * longer be read). Cheaper than keeping it in the registry to compare. */
static bool is_current(lua_State *L, pvw_state *s, int t)
{
    return s->o && lua_topointer(L, t) == s->cur;
}

/* Raises unless t is the view of the call in progress. */
static void check_current(lua_State *L, pvw_state *s, int t, const char *k)
{
    if (!is_current(L, s, t))
        luaL_error(L,
                   "order.%s: the order a hook gets can be read during its call only (keep the "
                   "values it needs, not the order table)",
                   k);
}

/* __index(t, k): only for fields not in t, i.e. not built yet or set to
 * nil by the hook. */
static int pvw_index(lua_State *L)
{
    pvw_state *s = pvw_of(L);
    size_t len;
    const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &len) : NULL;
    int f = k ? field_of(k, len) : -1;
    if (f < 0) return 0;
    check_current(L, s, 1, k);
    if (s->done & (1u << f)) return 0; /* set to nil by the hook */
    push_field(L, s, f);               /* this and the rawset may raise (memory): mark after */
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, 1);
    s->done |= 1u << f;
    settle(L, s, 1);
    return 1;
}

/* __newindex(t, k, v): a field the hook sets is its own from then on. */
static int pvw_newindex(lua_State *L)
{
    pvw_state *s = pvw_of(L);
    size_t len;
    const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &len) : NULL;
    int f = k ? field_of(k, len) : -1;
    if (f >= 0 && is_current(L, s, 1)) s->done |= 1u << f;
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 0;
}

static int pvw_next(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    if (lua_next(L, 1)) return 2;
    lua_pushnil(L);
    return 1;
}

/* __pairs(t): every field built first, then a plain walk. */
static int pvw_pairs(lua_State *L)
{
    pvw_state *s = pvw_of(L);
    check_current(L, s, 1, "pairs");
    for (int f = 0; f < F_COUNT; f++) {
        if (s->done & (1u << f)) continue;
        lua_pushlstring(L, fields[f].name, fields[f].len);
        push_field(L, s, f);
        lua_rawset(L, 1); /* the field is absent: no __newindex */
        s->done |= 1u << f;
    }
    settle(L, s, 1);
    elems_settle(L, s, 1);
    lua_pushcfunction(L, pvw_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static const char pvw_mt_key = 'm';

/* Fills the metatable at mt with functions that share the view's state,
 * the keys and the elements' metatable (at emt). */
static void fill_mt(lua_State *L, int mt, int ud, int emt, const luaL_Reg *fns)
{
    luaL_checkstack(L, K_COUNT + 3, "order view");
    lua_pushvalue(L, mt);
    lua_pushvalue(L, ud);
    for (int k = 0; k < K_COUNT; k++)
        lua_pushstring(L, key_names[k]);
    lua_pushvalue(L, emt);
    luaL_setfuncs(L, fns, 2 + K_COUNT);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
}

void pvw_install(lua_State *L)
{
    pvw_state *s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    int ud = lua_gettop(L);
    static const luaL_Reg fns[] = {
        {"__index", pvw_index}, {"__newindex", pvw_newindex}, {"__pairs", pvw_pairs}, {NULL, NULL}};
    static const luaL_Reg efns[] = {
        {"__index", pel_index}, {"__newindex", pel_newindex}, {"__pairs", pel_pairs}, {NULL, NULL}};
    lua_createtable(L, 0, 4); /* the order's metatable */
    lua_createtable(L, 0, 4); /* the elements' */
    fill_mt(L, ud + 1, ud, ud + 2, fns);
    fill_mt(L, ud + 2, ud, ud + 2, efns);
    lua_pop(L, 1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &pvw_mt_key);
    /* The keys' bytes, for elem_key: the metatables' upvalues keep the
     * strings, and short strings are interned, so the address is the key. */
    for (int k = 0; k < K_COUNT; k++) {
        lua_pushstring(L, key_names[k]);
        s->kp[k] = lua_tostring(L, -1);
        lua_pop(L, 1);
        uint32_t j = kslot_of(s->kp[k]);
        while (s->kslot[j])
            j = (j + 1) & (PVW_KSLOTS - 1);
        s->kslot[j] = (uint8_t)(k + 1);
    }
    for (int kind = EL_LINE; kind < EL_KINDS; kind++)
        s->kmask[kind] = key_mask(kind);
    /* the data lives as long as the state: the functions hold it */
    psb_of(L)->view = s;
    lua_pop(L, 1);
}

static pvw_state *pvw_state_of(lua_State *L)
{
    return psb_of(L)->view;
}

void pvw_push_order(lua_State *L, const order *o)
{
    pvw_state *s = pvw_state_of(L);
    s->o = o;
    s->summed = -1;
    s->done = 0;
    s->nelems = 0;
    if (++s->gen == 0) { /* wrapped: no slot may look current */
        memset(s->slots, 0, sizeof s->slots);
        s->gen = 1;
    }
    lua_createtable(L, 0, 4);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &pvw_mt_key);
    lua_setmetatable(L, -2);
    s->cur = lua_topointer(L, -1);
}

void pvw_end(lua_State *L)
{
    pvw_state *s = pvw_state_of(L);
    if (!s->o) return;
    s->o = NULL;
    s->cur = NULL;
}
