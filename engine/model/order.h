/* order.h: the order document (SPEC section 4) and what is derived from it.
 *
 * An order is held as plain C structs while a flow works on it, stored as
 * one JSON document (order_to_json(o, ORDER_DOC)) and shown to clients as the
 * order object of PROTOCOL.md (ORDER_WIRE), which adds what is
 * derived: line amounts and statuses, totals, paid, refunded, on_account,
 * balance. Derived values are never stored, so they cannot drift. The
 * stored document is also kept small (every version is written once, and
 * a common order's row should fit three to a page): it leaves out
 * quantities while 0 and lists while empty, which the reader takes as 0
 * and empty.
 *
 * How large an order may grow (README "Limits of an order"): every list in
 * it grows with requests (each edit may add lines, each pickup, ship, return
 * or payment adds entries), and the whole document travels to HQ as one
 * upload event, which must fit HQ's 1 MiB line together with the rest of
 * its batch. So an order holds at most ORDER_MAX_LINES lines, cancelled ones
 * included (numbers are never reused), and its stored document at most
 * ORDER_MAX_DOC_BYTES; the second bounds every other list (invoices,
 * returns, payments, refunds, charges) as well. Every fixed-size text field
 * below holds whole whatever the requests may put into it (the flows refuse
 * longer text), so a document the engine writes always reads back. */
#ifndef CORDER_ORDER_H
#define CORDER_ORDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/err.h"
#include "model/jsonw.h"

/* Lines in one order, cancelled ones included. 500 is ten times a large
 * real order (a fit-out, a B2B restock), the most one request could already
 * name, and about 94 KB of document at ~190 bytes a line: room left under
 * ORDER_MAX_DOC_BYTES for the invoices, returns and payments of such an
 * order. */
#define ORDER_MAX_LINES 500
/* Bytes of the stored document (ORDER_DOC). An upload batch closes once it
 * passes 512 KiB, so a batch is at most 512 KiB plus one document plus
 * envelopes: 256 KiB keeps that under HQ's 1 MiB line, and the order's log
 * entry and answer stay small beside it. */
#define ORDER_MAX_DOC_BYTES (256 * 1024)
/* A line's quantity (and what is invoiced, returned, cancelled of it). */
#define ORDER_MAX_QTY 1000000

#define VEC(T)                                                                                     \
    struct {                                                                                       \
        T *v;                                                                                      \
        size_t n, cap;                                                                             \
    }
/* Appends a zeroed item and returns it (NULL when out of memory). */
#define vec_push(vec)                                                                              \
    (order_vec_grow((void **)&(vec).v, &(vec).cap, (vec).n + 1, sizeof *(vec).v)                   \
         ? &(vec).v[(vec).n++]                                                                     \
         : NULL)
bool order_vec_grow(void **v, size_t *cap, size_t want, size_t size);

typedef enum { MODE_SHIP, MODE_PICKUP, MODE_CARRYOUT } order_mode;

typedef struct {
    int line;
    char item[64];
    char name[128];
    int64_t qty;
    int64_t unit_price; /* locked at creation (F3) */
    order_mode mode;
    char address[64]; /* ship */
    char date[11];    /* ship, pickup */
    char method[64];  /* ship, optional */
    char store[32];   /* pickup */
    int64_t qty_invoiced, qty_returned, qty_cancelled;
    /* T1: the tax of the whole line (qty × unit_price), decided when the
     * line is made and when its qty or delivery changes; -1 while not yet
     * decided. What its invoices took and its returns gave back of it. */
    int64_t tax, tax_invoiced, tax_returned;
} order_line;

typedef struct {
    char code[32];
    char kind[16]; /* "shipping" or "cancellation" */
    int64_t amount;
    int invoice;                /* the invoice that carries it, 0 while not invoiced */
    bool waived;                /* a shipping charge not owed after a cancel (F6) */
    bool manual;                /* typed by the clerk (F1) */
    char address[64], date[11]; /* the shipment of a shipping charge */
    int64_t tax;                /* T1; -1 while not yet decided */
} order_charge;

typedef struct {
    int line;
    int64_t qty, amount, qty_returned; /* amount: what the customer pays, tax included (T2) */
    int64_t tax;
} order_inv_line;

typedef struct {
    int id;
    char kind[16]; /* carryout, pickup, ship, cancellation */
    VEC(order_inv_line) lines;
    int64_t charges; /* sum of the charges it carries, tax included */
    int64_t amount, deposit_applied, paid;
    int64_t tax; /* of its lines and charges (T2) */
    char at[32];
    char tracking[64];
    /* F9: who collected a pickup, when recorded ("" = not recorded) */
    char collector[128];
    bool id_checked;
    char id_ref[64];
} order_invoice;

typedef struct {
    int line;
    int64_t qty, amount; /* amount: unit_price × qty, as entered */
    int64_t tax;         /* T3: the returned quantity's tax */
    char reason[128];
} order_ret_line;

typedef struct {
    int id, invoice;
    VEC(order_ret_line) lines;
    int64_t product_refund, shipping_refund;
    int64_t tax_refund; /* T3; part of the refund only when prices exclude tax */
    char at[32];
    char approved_by[32];
} order_return;

typedef struct {
    char tender[32];
    int64_t amount;
    char ref[64];
    char op[32];
    char at[32];
} order_payment;

/* F9: someone the customer names to collect (at most ORDER_MAX_CONTACTS). */
#define ORDER_MAX_CONTACTS 5
typedef struct {
    char name[128];
    char phone[64];
} order_contact;

/* F10: an order on hold ("" code = not held). */
typedef struct {
    char code[32];
    char note[256];
    char by[32];
    char at[32];
} order_hold;

/* R1: money paid back, to one tender. Documents written before R1 have no
 * tender: they read as "" (the tender was not recorded). */
typedef struct {
    char kind[16]; /* cancellation, return, excess */
    char tender[32];
    int64_t amount;
    char ref[64];
    char at[32];
} order_refund;

typedef struct {
    char number[48];
    char store[32];
    char type[8]; /* order | quote */
    bool cancelled;
    char customer[64]; /* "" for cash-and-carry */
    char customer_name[128];
    bool b2b;
    char currency[8];
    char created_at[32];
    char created_by[32];
    char quote_expires[11];
    int64_t version;
    int64_t deposit_required;
    bool deposit_overridden;
    char override_by[32];
    char policy_version[72];
    /* T1: prices include tax; locked from the policy when the order is made */
    bool tax_included;
    int next_line, next_invoice, next_return;
    VEC(order_line) lines;
    VEC(order_charge) charges;
    VEC(order_invoice) invoices;
    VEC(order_return) returns;
    VEC(order_payment) payments;
    VEC(order_refund) refunds;
    VEC(order_contact) contacts; /* F9 pickup_contacts */
    order_hold hold;             /* F10 */
    /* C5: the store that may change it; "" means its own store (the
     * stored document leaves it out until a claim moves it) */
    char owner[32];
    /* kept in columns, not in the document */
    char sync_state[16], hq_order[64], sync_error[256];
    int64_t sync_attempts;
} order;

/* Sums derived from the document (PROTOCOL.md "The order object"). */
typedef struct {
    int64_t lines, charges, tax, returned, order; /* totals */
    int64_t paid, refunded, invoiced, on_account, balance;
    int64_t deposit_base; /* SPEC P1 */
    int64_t open_value;   /* open quantities of ship and pickup lines, as entered */
    int64_t open_tax;     /* their tax */
} order_sums;

order *order_new(void);
void order_free(order *o);

int64_t order_line_open(const order_line *l);
/* T1–T3. The tax of q units of a line, in proportion to the line's tax
 * (rounded per M2); the tax of its quantity not cancelled and not yet
 * invoiced; what the customer pays for q units (tax on top when prices
 * exclude it); a charge's gross amount; a return's refund. */
int64_t order_line_tax_for(const order_line *l, int64_t q);
/* The tax of a line's quantity not cancelled (what totals count), and
 * what of it no invoice has taken yet. */
int64_t order_line_kept_tax(const order_line *l);
int64_t order_line_open_tax(const order_line *l);
int64_t order_gross(const order *o, int64_t amount, int64_t tax);
int64_t order_return_refund(const order *o, const order_return *r);
const char *order_line_status(const order_line *l);
const char *order_status(const order *o);
const char *order_mode_name(order_mode m);

/* false on overflow (SPEC M4). */
bool order_sum(const order *o, order_sums *s);

/* The three faces of an order: the stored document; the order object of
 * PROTOCOL.md, where `customer` is the account; and the order as policies
 * see it (POLICY.md), the same object with `customer` as a table {account,
 * name, b2b}. */
typedef enum { ORDER_DOC, ORDER_WIRE, ORDER_POLICY } order_view;
json_t *order_to_json(const order *o, order_view view);
/* The same as JSON text (order_text.c): malloc'd, NUL-terminated; or
 * written into a larger text. */
char *order_text(const order *o, order_view view, size_t *len);
void order_write(jsonw *w, const order *o, order_view view);
void order_write_invoice(jsonw *w, const order_invoice *inv, bool pub);
/* The list of the stored document that takes the most bytes ("lines",
 * "charges", "invoices", "returns", "payments" or "refunds"), and how many
 * (*bytes): what to name when a document is over ORDER_MAX_DOC_BYTES. */
const char *order_doc_largest(const order *o, size_t *bytes);

/* Reads a stored document; NULL on a malformed one (not an object, or a
 * quantity outside 0..ORDER_MAX_QTY). */
order *order_from_json(json_t *doc, err_t *err);

order_line *order_find_line(order *o, int line);
order_invoice *order_find_invoice(order *o, int id);

#endif
