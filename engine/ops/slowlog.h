/* slowlog.h: the slow-request log (corder.slowlog() in the console): the
 * last SLOWLOG_MAX requests whose own run took at least the threshold. */
#ifndef CORDER_SLOWLOG_H
#define CORDER_SLOWLOG_H

#include <jansson.h>
#include <stdint.h>

#define SLOWLOG_MAX 128
#define SLOWLOG_DEFAULT_MS 50

/* The threshold in milliseconds (0: every request); any thread. */
void slowlog_set_threshold(int64_t ms);
int64_t slowlog_threshold(void);
/* Records one request that took us microseconds, if that is slow. */
void slowlog_note(const char *op, const char *code, int64_t us, const char *order,
                  const char *store, const char *staff);
/* {threshold_ms, entries: [{op, ms, code, order?, store, staff, at}, ...]}
 * newest first; any thread. */
json_t *slowlog_get(void);
void slowlog_clear(void);

#endif
