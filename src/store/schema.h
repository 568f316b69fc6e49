/* The database file's checks at open and its versioned schema. Internal to
 * src/store; the thread that opens the store. */
#ifndef FC_STORE_SCHEMA_H
#define FC_STORE_SCHEMA_H

#include <stddef.h>

#include <sqlite3.h>

/* On a connection just opened on `path`: refuses a file that is not a
 * database, is corrupt, breaks its foreign keys, belongs to another program
 * or comes from a newer framecast; switches to WAL with synchronous=FULL and
 * foreign keys on; migrates the schema to the newest version in one write
 * transaction (which also proves the file writable). 0 or a negative errno
 * with err naming the path and the problem. */
int fc_store_schema_prepare(sqlite3 *db, const char *path, char *err, size_t errlen);

#endif
