/* SQLite results as framecast errors: a negative errno and a message that
 * names the database file, what was being done and SQLite's (and the OS's)
 * reason. Internal to src/store; any thread, for a connection it is using. */
#ifndef FC_STORE_SQL_H
#define FC_STORE_SQL_H

#include <stddef.h>

#include <sqlite3.h>

/* The errno for SQLite result code `rc` (an extended code): -EEXIST for a
 * duplicate key, -EINVAL for another constraint, -EBUSY, -ENOSPC, -EROFS,
 * -EACCES, -ENOMEM, -EBADMSG for a corrupt file or not a database, else
 * -EIO. */
int fc_sql_errno(int rc);

/* Writes "PATH: WHAT: REASON" into err and returns fc_sql_errno(rc), or the
 * OS's errno when a file could not be opened or read. */
int fc_sql_fail(sqlite3 *db, int rc, const char *path, const char *what, char *err, size_t errlen);

#endif
